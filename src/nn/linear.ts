import { Device } from '../runtime';
import { Dtype, empty, Tensor } from '../tensor';
import { bool, int, options } from '../arguments';
import * as F from './functional';
import { defaultLayerInit } from './init';
import { Module } from './module';

export interface LinearOptions {
  bias?: boolean;
  device?: Device;
  dtype?: Dtype;
}

/** y = x W^T + b, initialised like torch.nn.Linear. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    const where = 'nn.Linear';
    const o = options(where, opts);
    this.inFeatures = int(where, 'inFeatures', inFeatures, 0);
    this.outFeatures = int(where, 'outFeatures', outFeatures, 0);
    const hasBias = o.bias === undefined ? true : bool(where, 'bias', o.bias);
    const factory = { device: o.device, dtype: o.dtype };
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures], factory))!;
    this.bias = this.registerParameter('bias', hasBias ? empty([outFeatures], factory) : null);
    defaultLayerInit(this.weight, this.bias);
  }

  forward(input: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    return F.linear(input, this.weight, this.bias ?? undefined);
  }

  protected extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}
