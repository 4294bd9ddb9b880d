// `.pretrained()` for the torchvision architectures: their ImageNet weights from PyTorch's cache
// (downloaded there when missing, checked against the SHA-256 prefix in the file name), or a path.
import * as fs from 'fs';
import * as path from 'path';
import { TorchError } from '../errors';
import { checkpointsDir, downloadUrlToFile } from '../io/hub';
import { load } from '../io/serialization';
import { initDeferred } from '../nn/init';
import { LoadStateDictResult, Module } from '../nn/module';
import { Tensor } from '../tensor';
import { int, invalid, options } from '../arguments';

/** A torchvision weights file: where torchvision downloads it from and its name in the cache. */
export interface WeightsFile {
  url: string;
  file: string;
  sha256Prefix: string;
}

/** torchvision's URL, with the file name and hash prefix it implies. */
export function weightsFile(url: string): WeightsFile {
  const file = url.slice(url.lastIndexOf('/') + 1);
  return { url, file, sha256Prefix: /-([a-f0-9]+)\./.exec(file)![1] };
}

export interface ModelPretrainedOptions {
  /** 'DEFAULT' (torchvision's default ImageNet weights from PyTorch's cache, downloaded if missing) or a path. */
  weights: 'DEFAULT' | string;
  /** Classes of the new head; anything but 1000 keeps a fresh classifier and skips the checkpoint's. */
  numClasses?: number;
  /** Mirror to download 'DEFAULT' from instead of download.pytorch.org. */
  downloadUrl?: string;
  /** Receives what was loaded and skipped. */
  onLoad?: (result: LoadStateDictResult) => void;
}

export interface Architecture<M extends Module> {
  name: string;
  weights: WeightsFile;
  build: (numClasses: number) => M;
  /** The state_dict keys of the ImageNet classifier, left out when numClasses is not 1000. */
  head: string[];
}

/** Builds `arch` with random weights (off the JS thread) and loads the checkpoint into it. */
export async function loadPretrained<M extends Module>(arch: Architecture<M>, opts: ModelPretrainedOptions): Promise<M> {
  const where = `models.${arch.name}.pretrained`;
  const o = options(where, opts);
  if (typeof o.weights !== 'string' || o.weights === '') throw invalid(where, 'weights', "'DEFAULT' or a path", o.weights);
  const numClasses = int(where, 'numClasses', o.numClasses ?? 1000, 1);
  let file = o.weights;
  if (o.weights === 'DEFAULT') {
    file = path.join(checkpointsDir(), arch.weights.file);
    if (!fs.existsSync(file)) {
      await downloadUrlToFile(o.downloadUrl ?? arch.weights.url, file, { hashPrefix: arch.weights.sha256Prefix });
    }
  }
  const stateDict = await load(file);
  const entries = stateDict instanceof Map ? stateDict : null;
  if (!entries || ![...entries.values()].every((v) => v instanceof Tensor)) {
    throw new TorchError(`${where}: ${file} does not hold a state_dict (a mapping of names to tensors)`, 'BAD_FILE');
  }
  const model = await initDeferred(() => arch.build(numClasses));
  const skip = numClasses === 1000 ? [] : [...arch.head];
  // Checkpoints from before PyTorch 0.4.1 have no num_batches_tracked; PyTorch keeps the module's
  // own (0) for them, and so does this.
  for (const [key] of model.namedBuffers()) {
    if (key.endsWith('.num_batches_tracked') && !entries.has(key)) skip.push(key);
  }
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

/** `models.<name>(opts)` with `.pretrained(...)`, `.defaultWeightsPath()` and `.weights`, as models.alexnet. */
export function modelFactory<M extends Module, O extends { numClasses?: number }>(arch: Omit<Architecture<M>, 'build'>, make: (opts: O) => M) {
  const withBuild: Architecture<M> = { ...arch, build: (numClasses) => make({ numClasses } as O) };
  return Object.assign((opts: O = {} as O): M => make(opts), {
    pretrained: (opts: ModelPretrainedOptions): Promise<M> => loadPretrained(withBuild, opts),
    /** The path 'DEFAULT' resolves to: $TORCH_HOME/hub/checkpoints/<torchvision's file name>. */
    defaultWeightsPath: (): string => path.join(checkpointsDir(), arch.weights.file),
    weights: arch.weights,
  });
}
