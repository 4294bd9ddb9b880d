// torchvision.models.resnet18/34/50 with torchvision's child names, construction order (so the
// same seed draws the same initial weights) and state_dict keys (conv1.weight ... fc.bias).
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn';
import * as F from '../nn/functional';
import { Tensor } from '../tensor';
import { int, options } from '../arguments';
import { runLayers, torchvisionInit } from './layers';
import { modelFactory, weightsFile } from './weights';

export interface ResNetOptions {
  numClasses?: number;
}

function conv3x3(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false });
}

function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

/** The residual tail of both blocks: out += identity (downsampled when given), then ReLU. */
async function residual(out: Tensor, x: Tensor, downsample: Sequential | null, relu: ReLU): Promise<Tensor> {
  const identity = downsample ? await downsample.forward(x) : x;
  const sum = await F.add_(out, identity);
  out.dispose();
  if (identity !== x) identity.dispose();
  const y = await relu.forward(sum);
  if (y !== sum) sum.dispose();
  return y;
}

/** Two 3x3 convolutions and the identity (resnet18/34). */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, stride = 1, downsample: Sequential | null = null) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(inPlanes, planes, stride));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    const out = await runLayers(x, [this.conv1, this.bn1, this.relu, this.conv2, this.bn2]);
    return residual(out, x, this.downsample, this.relu);
  }
}

/** 1x1, 3x3 (carrying the stride) and 1x1 convolutions and the identity (resnet50, torchvision's V1.5). */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, stride = 1, downsample: Sequential | null = null) {
    super();
    const width = planes;
    this.conv1 = this.registerModule('conv1', conv1x1(inPlanes, width));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.conv2 = this.registerModule('conv2', conv3x3(width, width, stride));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width));
    this.conv3 = this.registerModule('conv3', conv1x1(width, planes * Bottleneck.expansion));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * Bottleneck.expansion));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    const out = await runLayers(x, [this.conv1, this.bn1, this.relu, this.conv2, this.bn2, this.relu, this.conv3, this.bn3]);
    return residual(out, x, this.downsample, this.relu);
  }
}

type Block = typeof BasicBlock | typeof Bottleneck;

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  #fc!: Module;
  #inPlanes = 64;

  constructor(block: Block, layers: [number, number, number, number], opts: ResNetOptions = {}, where = 'models.resnet') {
    super();
    const numClasses = int(where, 'numClasses', options(where, opts).numClasses ?? 1000, 1);
    this.conv1 = this.registerModule('conv1', new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.layer1 = this.registerModule('layer1', this.makeLayer(block, 64, layers[0]));
    this.layer2 = this.registerModule('layer2', this.makeLayer(block, 128, layers[1], 2));
    this.layer3 = this.registerModule('layer3', this.makeLayer(block, 256, layers[2], 2));
    this.layer4 = this.registerModule('layer4', this.makeLayer(block, 512, layers[3], 2));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.fc = new Linear(512 * block.expansion, numClasses);
    torchvisionInit(this, { linear: false });
  }

  /** The classifier; assigning replaces it, as `model.fc = nn.Linear(512, 2)` does in PyTorch. */
  get fc(): Module {
    return this.#fc;
  }

  set fc(head: Module) {
    this.#fc = this.registerModule('fc', head);
  }

  // torchvision's _make_layer: the downsample path is built before the first block.
  private makeLayer(block: Block, planes: number, blocks: number, stride = 1): Sequential {
    const outPlanes = planes * block.expansion;
    const downsample = stride !== 1 || this.#inPlanes !== outPlanes
      ? new Sequential(conv1x1(this.#inPlanes, outPlanes, stride), new BatchNorm2d(outPlanes)) : null;
    const layer = new Sequential(new block(this.#inPlanes, planes, stride, downsample));
    this.#inPlanes = outPlanes;
    for (let i = 1; i < blocks; i++) layer.append(new block(this.#inPlanes, planes));
    return layer;
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    const features = await runLayers(x, [this.conv1, this.bn1, this.relu, this.maxpool,
      this.layer1, this.layer2, this.layer3, this.layer4, this.avgpool]);
    const flat = features.flatten(1);
    features.dispose();
    const out = await this.fc.forward(flat);
    flat.dispose();
    return out;
  }
}

const head = ['fc.weight', 'fc.bias'];

/** A randomly initialised ResNet-18; `.pretrained(...)` loads torchvision's IMAGENET1K_V1 weights or a file. */
export const resnet18 = modelFactory<ResNet, ResNetOptions>({ name: 'resnet18', head, weights: weightsFile('https://download.pytorch.org/models/resnet18-f37072fd.pth') },
  (opts: ResNetOptions = {}) => new ResNet(BasicBlock, [2, 2, 2, 2], opts, 'models.resnet18'));

/** ResNet-34; DEFAULT weights: torchvision's IMAGENET1K_V1. */
export const resnet34 = modelFactory<ResNet, ResNetOptions>({ name: 'resnet34', head, weights: weightsFile('https://download.pytorch.org/models/resnet34-b627a593.pth') },
  (opts: ResNetOptions = {}) => new ResNet(BasicBlock, [3, 4, 6, 3], opts, 'models.resnet34'));

/** ResNet-50; DEFAULT weights: torchvision's IMAGENET1K_V2, its default since 0.13. */
export const resnet50 = modelFactory<ResNet, ResNetOptions>({ name: 'resnet50', head, weights: weightsFile('https://download.pytorch.org/models/resnet50-11ad3fa6.pth') },
  (opts: ResNetOptions = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], opts, 'models.resnet50'));
