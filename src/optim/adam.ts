import { AdmitStep, native, TensorHandle } from '../native';
import { Tensor } from '../tensor';
import { bool, finite, invalid } from '../arguments';
import { adoptStateTensor, Optimizer, ParamGroup, ParamGroupInput, readStep, stepTensor } from './optimizer';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** AdamW's weight decay (PyTorch 2.x's flag): `param *= 1 - lr * weightDecay` before the update,
   * instead of adding `weightDecay * param` to the gradient. */
  decoupledWeightDecay: boolean;
  /** One multithreaded native pass per parameter instead of PyTorch's op-by-op arithmetic: several
   * times less memory traffic, rounded as the op-by-op path (PyTorch 2.x has the same flag). CPU
   * float32 contiguous tensors only; others take the default path. */
  fused: boolean;
}

export type AdamWOptions = Omit<AdamOptions, 'decoupledWeightDecay'>;

interface AdamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq?: Tensor;
}

/**
 * torch.optim.Adam (L2 weight decay added to the gradient, or AdamW's decoupled decay with
 * `decoupledWeightDecay`), bitwise the linked PyTorch version's CPU results, fused or not.
 */
export class Adam extends Optimizer<AdamOptions, AdamState> {
  constructor(params: Iterable<Tensor> | ParamGroupInput<AdamOptions>[], opts: Partial<AdamOptions> = {}) {
    super(`optim.${new.target.name}`, params, {
      lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, decoupledWeightDecay: false, fused: false, ...opts,
    });
  }

  protected validateOptions(o: AdamOptions): AdamOptions {
    const w = this.where;
    finite(w, 'lr', o.lr, 0);
    finite(w, 'eps', o.eps, 0);
    finite(w, 'weightDecay', o.weightDecay, 0);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) throw invalid(w, 'betas', 'array of 2 numbers in [0, 1)', o.betas);
    finite(w, 'betas[0]', o.betas[0], 0, 1);
    finite(w, 'betas[1]', o.betas[1], 0, 1);
    if (o.betas[0] === 1 || o.betas[1] === 1) throw invalid(w, 'betas', 'numbers in [0, 1)', o.betas);
    bool(w, 'amsgrad', o.amsgrad);
    bool(w, 'maximize', o.maximize);
    bool(w, 'decoupledWeightDecay', o.decoupledWeightDecay);
    bool(w, 'fused', o.fused);
    return {
      lr: o.lr, betas: [o.betas[0], o.betas[1]], eps: o.eps, weightDecay: o.weightDecay, amsgrad: o.amsgrad, maximize: o.maximize,
      decoupledWeightDecay: o.decoupledWeightDecay, fused: o.fused,
    };
  }

  protected groupToPython(g: ParamGroup<AdamOptions>): Record<string, unknown> {
    return {
      lr: g.lr, betas: [...g.betas], eps: g.eps, weight_decay: g.weightDecay, amsgrad: g.amsgrad, maximize: g.maximize,
      foreach: null, capturable: false, differentiable: false, fused: g.fused, decoupled_weight_decay: g.decoupledWeightDecay,
    };
  }

  protected groupFromPython(g: Record<string, unknown>): Partial<AdamOptions> {
    return {
      lr: g.lr, betas: g.betas, eps: g.eps, weightDecay: g.weight_decay, amsgrad: g.amsgrad, maximize: g.maximize ?? false,
      decoupledWeightDecay: g.decoupled_weight_decay ?? false, fused: g.fused ?? false,
    } as Partial<AdamOptions>;
  }

  protected stateToPython(s: AdamState): Record<string, Tensor | number> {
    const out: Record<string, Tensor | number> = { step: stepTensor(s.step), exp_avg: s.expAvg.detach(), exp_avg_sq: s.expAvgSq.detach() };
    if (s.maxExpAvgSq) out.max_exp_avg_sq = s.maxExpAvgSq.detach();
    return out;
  }

  protected stateFromPython(s: Record<string, unknown>, param: Tensor): AdamState {
    const w = `${this.where}.loadStateDict`;
    const state: AdamState = {
      step: readStep(w, s.step),
      expAvg: adoptStateTensor(w, 'exp_avg', s.exp_avg, param),
      expAvgSq: adoptStateTensor(w, 'exp_avg_sq', s.exp_avg_sq, param),
    };
    if (s.max_exp_avg_sq !== undefined) state.maxExpAvgSq = adoptStateTensor(w, 'max_exp_avg_sq', s.max_exp_avg_sq, param);
    return state;
  }

  protected runStep(admit: AdmitStep): Promise<(TensorHandle | undefined)[][]> {
    return native.adamStep(this.stepGroups((g, states) => ({
      state: {
        expAvgs: states.map((s) => this.heldState(s?.expAvg, 'exp_avg')),
        expAvgSqs: states.map((s) => this.heldState(s?.expAvgSq, 'exp_avg_sq')),
        maxExpAvgSqs: states.map((s) => (g.amsgrad ? this.heldState(s?.maxExpAvgSq, 'max_exp_avg_sq') : undefined)),
        steps: states.map((s) => (s ? s.step : 0) + 1),
      },
      options: {
        lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay, amsgrad: g.amsgrad,
        maximize: g.maximize, decoupledWeightDecay: g.decoupledWeightDecay, fused: g.fused,
      },
    })), admit);
  }

  protected adoptState(param: Tensor, created: (TensorHandle | undefined)[], i: number): void {
    const [expAvg, expAvgSq, maxSq] = this.createdState(created, i, 3);
    const s = this.state.get(param) ?? { step: 0, expAvg: expAvg!, expAvgSq: expAvgSq! };
    if (maxSq) s.maxExpAvgSq = maxSq;
    s.step += 1;
    this.state.set(param, s);
  }
}

/**
 * torch.optim.AdamW: Adam with decoupled weight decay (`param *= 1 - lr * weightDecay` each step),
 * weightDecay 1e-2 by default. Its stateDict() loads into torch.optim.AdamW and back.
 */
export class AdamW extends Adam {
  constructor(params: Iterable<Tensor> | ParamGroupInput<AdamWOptions>[], opts: Partial<AdamWOptions> = {}) {
    super(params, { weightDecay: 1e-2, ...opts, decoupledWeightDecay: true });
  }

  /** AdamW's weight decay is always decoupled, as torch.optim.AdamW's __setstate__ makes it. */
  protected groupFromPython(g: Record<string, unknown>): Partial<AdamOptions> {
    return { ...super.groupFromPython(g), decoupledWeightDecay: true };
  }
}
