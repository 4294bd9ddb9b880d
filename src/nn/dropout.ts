import { Tensor } from '../tensor';
import { finite } from '../arguments';
import * as F from './functional';
import { Module } from './module';

/** Zeroes elements with probability p in training mode (scaling the rest by 1/(1-p)); identity in eval. */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    this.p = finite('nn.Dropout', 'p', p, 0, 1);
  }

  forward(input: Tensor): Promise<Tensor> {
    return F.dropout(input, this.p, this.training);
  }

  protected extraRepr(): string {
    return `p=${this.p}`;
  }
}
