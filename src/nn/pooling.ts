import { Tensor } from '../tensor';
import { bool, intTuple, options } from '../arguments';
import * as F from './functional';
import { Module } from './module';

export interface MaxPool2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;

  constructor(kernelSize: number | [number, number], opts: MaxPool2dOptions = {}) {
    super();
    const where = 'nn.MaxPool2d';
    const o = options(where, opts);
    this.kernelSize = intTuple(where, 'kernelSize', kernelSize, 2, 1) as [number, number];
    this.stride = intTuple(where, 'stride', o.stride ?? this.kernelSize, 2, 1) as [number, number];
    this.padding = intTuple(where, 'padding', o.padding ?? 0, 2, 0) as [number, number];
    this.dilation = intTuple(where, 'dilation', o.dilation ?? 1, 2, 1) as [number, number];
    this.ceilMode = bool(where, 'ceilMode', o.ceilMode ?? false);
  }

  forward(input: Tensor): Promise<Tensor> {
    return F.maxPool2d(input, this.kernelSize, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode,
    });
  }

  protected extraRepr(): string {
    return `kernelSize=[${this.kernelSize}], stride=[${this.stride}], padding=[${this.padding}]`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];

  constructor(outputSize: number | [number, number]) {
    super();
    this.outputSize = intTuple('nn.AdaptiveAvgPool2d', 'outputSize', outputSize, 2, 1) as [number, number];
  }

  forward(input: Tensor): Promise<Tensor> {
    return F.adaptiveAvgPool2d(input, this.outputSize);
  }

  protected extraRepr(): string {
    return `outputSize=[${this.outputSize}]`;
  }
}
