// torchvision.models.vgg11_bn and vgg16 with torchvision's child indices, so state_dict keys match
// (features.0.weight ... classifier.6.bias).
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn';
import { Tensor } from '../tensor';
import { finite, int, options } from '../arguments';
import { classify, torchvisionInit } from './layers';
import { modelFactory, weightsFile } from './weights';

export interface VGGOptions {
  numClasses?: number;
  dropout?: number;
}

// torchvision's cfgs: channel counts, 'M' a 2x2 max pool.
const CFG_A: (number | 'M')[] = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'];
const CFG_D: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

function makeLayers(cfg: (number | 'M')[], batchNorm: boolean): Sequential {
  const layers = new Sequential();
  let inChannels = 3;
  for (const v of cfg) {
    if (v === 'M') {
      layers.append(new MaxPool2d(2, { stride: 2 }));
      continue;
    }
    layers.append(new Conv2d(inChannels, v, 3, { padding: 1 }));
    if (batchNorm) layers.append(new BatchNorm2d(v));
    layers.append(new ReLU({ inplace: true }));
    inChannels = v;
  }
  return layers;
}

export class VGG extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;

  constructor(features: Sequential, opts: VGGOptions = {}, where = 'models.vgg') {
    super();
    const o = options(where, opts);
    const numClasses = int(where, 'numClasses', o.numClasses ?? 1000, 1);
    const p = finite(where, 'dropout', o.dropout ?? 0.5, 0, 1);
    this.features = this.registerModule('features', features);
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([7, 7]));
    this.classifier = this.registerModule('classifier', new Sequential(
      new Linear(512 * 7 * 7, 4096), new ReLU({ inplace: true }), new Dropout(p),
      new Linear(4096, 4096), new ReLU({ inplace: true }), new Dropout(p),
      new Linear(4096, numClasses),
    ));
    torchvisionInit(this, { linear: true });
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    return classify(x, this.features, (t) => this.avgpool.forward(t), this.classifier);
  }
}

const head = ['classifier.6.weight', 'classifier.6.bias'];

/** VGG-11 with batch norm; DEFAULT weights: torchvision's IMAGENET1K_V1. */
export const vgg11_bn = modelFactory<VGG, VGGOptions>({ name: 'vgg11_bn', head, weights: weightsFile('https://download.pytorch.org/models/vgg11_bn-6002323d.pth') },
  (opts: VGGOptions = {}) => new VGG(makeLayers(CFG_A, true), opts, 'models.vgg11_bn'));

/** VGG-16; DEFAULT weights: torchvision's IMAGENET1K_V1. */
export const vgg16 = modelFactory<VGG, VGGOptions>({ name: 'vgg16', head, weights: weightsFile('https://download.pytorch.org/models/vgg16-397923af.pth') },
  (opts: VGGOptions = {}) => new VGG(makeLayers(CFG_D, false), opts, 'models.vgg16'));
