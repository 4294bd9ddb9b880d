import { AdmitStep, native, TensorHandle } from '../native';
import { Tensor } from '../tensor';
import { bool, finite } from '../arguments';
import { adoptStateTensor, Optimizer, ParamGroup, ParamGroupInput, readStep, stepTensor } from './optimizer';

export interface RMSpropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
  /** One multithreaded native pass per parameter instead of PyTorch's op-by-op arithmetic, rounded
   * as the op-by-op path (torchbridge's own: torch.optim.RMSprop has no fused flag). CPU float32
   * contiguous tensors only; others take the default path. */
  fused: boolean;
}

interface RMSpropState {
  step: number;
  squareAvg: Tensor;
  momentumBuffer?: Tensor;
  gradAvg?: Tensor;
}

/** torch.optim.RMSprop (momentum, centered, weight decay), bitwise the linked PyTorch version's CPU results, fused or not. */
export class RMSprop extends Optimizer<RMSpropOptions, RMSpropState> {
  constructor(params: Iterable<Tensor> | ParamGroupInput<RMSpropOptions>[], opts: Partial<RMSpropOptions> = {}) {
    super('optim.RMSprop', params, {
      lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, fused: false, ...opts,
    });
  }

  protected validateOptions(o: RMSpropOptions): RMSpropOptions {
    const w = this.where;
    finite(w, 'lr', o.lr, 0);
    finite(w, 'alpha', o.alpha, 0);
    finite(w, 'eps', o.eps, 0);
    finite(w, 'weightDecay', o.weightDecay, 0);
    finite(w, 'momentum', o.momentum, 0);
    bool(w, 'centered', o.centered);
    bool(w, 'maximize', o.maximize);
    bool(w, 'fused', o.fused);
    return {
      lr: o.lr, alpha: o.alpha, eps: o.eps, weightDecay: o.weightDecay, momentum: o.momentum, centered: o.centered,
      maximize: o.maximize, fused: o.fused,
    };
  }

  protected groupToPython(g: ParamGroup<RMSpropOptions>): Record<string, unknown> {
    return {
      lr: g.lr, momentum: g.momentum, alpha: g.alpha, eps: g.eps, centered: g.centered, weight_decay: g.weightDecay,
      capturable: false, foreach: null, maximize: g.maximize, differentiable: false, ...(g.fused ? { fused: true } : {}),
    };
  }

  protected groupFromPython(g: Record<string, unknown>): Partial<RMSpropOptions> {
    return {
      lr: g.lr, alpha: g.alpha, eps: g.eps, weightDecay: g.weight_decay, momentum: g.momentum ?? 0, centered: g.centered ?? false,
      maximize: g.maximize ?? false, fused: g.fused ?? false,
    } as Partial<RMSpropOptions>;
  }

  protected stateToPython(s: RMSpropState): Record<string, Tensor | number> {
    const out: Record<string, Tensor | number> = { step: stepTensor(s.step), square_avg: s.squareAvg.detach() };
    if (s.momentumBuffer) out.momentum_buffer = s.momentumBuffer.detach();
    if (s.gradAvg) out.grad_avg = s.gradAvg.detach();
    return out;
  }

  protected stateFromPython(s: Record<string, unknown>, param: Tensor): RMSpropState {
    const w = `${this.where}.loadStateDict`;
    const state: RMSpropState = { step: readStep(w, s.step), squareAvg: adoptStateTensor(w, 'square_avg', s.square_avg, param) };
    if (s.momentum_buffer !== undefined) state.momentumBuffer = adoptStateTensor(w, 'momentum_buffer', s.momentum_buffer, param);
    if (s.grad_avg !== undefined) state.gradAvg = adoptStateTensor(w, 'grad_avg', s.grad_avg, param);
    return state;
  }

  protected runStep(admit: AdmitStep): Promise<(TensorHandle | undefined)[][]> {
    return native.rmspropStep(this.stepGroups((g, states) => ({
      state: {
        squareAvgs: states.map((s) => this.heldState(s?.squareAvg, 'square_avg')),
        gradAvgs: states.map((s) => (g.centered ? this.heldState(s?.gradAvg, 'grad_avg') : undefined)),
        momentumBuffers: states.map((s) => (g.momentum > 0 ? this.heldState(s?.momentumBuffer, 'momentum_buffer') : undefined)),
      },
      options: {
        lr: g.lr, alpha: g.alpha, eps: g.eps, weightDecay: g.weightDecay, momentum: g.momentum, centered: g.centered,
        maximize: g.maximize, fused: g.fused,
      },
    })), admit);
  }

  protected adoptState(param: Tensor, created: (TensorHandle | undefined)[], i: number): void {
    const [squareAvg, gradAvg, momentumBuffer] = this.createdState(created, i, 3);
    const s = this.state.get(param) ?? { step: 0, squareAvg: squareAvg! };
    if (gradAvg) s.gradAvg = gradAvg;
    if (momentumBuffer) s.momentumBuffer = momentumBuffer;
    s.step += 1;
    this.state.set(param, s);
  }
}
