import { AdmitStep, native, TensorHandle } from '../native';
import { Tensor } from '../tensor';
import { TorchError } from '../errors';
import { bool, finite } from '../arguments';
import { adoptStateTensor, Optimizer, ParamGroup, ParamGroupInput } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
  /** One multithreaded native pass per parameter, equal to the default path up to float rounding.
   * CPU float32 contiguous tensors only; others take the default path. */
  fused: boolean;
}

interface SGDState {
  momentumBuffer: Tensor;
}

/** torch.optim.SGD with momentum, dampening, weight decay and Nesterov; `lr` is required, as in PyTorch 1.13. */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: Iterable<Tensor> | ParamGroupInput<SGDOptions>[], opts: Partial<SGDOptions> & { lr: number }) {
    super('optim.SGD', params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, fused: false, ...(opts ?? {}) } as SGDOptions);
  }

  protected validateOptions(o: SGDOptions): SGDOptions {
    const w = this.where;
    finite(w, 'lr', o.lr, 0);
    finite(w, 'momentum', o.momentum, 0);
    finite(w, 'dampening', o.dampening);
    finite(w, 'weightDecay', o.weightDecay, 0);
    bool(w, 'nesterov', o.nesterov);
    bool(w, 'maximize', o.maximize);
    bool(w, 'fused', o.fused);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new TorchError(`${w}: Nesterov momentum requires a momentum and zero dampening`, 'INVALID_ARGUMENT');
    }
    return { lr: o.lr, momentum: o.momentum, dampening: o.dampening, weightDecay: o.weightDecay, nesterov: o.nesterov, maximize: o.maximize, fused: o.fused };
  }

  protected groupToPython(g: ParamGroup<SGDOptions>): Record<string, unknown> {
    return {
      lr: g.lr, momentum: g.momentum, dampening: g.dampening, weight_decay: g.weightDecay, nesterov: g.nesterov,
      maximize: g.maximize, foreach: null, differentiable: false, ...(g.fused ? { fused: true } : {}),
    };
  }

  protected groupFromPython(g: Record<string, unknown>): Partial<SGDOptions> {
    return { lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weight_decay, nesterov: g.nesterov, maximize: g.maximize ?? false, fused: g.fused ?? false } as Partial<SGDOptions>;
  }

  protected stateToPython(s: SGDState): Record<string, Tensor | number> {
    return { momentum_buffer: s.momentumBuffer.detach() };
  }

  protected stateFromPython(s: Record<string, unknown>, param: Tensor): SGDState {
    return { momentumBuffer: adoptStateTensor(`${this.where}.loadStateDict`, 'momentum_buffer', s.momentum_buffer, param) };
  }

  protected runStep(admit: AdmitStep): Promise<(TensorHandle | undefined)[][]> {
    return native.sgdStep(this.stepGroups((g, states) => ({
      state: { momentumBuffers: states.map((s) => this.heldState(s?.momentumBuffer, 'momentum_buffer')) },
      options: {
        lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weightDecay, nesterov: g.nesterov, maximize: g.maximize, fused: g.fused,
      },
    })), admit);
  }

  protected adoptState(param: Tensor, created: (TensorHandle | undefined)[], i: number): void {
    const [momentumBuffer] = this.createdState(created, i, 1);
    if (momentumBuffer) this.state.set(param, { momentumBuffer });
  }
}
