import { Tensor } from '../tensor';
import { int, invalid } from '../arguments';
import { Module } from './module';

export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = int('nn.Flatten', 'startDim', startDim);
    this.endDim = int('nn.Flatten', 'endDim', endDim);
  }

  forward(input: Tensor): Tensor {
    if (!(input instanceof Tensor)) throw invalid('nn.Flatten.forward', 'input', 'Tensor', input);
    return input.flatten(this.startDim, this.endDim);
  }

  protected extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }
}
