// Shared machinery of torch.optim optimizers: param groups, per-parameter state, state_dict.
import { TorchError } from '../errors';
import { AdmitStep, native, TensorHandle } from '../native';
import { assertIdle, gradsOf, tensor, Tensor, trackDecided } from '../tensor';
import { bool, finite, invalid, options } from '../arguments';

/**
 * Values lr schedulers keep in a param group, as PyTorch's do: every scheduler's `initial_lr`,
 * and OneCycleLR's `max_lr`, `min_lr`, `max_momentum`, `base_momentum`. stateDict() saves them.
 */
export interface ScheduledGroupValues {
  initialLr?: number;
  maxLr?: number;
  minLr?: number;
  maxMomentum?: number;
  baseMomentum?: number;
}
const SCHEDULED_KEYS: [keyof ScheduledGroupValues, string][] = [
  ['initialLr', 'initial_lr'], ['maxLr', 'max_lr'], ['minLr', 'min_lr'], ['maxMomentum', 'max_momentum'], ['baseMomentum', 'base_momentum'],
];

/** A parameter group as given to the constructor: params plus any per-group option overrides
 * (and scheduler values, such as the initialLr a resumed scheduler reads). */
export type ParamGroupInput<O> = Partial<O> & ScheduledGroupValues & { params: Iterable<Tensor> };
/** A live parameter group: options are read at every step(), so writing `lr` takes effect. */
export type ParamGroup<O> = O & ScheduledGroupValues & { params: Tensor[] };

/** The scheduler values among a group's keys (camelCase), each a finite number. */
function scheduledValues(where: string, group: Record<string, unknown>): ScheduledGroupValues {
  const present = SCHEDULED_KEYS.filter(([k]) => group[k] != null);
  return Object.fromEntries(present.map(([k]) => [k, finite(where, k, group[k])]));
}

/** PyTorch's optimizer.state_dict() layout, with PyTorch's key names. */
export interface OptimizerStateDict {
  state: Record<number, Record<string, Tensor | number>>;
  param_groups: Record<string, unknown>[];
}

export abstract class Optimizer<O extends { lr: number }, S extends object> {
  readonly defaults: O;
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state (Adam's step, exp_avg, ...), keyed by the parameter. */
  readonly state = new Map<Tensor, S>();
  #stepping = false;

  protected constructor(protected readonly where: string, params: Iterable<Tensor> | ParamGroupInput<O>[], defaults: O) {
    this.defaults = defaults;
    const list = params && typeof (params as Iterable<unknown>)[Symbol.iterator] === 'function' ? [...(params as Iterable<unknown>)] : null;
    if (!list || list.length === 0) throw invalid(where, 'params', 'a non-empty iterable of Tensors or of param groups', params);
    const groups = list.every((p) => p instanceof Tensor) ? [{ params: list as Tensor[] }] : list;
    const seen = new Set<Tensor>();
    groups.forEach((g, i) => {
      if (!g || typeof g !== 'object' || !('params' in g)) throw invalid(where, `params[${i}]`, 'Tensor or {params, ...options}', g);
      const { params: gp, ...overrides } = g as ParamGroupInput<O>;
      const ps = [...(gp as Iterable<unknown>)];
      ps.forEach((p, k) => {
        if (!(p instanceof Tensor)) throw invalid(where, `params[${i}].params[${k}]`, 'Tensor', p);
        if (seen.has(p)) throw new TorchError(`${where}: some parameters appear in more than one parameter group`, 'INVALID_ARGUMENT');
        seen.add(p);
      });
      const opts = this.validateOptions({ ...defaults, ...overrides } as O);
      this.paramGroups.push({ ...opts, ...scheduledValues(where, overrides as Record<string, unknown>), params: ps as Tensor[] });
    });
  }

  /** Validates and normalises one group's options (throws INVALID_ARGUMENT naming the option). */
  protected abstract validateOptions(o: O): O;
  /** PyTorch's names for a group's options, for state_dict(). */
  protected abstract groupToPython(g: ParamGroup<O>): Record<string, unknown>;
  protected abstract groupFromPython(g: Record<string, unknown>): Partial<O>;
  /**
   * Calls the optimizer's native step with every group's parameters, state and options, read
   * now. The native step skips parameters without a gradient and calls `admit` with its plan
   * before it starts. Resolves, per group, with the state tensors created.
   */
  protected abstract runStep(admit: AdmitStep): Promise<(TensorHandle | undefined)[][]>;
  /** Keeps the state a stepped parameter's update created (`created`: its group's list; the
   * parameter is the i-th of its group) and counts its step. */
  protected abstract adoptState(param: Tensor, created: (TensorHandle | undefined)[], i: number): void;

  /** The native step's groups: every group's parameters, with what `args` reads from the group
   * and its parameters' state (undefined where a parameter has none yet). */
  protected stepGroups<A>(args: (g: ParamGroup<O>, states: (S | undefined)[]) => A): (A & { params: TensorHandle[] })[] {
    return this.paramGroups.map((g) => ({ params: g.params.map((p) => this.held(p, 'parameter')), ...args(g, g.params.map((p) => this.state.get(p))) }));
  }

  /** The handle of a tensor the step passes to its native call, which claims it (see step()). */
  protected held(t: Tensor, name: string): TensorHandle {
    return t._h(`${this.where}.step`, name, false);
  }

  /** The `slots` state tensors a step created for the i-th parameter of a group, owned by the optimizer. */
  protected createdState(created: (TensorHandle | undefined)[], i: number, slots: number): (Tensor | undefined)[] {
    return created.slice(slots * i, slots * (i + 1)).map((h) => (h ? Tensor._wrap(h, true) : undefined));
  }

  /** The handle of a state tensor, if there is one. */
  protected heldState(t: Tensor | undefined, name: string): TensorHandle | undefined {
    return t ? this.held(t, name) : undefined;
  }

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** The live state tensors of `params` (a disposed one is reported by name where it is used). */
  private stateTensors(params: Tensor[]): Tensor[] {
    return params.flatMap((p) => Object.values(this.state.get(p) ?? {}).filter((v): v is Tensor => v instanceof Tensor && !v.isDisposed));
  }

  /** Refuses with BUSY a call that replaces or frees the state while a step, or anything else, uses it. */
  private checkStateIdle(where: string): void {
    if (this.#stepping) throw new TorchError(`${where}: a step() is still running; await the previous operation before starting this one`, 'BUSY');
    assertIdle(where, [], this.stateTensors(this.allParams()));
  }

  /** Resets the gradients of all parameters: zeroed (PyTorch 1.13's default) or set to null. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    const where = `${this.where}.zeroGrad`;
    const setToNone = bool(where, 'setToNone', options(where, opts).setToNone ?? false);
    // Gradients only: a parameter whose data is being updated (say, broadcast) can be reset.
    const params = this.allParams();
    assertIdle(where, [], [gradsOf(where, params)]);
    native.zeroGrad(params.map((p) => p._h(where, 'parameter', false)), setToNone);
  }

  /**
   * Performs one optimisation step off the JS thread, as one native call over every group.
   * Parameters without a gradient are skipped, and only what the step updates is marked busy:
   * a frozen parameter stays free to read (say, saved) while it runs.
   */
  async step(): Promise<void> {
    const where = `${this.where}.step`;
    if (this.#stepping) throw new TorchError(`${where}: the previous step() is still running; await it first`, 'BUSY');
    assertIdle(where, [gradsOf(where, this.allParams())], []); // the native step reads the gradient slots at once
    let plan: boolean[][] = [];
    this.#stepping = true;
    try {
      const created = await trackDecided(where, (claimAccess) => this.runStep((stepped) => {
        plan = stepped;
        const params = this.paramGroups.flatMap((g, k) => g.params.filter((_, i) => stepped[k][i]));
        claimAccess([gradsOf(where, params)], [...params, ...this.stateTensors(params)]);
      }));
      this.paramGroups.forEach((g, k) => g.params.forEach((p, i) => {
        if (plan[k][i]) this.adoptState(p, created[k], i);
      }));
    } finally {
      this.#stepping = false;
    }
  }

  /** Frees the per-parameter state (moments, buffers) now; the optimizer starts afresh if stepped
   * again. Refused with BUSY while a step or another operation uses the state. */
  dispose(): void {
    this.checkStateIdle(`${this.where}.dispose`);
    for (const s of this.state.values()) disposeState(s);
    this.state.clear();
  }

  /** Fresh zeros shaped like `p`, owned by the optimizer (never claimed by a scope). */
  protected zerosLike(p: Tensor): Tensor {
    return Tensor._wrap(native.zerosLike(p._h(this.where, 'parameter')), true);
  }

  protected abstract stateToPython(s: S): Record<string, Tensor | number>;
  protected abstract stateFromPython(s: Record<string, unknown>, param: Tensor): S;

  /** The optimizer state in PyTorch's layout: {state: {index: {...}}, param_groups: [{..., params: [indices]}]}. */
  stateDict(): OptimizerStateDict {
    let index = 0;
    const state: OptimizerStateDict['state'] = {};
    const groups = this.paramGroups.map((g) => {
      const indices = g.params.map((p) => {
        const s = this.state.get(p);
        if (s) state[index] = this.stateToPython(s);
        return index++;
      });
      const scheduled = SCHEDULED_KEYS.filter(([k]) => g[k] !== undefined).map(([k, py]) => [py, g[k]]);
      return { ...this.groupToPython(g), ...Object.fromEntries(scheduled), params: indices };
    });
    return { state, param_groups: groups };
  }

  /** Restores state saved by stateDict() (here or by PyTorch), copying tensors to each parameter's device. */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.where}.loadStateDict`;
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.param_groups) || typeof sd.state !== 'object') {
      throw invalid(where, 'stateDict', '{state, param_groups}', sd);
    }
    this.checkStateIdle(where);
    if (sd.param_groups.length !== this.paramGroups.length) {
      throw new TorchError(`${where}: loaded state dict has ${sd.param_groups.length} parameter groups, this optimizer has ${this.paramGroups.length}`, 'VALUE_ERROR');
    }
    const plans = sd.param_groups.map((g, i) => {
      const ids = g.params;
      if (!Array.isArray(ids) || ids.length !== this.paramGroups[i].params.length) {
        throw new TorchError(`${where}: loaded state dict contains a parameter group that doesn't match the size of optimizer's group ${i}`, 'VALUE_ERROR');
      }
      const opts = this.validateOptions({ ...this.paramGroups[i], ...this.groupFromPython(g) });
      const scheduled = Object.fromEntries(SCHEDULED_KEYS.filter(([, py]) => g[py] != null).map(([k, py]) => [k, g[py]]));
      return { opts, ids: ids as number[], scheduled: scheduledValues(where, scheduled) };
    });
    const newState = new Map<Tensor, S>();
    plans.forEach((plan, i) => {
      plan.ids.forEach((id, k) => {
        const saved = (sd.state as Record<number, Record<string, unknown>>)[id];
        if (saved) {
          const param = this.paramGroups[i].params[k];
          newState.set(param, this.stateFromPython(saved, param));
        }
      });
    });
    for (const s of this.state.values()) disposeState(s);
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
    plans.forEach((plan, i) => Object.assign(this.paramGroups[i], plan.opts, plan.scheduled));
  }
}

export function disposeState(s: object): void {
  for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
}

/** A float32 scalar tensor holding `step`, as PyTorch 1.13 stores it. */
export function stepTensor(step: number): Tensor {
  return tensor(Float32Array.of(step), { shape: [] });
}

/** Reads a saved step (a tensor in 1.12+, a number before). */
export function readStep(where: string, v: unknown): number {
  if (typeof v === 'number') return v;
  if (v instanceof Tensor) return v.item();
  throw invalid(where, 'state.step', 'number or scalar Tensor', v);
}

/** Copies a saved state tensor onto the parameter's device and dtype, owned by the optimizer. */
export function adoptStateTensor(where: string, name: string, v: unknown, param: Tensor): Tensor {
  if (!(v instanceof Tensor)) throw invalid(where, `state.${name}`, 'Tensor', v);
  const shape = v.shape;
  const pshape = param.shape;
  if (shape.length !== pshape.length || shape.some((d, i) => d !== pshape[i])) {
    throw new TorchError(`${where}: state.${name} has shape [${shape}] but its parameter has shape [${pshape}]`, 'VALUE_ERROR');
  }
  // to() may alias the source; the clone makes the state the optimizer's own memory.
  const moved = v.to({ device: param.device as 'cpu', dtype: param.dtype });
  const owned = moved.clone();
  moved.dispose();
  return owned._persist();
}
