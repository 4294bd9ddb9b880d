// torchvision.models.mobilenet_v2 (width 1.0) with torchvision's child names, so state_dict keys
// match (features.0.0.weight ... features.1.conv.0.0.weight ... classifier.1.bias).
import { BatchNorm2d, Conv2d, Dropout, Linear, Module, ReLU6, Sequential } from '../nn';
import * as F from '../nn/functional';
import { Tensor } from '../tensor';
import { finite, int, options } from '../arguments';
import { classify, torchvisionInit } from './layers';
import { modelFactory, weightsFile } from './weights';

export interface MobileNetV2Options {
  numClasses?: number;
  dropout?: number;
}

/** torchvision.ops.Conv2dNormActivation with BatchNorm2d and ReLU6: children 0 (conv), 1 (bn), 2 (act). */
function convBnReLU6(inChannels: number, outChannels: number, kernelSize = 3, stride = 1, groups = 1): Sequential {
  const padding = Math.floor((kernelSize - 1) / 2);
  return new Sequential(
    new Conv2d(inChannels, outChannels, kernelSize, { stride, padding, groups, bias: false }),
    new BatchNorm2d(outChannels),
    new ReLU6({ inplace: true }),
  );
}

/** Expand (1x1), depthwise 3x3 (groups = channels), project (1x1, linear); residual when shapes allow. */
export class InvertedResidual extends Module {
  readonly conv: Sequential;
  readonly useResConnect: boolean;

  constructor(inp: number, oup: number, stride: number, expandRatio: number) {
    super();
    const hidden = Math.round(inp * expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(convBnReLU6(inp, hidden, 1));
    layers.push(convBnReLU6(hidden, hidden, 3, stride, hidden), new Conv2d(hidden, oup, 1, { bias: false }), new BatchNorm2d(oup));
    this.conv = this.registerModule('conv', new Sequential(...layers));
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    const out = await this.conv.forward(x);
    if (!this.useResConnect) return out;
    // torchvision computes x + conv(x); adding x into conv(x)'s fresh buffer gives the same bits.
    const sum = await F.add_(out, x);
    out.dispose();
    return sum;
  }
}

// t (expansion), c (channels), n (repeats), s (first stride)
const SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];

export class MobileNetV2 extends Module {
  readonly features: Sequential;
  readonly classifier: Sequential;
  readonly lastChannel = 1280;

  constructor(opts: MobileNetV2Options = {}) {
    super();
    const where = 'models.mobilenet_v2';
    const o = options(where, opts);
    const numClasses = int(where, 'numClasses', o.numClasses ?? 1000, 1);
    const p = finite(where, 'dropout', o.dropout ?? 0.2, 0, 1);
    let inputChannel = 32;
    const features: Module[] = [convBnReLU6(3, inputChannel, 3, 2)];
    for (const [t, c, n, s] of SETTING) {
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(inputChannel, c, i === 0 ? s : 1, t));
        inputChannel = c;
      }
    }
    features.push(convBnReLU6(inputChannel, this.lastChannel, 1));
    this.features = this.registerModule('features', new Sequential(...features));
    this.classifier = this.registerModule('classifier', new Sequential(new Dropout(p), new Linear(this.lastChannel, numClasses)));
    torchvisionInit(this, { linear: true });
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    return classify(x, this.features, (t) => F.adaptiveAvgPool2d(t, [1, 1]), this.classifier);
  }
}

/** MobileNetV2; DEFAULT weights: torchvision's IMAGENET1K_V2, its default since 0.13. */
export const mobilenet_v2 = modelFactory<MobileNetV2, MobileNetV2Options>({ name: 'mobilenet_v2', head: ['classifier.1.weight', 'classifier.1.bias'],
  weights: weightsFile('https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth') },
(opts: MobileNetV2Options = {}) => new MobileNetV2(opts));
