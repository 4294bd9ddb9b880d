import { Device } from '../runtime';
import { Dtype, empty, Tensor } from '../tensor';
import { TorchError } from '../errors';
import { bool, int, intTuple, options } from '../arguments';
import * as F from './functional';
import { defaultLayerInit } from './init';
import { Module } from './module';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
  device?: Device;
  dtype?: Dtype;
}

/** 2-D convolution over NCHW input, initialised like torch.nn.Conv2d. */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], opts: Conv2dOptions = {}) {
    super();
    const where = 'nn.Conv2d';
    const o = options(where, opts);
    this.inChannels = int(where, 'inChannels', inChannels, 1);
    this.outChannels = int(where, 'outChannels', outChannels, 1);
    this.kernelSize = intTuple(where, 'kernelSize', kernelSize, 2, 1) as [number, number];
    this.stride = intTuple(where, 'stride', o.stride ?? 1, 2, 1) as [number, number];
    this.padding = intTuple(where, 'padding', o.padding ?? 0, 2, 0) as [number, number];
    this.dilation = intTuple(where, 'dilation', o.dilation ?? 1, 2, 1) as [number, number];
    this.groups = int(where, 'groups', o.groups ?? 1, 1);
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new TorchError(`${where}: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`, 'INVALID_ARGUMENT');
    }
    const hasBias = o.bias === undefined ? true : bool(where, 'bias', o.bias);
    const factory = { device: o.device, dtype: o.dtype };
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / this.groups, ...this.kernelSize], factory))!;
    this.bias = this.registerParameter('bias', hasBias ? empty([outChannels], factory) : null);
    defaultLayerInit(this.weight, this.bias);
  }

  forward(input: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    return F.conv2d(input, this.weight, this.bias ?? undefined, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
    });
  }

  protected extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}], stride=[${this.stride}], padding=[${this.padding}]`;
  }
}
