// torchvision.models.alexnet with the exact child names and indices, so state_dict keys match
// torchvision's (features.0.weight ... classifier.6.bias).
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn';
import { Tensor } from '../tensor';
import { finite, int, options } from '../arguments';
import { classify } from './layers';
import { ModelPretrainedOptions, modelFactory, weightsFile } from './weights';

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
    return classify(x, this.features, (t) => this.avgpool.forward(t), this.classifier);
  }
}

export const ALEXNET_WEIGHTS = weightsFile('https://download.pytorch.org/models/alexnet-owt-7be5be79.pth');

/** What `alexnet.pretrained()` takes (the same for every architecture). */
export type PretrainedOptions = ModelPretrainedOptions;

/** A randomly initialised AlexNet; `alexnet.pretrained(...)` loads weights (asynchronously). */
export const alexnet = modelFactory<AlexNet, AlexNetOptions>(
  { name: 'alexnet', head: ['classifier.6.weight', 'classifier.6.bias'], weights: ALEXNET_WEIGHTS },
  (opts: AlexNetOptions = {}) => new AlexNet(opts),
);
