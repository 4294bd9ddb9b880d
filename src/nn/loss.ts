import { Tensor } from '../tensor';
import { finite, int, invalid, oneOf, options } from '../arguments';
import * as F from './functional';
import { Module } from './module';

export interface CrossEntropyLossOptions {
  weight?: Tensor;
  ignoreIndex?: number;
  reduction?: F.Reduction;
  labelSmoothing?: number;
}

/** log_softmax + negative log likelihood over class logits, like torch.nn.CrossEntropyLoss. */
export class CrossEntropyLoss extends Module {
  readonly ignoreIndex: number;
  readonly reduction: F.Reduction;
  readonly labelSmoothing: number;

  constructor(opts: CrossEntropyLossOptions = {}) {
    super();
    const where = 'nn.CrossEntropyLoss';
    const o = options(where, opts);
    if (o.weight !== undefined && !(o.weight instanceof Tensor)) throw invalid(where, 'weight', 'Tensor', o.weight);
    this.registerBuffer('weight', o.weight ?? null);
    this.ignoreIndex = int(where, 'ignoreIndex', o.ignoreIndex ?? -100);
    this.reduction = oneOf(where, 'reduction', o.reduction ?? 'mean', F.REDUCTIONS);
    this.labelSmoothing = finite(where, 'labelSmoothing', o.labelSmoothing ?? 0, 0, 1);
  }

  forward(input: Tensor, target: Tensor): Promise<Tensor> {
    const weight = this.buffers()[0];
    return F.crossEntropy(input, target, {
      weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction, labelSmoothing: this.labelSmoothing,
    });
  }

  protected extraRepr(): string {
    return `reduction='${this.reduction}'`;
  }
}
