import { Tensor } from '../tensor';
import { bool, int, invalid, options } from '../arguments';
import * as F from './functional';
import { Module } from './module';

export class ReLU extends Module {
  readonly inplace: boolean;

  constructor(opts: { inplace?: boolean } = {}) {
    super();
    this.inplace = bool('nn.ReLU', 'inplace', options('nn.ReLU', opts).inplace ?? false);
  }

  forward(input: Tensor): Promise<Tensor> {
    return F.relu(input, this.inplace);
  }

  protected extraRepr(): string {
    return this.inplace ? 'inplace=true' : '';
  }
}

/** min(max(0, x), 6), as torch.nn.ReLU6 (a Hardtanh(0, 6)). */
export class ReLU6 extends Module {
  readonly inplace: boolean;

  constructor(opts: { inplace?: boolean } = {}) {
    super();
    this.inplace = bool('nn.ReLU6', 'inplace', options('nn.ReLU6', opts).inplace ?? false);
  }

  forward(input: Tensor): Promise<Tensor> {
    return F.relu6(input, this.inplace);
  }

  protected extraRepr(): string {
    return this.inplace ? 'inplace=true' : '';
  }
}

let warnedImplicitDim = false;

/** Softmax over `dim`. Without `dim` it warns and picks PyTorch's legacy choice (1 for 2-D input). */
export class Softmax extends Module {
  readonly dim: number | undefined;

  constructor(opts: { dim?: number } = {}) {
    super();
    const o = options('nn.Softmax', opts);
    this.dim = o.dim === undefined ? undefined : int('nn.Softmax', 'dim', o.dim);
  }

  forward(input: Tensor): Promise<Tensor> {
    if (!(input instanceof Tensor)) return Promise.reject(invalid('nn.Softmax.forward', 'input', 'Tensor', input));
    let dim = this.dim;
    if (dim === undefined) {
      if (!warnedImplicitDim) {
        warnedImplicitDim = true;
        process.emitWarning('Implicit dimension choice for softmax has been deprecated. Pass { dim } explicitly.', 'TorchWarning');
      }
      const nd = input.ndim;
      dim = nd === 0 || nd === 1 || nd === 3 ? 0 : 1;
    }
    return F.softmax(input, dim);
  }

  protected extraRepr(): string {
    return this.dim === undefined ? '' : `dim=${this.dim}`;
  }
}
