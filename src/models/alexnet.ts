// torchvision.models.alexnet with the exact child names and indices, so state_dict keys match
// torchvision's (features.0.weight ... classifier.6.bias).
import * as fs from 'fs';
import * as path from 'path';
import { TorchError } from '../errors';
import { checkpointsDir, downloadUrlToFile } from '../io/hub';
import { load } from '../io/serialization';
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn';
import { initDeferred } from '../nn/init';
import { LoadStateDictResult } from '../nn/module';
import { Tensor } from '../tensor';
import { finite, int, invalid, options } from '../arguments';

export interface AlexNetOptions {
  numClasses?: number;
  dropout?: number;
}

export class AlexNet extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;

  constructor(opts: AlexNetOptions = {}) {
    super();
    const where = 'models.alexnet';
    const o = options(where, opts);
    const numClasses = int(where, 'numClasses', o.numClasses ?? 1000, 1);
    const p = finite(where, 'dropout', o.dropout ?? 0.5, 0, 1);
    const relu = () => new ReLU({ inplace: true });
    this.features = this.registerModule('features', new Sequential(
      new Conv2d(3, 64, 11, { stride: 4, padding: 2 }), relu(), new MaxPool2d(3, { stride: 2 }),
      new Conv2d(64, 192, 5, { padding: 2 }), relu(), new MaxPool2d(3, { stride: 2 }),
      new Conv2d(192, 384, 3, { padding: 1 }), relu(),
      new Conv2d(384, 256, 3, { padding: 1 }), relu(),
      new Conv2d(256, 256, 3, { padding: 1 }), relu(), new MaxPool2d(3, { stride: 2 }),
    ));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([6, 6]));
    this.classifier = this.registerModule('classifier', new Sequential(
      new Dropout(p), new Linear(256 * 6 * 6, 4096), relu(),
      new Dropout(p), new Linear(4096, 4096), relu(),
      new Linear(4096, numClasses),
    ));
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    const features = await this.features.forward(x);
    const pooled = await this.avgpool.forward(features);
    features.dispose();
    const flat = pooled.flatten(1);
    pooled.dispose();
    const out = await this.classifier.forward(flat);
    flat.dispose();
    return out;
  }
}

export const ALEXNET_WEIGHTS = {
  url: 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth',
  file: 'alexnet-owt-7be5be79.pth',
  sha256Prefix: '7be5be79',
};

export interface PretrainedOptions {
  /** 'DEFAULT' (torchvision's ImageNet weights from PyTorch's cache, downloaded if missing) or a path. */
  weights: 'DEFAULT' | string;
  /** Classes of the new head; anything but 1000 keeps a fresh classifier.6 and skips the checkpoint's. */
  numClasses?: number;
  /** Mirror to download 'DEFAULT' from instead of download.pytorch.org. */
  downloadUrl?: string;
  /** Receives what was loaded and skipped. */
  onLoad?: (result: LoadStateDictResult) => void;
}

/** The path 'DEFAULT' resolves to: $TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth. */
export function defaultWeightsPath(): string {
  return path.join(checkpointsDir(), ALEXNET_WEIGHTS.file);
}

async function pretrained(opts: PretrainedOptions): Promise<AlexNet> {
  const where = 'models.alexnet.pretrained';
  const o = options(where, opts);
  if (typeof o.weights !== 'string' || o.weights === '') throw invalid(where, 'weights', "'DEFAULT' or a path", o.weights);
  const numClasses = int(where, 'numClasses', o.numClasses ?? 1000, 1);
  let file = o.weights;
  if (o.weights === 'DEFAULT') {
    file = defaultWeightsPath();
    if (!fs.existsSync(file)) {
      await downloadUrlToFile(o.downloadUrl ?? ALEXNET_WEIGHTS.url, file, { hashPrefix: ALEXNET_WEIGHTS.sha256Prefix });
    }
  }
  const stateDict = await load(file);
  const entries = stateDict instanceof Map ? stateDict : null;
  if (!entries || ![...entries.values()].every((v) => v instanceof Tensor)) {
    throw new TorchError(`${where}: ${file} does not hold a state_dict (a mapping of names to tensors)`, 'BAD_FILE');
  }
  const model = await initDeferred(() => new AlexNet({ numClasses })); // 61 M random draws, off the JS thread
  const skip = numClasses === 1000 ? [] : ['classifier.6.weight', 'classifier.6.bias'];
  try {
    const result = await model.loadStateDict(entries as Map<string, Tensor>, { skip });
    o.onLoad?.(result);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    for (const t of entries.values()) (t as Tensor).dispose();
  }
  return model;
}

/** A randomly initialised AlexNet; `alexnet.pretrained(...)` loads weights (asynchronously). */
export const alexnet = Object.assign((opts: AlexNetOptions = {}): AlexNet => new AlexNet(opts), { pretrained, defaultWeightsPath });
