// torch.optim.lr_scheduler with Python's semantics (not libtorch C++'s, whose StepLR is off by one),
// of the linked PyTorch version where 1.13 and 2.x differ. Every lr is bitwise Python's: + - * /
// are IEEE doubles here as there, and cos and ** come from glibc through the addon, as Python's.
import { TorchError } from '../errors';
import { native } from '../native';
import { buildInfo } from '../runtime';
import { Tensor } from '../tensor';
import { int, finite, invalid, isInt, oneOf, options } from '../arguments';
import { ScheduledGroupValues } from './optimizer';

/** What a scheduler needs of an optimizer: its live param groups. */
export interface SchedulableOptimizer {
  paramGroups: (ScheduledGroupValues & { lr: number; momentum?: number; betas?: [number, number] })[];
}

/**
 * PyTorch 2.x's schedulers skip the constructor's step where 1.13's compute one (`_is_initial`),
 * and SequentialLR enters a scheduler at its milestone without counting a step.
 */
let torch2: boolean | undefined;
function isTorch2(): boolean {
  torch2 ??= Number(buildInfo().torchVersion.split('.')[0]) >= 2;
  return torch2;
}

const cos = (x: number): number => native.libm('cos', x);
const pow = (x: number, y: number): number => native.libm('pow', x, y);

function checkOptimizer(where: string, optimizer: SchedulableOptimizer): SchedulableOptimizer {
  if (!optimizer || typeof optimizer !== 'object' || !Array.isArray((optimizer as SchedulableOptimizer).paramGroups)) {
    throw invalid(where, 'optimizer', 'an optimizer (with paramGroups)', optimizer);
  }
  return optimizer;
}

/** A number per param group, from one number or an array of them (Python's _format_param). */
function perGroup(where: string, name: string, optimizer: SchedulableOptimizer, v: unknown, min = -Infinity): number[] {
  const n = optimizer.paramGroups.length;
  if (Array.isArray(v)) {
    if (v.length !== n) throw new TorchError(`${where}: ${name} must have the same length as optimizer.paramGroups: ${name} has ${v.length} values, paramGroups has ${n}`, 'VALUE_ERROR');
    return v.map((x, i) => finite(where, `${name}[${i}]`, x, min));
  }
  return Array<number>(n).fill(finite(where, name, v, min));
}

/** Python's bisect.bisect_right on a sorted array. */
function bisectRight(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function lrList(where: string, name: string, v: unknown, n: number): number[] {
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number')) throw invalid(where, name, `array of ${n} numbers`, v);
  return [...v];
}

export abstract class LRScheduler {
  readonly optimizer: SchedulableOptimizer;
  /** The epoch count: -1 before the constructor's initial step, then 0, 1, ... */
  lastEpoch: number;
  baseLrs: number[];
  protected stepCount = 0;
  #lastLr: number[] = [];
  #isInitial = false;

  protected constructor(protected readonly where: string, optimizer: SchedulableOptimizer, lastEpoch: number) {
    this.optimizer = checkOptimizer(where, optimizer);
    this.lastEpoch = int(where, 'lastEpoch', lastEpoch, -1);
    if (lastEpoch === -1) {
      for (const g of optimizer.paramGroups) if (g.initialLr === undefined) g.initialLr = g.lr;
    } else {
      optimizer.paramGroups.forEach((g, i) => {
        if (g.initialLr === undefined) {
          throw new TorchError(`${where}: param 'initialLr' is not specified in paramGroups[${i}] when resuming an optimizer`, 'VALUE_ERROR');
        }
      });
    }
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
  }

  /** @internal The constructor's step (Python's _initial_step); SequentialLR calls it too. */
  _initialStep(): void {
    this.stepCount = 0;
    this.#isInitial = true;
    try {
      this.step();
    } finally {
      this.#isInitial = false;
    }
  }

  /** Whether the running step is the constructor's (2.x's `_is_initial`). */
  protected get isInitial(): boolean {
    return this.#isInitial;
  }

  /** The current lr of every param group. */
  protected currentLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The next lrs on an ordinary step (Python's get_lr), with lastEpoch already advanced. */
  protected computeLr(): number[] {
    throw new TorchError(`${this.where} computes no lr of its own`, 'NOT_IMPLEMENTED');
  }

  /** The lrs for an explicit epoch (Python's _get_closed_form_lr; get_lr where there is none). */
  protected closedFormLr(): number[] {
    return this.computeLr();
  }

  /** Scheduler-specific fields of state_dict, with Python's names. */
  protected ownState(): Record<string, unknown> {
    return {};
  }

  protected loadOwnState(_sd: Record<string, unknown>): void {}

  /** Advances one epoch (or jumps to `epoch`, the deprecated form) and writes the lrs into the optimizer. */
  step(epoch?: number): void {
    this.stepCount += 1;
    this._updateLr(epoch);
  }

  /** @internal A step that is not counted (2.x's _update_lr; SequentialLR's milestones). */
  _updateLr(epoch?: number): void {
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.computeLr();
    } else {
      this.lastEpoch = int(`${this.where}.step`, 'epoch', epoch, 0);
      values = this.closedFormLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = values[i]; });
    this.#lastLr = this.currentLrs();
  }

  /** One lr per param group: the lr the next epoch will use. */
  getLastLr(): number[] {
    return [...this.#lastLr];
  }

  protected setLastLr(lrs: number[]): void {
    this.#lastLr = [...lrs];
  }

  /** Python's scheduler.state_dict() (its __dict__ without the optimizer), in the linked version's layout. */
  stateDict(): Record<string, unknown> {
    const torch2 = isTorch2();
    return {
      ...this.ownState(),
      base_lrs: [...this.baseLrs],
      last_epoch: this.lastEpoch,
      ...(torch2 ? {} : { verbose: false }),
      _step_count: this.stepCount,
      ...(torch2 ? { _is_initial: false } : {}),
      _get_lr_called_within_step: false,
      _last_lr: [...this.#lastLr],
    };
  }

  loadStateDict(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    if (!sd || typeof sd !== 'object') throw invalid(w, 'stateDict', 'object', sd);
    const n = this.optimizer.paramGroups.length;
    const baseLrs = lrList(w, 'base_lrs', sd.base_lrs, n);
    const lastLr = lrList(w, '_last_lr', sd._last_lr, n);
    const lastEpoch = int(w, 'last_epoch', sd.last_epoch, -1);
    const stepCount = int(w, '_step_count', sd._step_count, 0);
    this.loadOwnState(sd);
    this.baseLrs = baseLrs;
    this.lastEpoch = lastEpoch;
    this.stepCount = stepCount;
    this.#lastLr = lastLr;
  }
}

export interface CosineAnnealingLROptions {
  tMax: number;
  etaMin?: number;
  lastEpoch?: number;
}

/**
 * Cosine annealing with Python's recursive (chainable) formula, computed natively so every lr
 * is bitwise Python's. Not clamped after tMax: periodic with period 2*tMax, as in PyTorch.
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;

  constructor(optimizer: SchedulableOptimizer, opts: CosineAnnealingLROptions) {
    const where = 'optim.lrScheduler.CosineAnnealingLR';
    const o = options(where, opts);
    super(where, optimizer, o.lastEpoch ?? -1);
    this.tMax = int(where, 'tMax', o.tMax, 1);
    this.etaMin = finite(where, 'etaMin', o.etaMin ?? 0);
    this._initialStep();
  }

  protected computeLr(): number[] {
    if (this.isInitial && isTorch2()) return this.currentLrs();
    const resumed = this.stepCount === 1 && this.lastEpoch > 0;
    return this.optimizer.paramGroups.map((g, i) =>
      native.cosineAnnealing(resumed ? 'resumed' : 'recursive', { epoch: this.lastEpoch, tMax: this.tMax, etaMin: this.etaMin, baseLr: this.baseLrs[i], lastLr: g.lr }));
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => native.cosineAnnealing('closed', { epoch: this.lastEpoch, tMax: this.tMax, etaMin: this.etaMin, baseLr: base, lastLr: base }));
  }

  protected ownState(): Record<string, unknown> {
    return { T_max: this.tMax, eta_min: this.etaMin };
  }

  protected loadOwnState(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    this.tMax = int(w, 'T_max', sd.T_max, 1);
    this.etaMin = finite(w, 'eta_min', sd.eta_min);
  }
}

export interface StepLROptions {
  stepSize: number;
  gamma?: number;
  lastEpoch?: number;
}

/** Multiplies the lr by gamma every stepSize epochs (Python's semantics: 1, g, g, g^2, ... for stepSize 2 after the first step). */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: StepLROptions) {
    const where = 'optim.lrScheduler.StepLR';
    const o = options(where, opts);
    super(where, optimizer, o.lastEpoch ?? -1);
    this.stepSize = int(where, 'stepSize', o.stepSize, 1);
    this.gamma = finite(where, 'gamma', o.gamma ?? 0.1);
    this._initialStep();
  }

  protected computeLr(): number[] {
    const change = this.lastEpoch !== 0 && this.lastEpoch % this.stepSize === 0;
    return this.currentLrs().map((lr) => (change ? lr * this.gamma : lr));
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * pow(this.gamma, Math.floor(this.lastEpoch / this.stepSize)));
  }

  protected ownState(): Record<string, unknown> {
    return { step_size: this.stepSize, gamma: this.gamma };
  }

  protected loadOwnState(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    this.stepSize = int(w, 'step_size', sd.step_size, 1);
    this.gamma = finite(w, 'gamma', sd.gamma);
  }
}

export interface MultiStepLROptions {
  /** Epochs at which the lr is multiplied by gamma (once per occurrence, as Python's Counter). */
  milestones: number[];
  gamma?: number;
  lastEpoch?: number;
}

/** Multiplies the lr by gamma at each milestone epoch. */
export class MultiStepLR extends LRScheduler {
  /** Milestone -> how many times it was given (Python's Counter). */
  milestones: Map<number, number>;
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: MultiStepLROptions) {
    const where = 'optim.lrScheduler.MultiStepLR';
    const o = options(where, opts);
    super(where, optimizer, o.lastEpoch ?? -1);
    if (!Array.isArray(o.milestones) || !o.milestones.every(isInt)) throw invalid(where, 'milestones', 'array of integers', o.milestones);
    this.milestones = new Map();
    for (const m of o.milestones) this.milestones.set(m, (this.milestones.get(m) ?? 0) + 1);
    this.gamma = finite(where, 'gamma', o.gamma ?? 0.1);
    this._initialStep();
  }

  protected computeLr(): number[] {
    const count = this.milestones.get(this.lastEpoch);
    if (count === undefined) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * pow(this.gamma, count));
  }

  protected closedFormLr(): number[] {
    const sorted = [...this.milestones].flatMap(([m, n]) => Array<number>(n).fill(m)).sort((a, b) => a - b);
    return this.baseLrs.map((base) => base * pow(this.gamma, bisectRight(sorted, this.lastEpoch)));
  }

  /** milestones as a dict {epoch: count} (Python saves a Counter, which loads as that dict). */
  protected ownState(): Record<string, unknown> {
    return { milestones: Object.fromEntries(this.milestones), gamma: this.gamma };
  }

  protected loadOwnState(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    const saved = sd.milestones;
    const entries = saved instanceof Map ? [...saved] : saved && typeof saved === 'object' && !Array.isArray(saved) ? Object.entries(saved) : null;
    if (!entries) throw invalid(w, 'milestones', 'a dict of epoch: count', saved);
    this.milestones = new Map(entries.map(([k, v]) => [int(w, 'milestones key', Number(k)), int(w, `milestones[${k}]`, v, 1)]));
    this.gamma = finite(w, 'gamma', sd.gamma);
  }
}

export interface LinearLROptions {
  /** The factor of the first epoch's lr, in (0, 1]; default 1/3. */
  startFactor?: number;
  /** The factor reached after totalIters epochs, in [0, 1]; default 1. */
  endFactor?: number;
  totalIters?: number;
  lastEpoch?: number;
}

/** Scales the lr by a factor that moves linearly from startFactor to endFactor over totalIters epochs (warm-up). */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;

  constructor(optimizer: SchedulableOptimizer, opts: LinearLROptions = {}) {
    const where = 'optim.lrScheduler.LinearLR';
    const o = options(where, opts);
    const startFactor = finite(where, 'startFactor', o.startFactor ?? 1 / 3, 0, 1);
    if (startFactor === 0) throw invalid(where, 'startFactor', 'number in (0, 1]', startFactor);
    const endFactor = finite(where, 'endFactor', o.endFactor ?? 1, 0, 1);
    const totalIters = int(where, 'totalIters', o.totalIters ?? 5, 0);
    super(where, optimizer, o.lastEpoch ?? -1);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this._initialStep();
  }

  protected computeLr(): number[] {
    const [start, end, total, e] = [this.startFactor, this.endFactor, this.totalIters, this.lastEpoch];
    if (e === 0) return this.currentLrs().map((lr) => lr * start);
    if ((this.isInitial && isTorch2()) || e > total) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * (1.0 + (end - start) / (total * start + (e - 1) * (end - start))));
  }

  protected closedFormLr(): number[] {
    const [start, end, total] = [this.startFactor, this.endFactor, this.totalIters];
    return this.baseLrs.map((base) => base * (start + ((end - start) * Math.min(total, this.lastEpoch)) / total));
  }

  protected ownState(): Record<string, unknown> {
    return { start_factor: this.startFactor, end_factor: this.endFactor, total_iters: this.totalIters };
  }

  protected loadOwnState(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    this.startFactor = finite(w, 'start_factor', sd.start_factor);
    this.endFactor = finite(w, 'end_factor', sd.end_factor);
    this.totalIters = int(w, 'total_iters', sd.total_iters, 0);
  }
}

export interface ExponentialLROptions {
  gamma: number;
  lastEpoch?: number;
}

/** Multiplies the lr by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: ExponentialLROptions) {
    const where = 'optim.lrScheduler.ExponentialLR';
    const o = options(where, opts);
    const gamma = finite(where, 'gamma', o.gamma);
    super(where, optimizer, o.lastEpoch ?? -1);
    this.gamma = gamma;
    this._initialStep();
  }

  protected computeLr(): number[] {
    // 2.x leaves the lr alone on the constructor's step (a resumed schedule does not advance);
    // 1.13 at epoch 0.
    if (isTorch2() ? this.isInitial : this.lastEpoch === 0) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * this.gamma);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * pow(this.gamma, this.lastEpoch));
  }

  protected ownState(): Record<string, unknown> {
    return { gamma: this.gamma };
  }

  protected loadOwnState(sd: Record<string, unknown>): void {
    this.gamma = finite(`${this.where}.loadStateDict`, 'gamma', sd.gamma);
  }
}

type GroupKey = 'initial_lr' | 'max_lr' | 'min_lr' | 'max_momentum' | 'base_momentum';
const GROUP_KEYS: Record<GroupKey, keyof ScheduledGroupValues> = {
  initial_lr: 'initialLr', max_lr: 'maxLr', min_lr: 'minLr', max_momentum: 'maxMomentum', base_momentum: 'baseMomentum',
};

/** One phase of OneCycleLR, with Python's keys (the lr and momentum ends name param group values). */
export interface OneCyclePhase {
  end_step: number;
  start_lr: GroupKey;
  end_lr: GroupKey;
  start_momentum: GroupKey;
  end_momentum: GroupKey;
}

export interface OneCycleLROptions {
  maxLr: number | number[];
  /** The number of steps in the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  lastEpoch?: number;
}

/**
 * The 1cycle policy: the lr rises from maxLr/divFactor to maxLr, then anneals to
 * maxLr/(divFactor*finalDivFactor), stepped once per batch; the momentum (or Adam's beta1) cycles
 * the other way. Keeps its lr ends in the param groups, as PyTorch does (initialLr, maxLr, minLr).
 */
export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  schedulePhases: OneCyclePhase[];
  annealStrategy: 'cos' | 'linear';
  cycleMomentum: boolean;
  /** Cycle Adam's betas[0] (optimizers with betas) rather than `momentum`. */
  useBeta1: boolean;

  constructor(optimizer: SchedulableOptimizer, opts: OneCycleLROptions) {
    const where = 'optim.lrScheduler.OneCycleLR';
    const o = options(where, opts);
    checkOptimizer(where, optimizer);
    let totalSteps: number;
    if (o.totalSteps !== undefined) totalSteps = int(where, 'totalSteps', o.totalSteps, 1);
    else if (o.epochs !== undefined && o.stepsPerEpoch !== undefined) totalSteps = int(where, 'epochs', o.epochs, 1) * int(where, 'stepsPerEpoch', o.stepsPerEpoch, 1);
    else throw new TorchError(`${where}: You must define either totalSteps OR (epochs AND stepsPerEpoch)`, 'VALUE_ERROR');
    const pct = finite(where, 'pctStart', o.pctStart ?? 0.3, 0, 1);
    const phase = (endStep: number, lr: [GroupKey, GroupKey], momentum: [GroupKey, GroupKey]): OneCyclePhase => (
      { end_step: endStep, start_lr: lr[0], end_lr: lr[1], start_momentum: momentum[0], end_momentum: momentum[1] });
    const phases = o.threePhase ?? false
      ? [
        phase(pct * totalSteps - 1, ['initial_lr', 'max_lr'], ['max_momentum', 'base_momentum']),
        phase(2 * pct * totalSteps - 2, ['max_lr', 'initial_lr'], ['base_momentum', 'max_momentum']),
        phase(totalSteps - 1, ['initial_lr', 'min_lr'], ['max_momentum', 'max_momentum']),
      ]
      : [
        phase(pct * totalSteps - 1, ['initial_lr', 'max_lr'], ['max_momentum', 'base_momentum']),
        phase(totalSteps - 1, ['max_lr', 'min_lr'], ['base_momentum', 'max_momentum']),
      ];
    const annealStrategy = oneOf(where, 'annealStrategy', o.annealStrategy ?? 'cos', ['cos', 'linear'] as const);
    const lastEpoch = o.lastEpoch ?? -1;
    const maxLrs = perGroup(where, 'maxLr', optimizer, o.maxLr, 0);
    const divFactor = finite(where, 'divFactor', o.divFactor ?? 25);
    const finalDivFactor = finite(where, 'finalDivFactor', o.finalDivFactor ?? 1e4);
    const cycleMomentum = o.cycleMomentum ?? true;
    const groups = optimizer.paramGroups;
    const useBeta1 = groups.length > 0 && groups[0].betas !== undefined;
    if (cycleMomentum && !useBeta1 && groups.some((g) => g.momentum === undefined)) {
      throw new TorchError(`${where}: optimizer must support momentum or beta1 with the cycleMomentum option enabled`, 'VALUE_ERROR');
    }
    const maxMomentums = cycleMomentum ? perGroup(where, 'maxMomentum', optimizer, o.maxMomentum ?? 0.95) : [];
    const baseMomentums = cycleMomentum ? perGroup(where, 'baseMomentum', optimizer, o.baseMomentum ?? 0.85) : [];
    if (lastEpoch === -1) {
      groups.forEach((g, i) => {
        g.initialLr = maxLrs[i] / divFactor;
        g.maxLr = maxLrs[i];
        g.minLr = g.initialLr / finalDivFactor;
        if (!cycleMomentum) return;
        if (useBeta1) g.betas = [maxMomentums[i], g.betas![1]];
        else g.momentum = maxMomentums[i];
        g.maxMomentum = maxMomentums[i];
        g.baseMomentum = baseMomentums[i];
      });
    }
    super(where, optimizer, lastEpoch);
    this.totalSteps = totalSteps;
    this.schedulePhases = phases;
    this.annealStrategy = annealStrategy;
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = useBeta1;
    this._initialStep();
  }

  #anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'linear') return (end - start) * pct + start;
    const cosOut = cos(Math.PI * pct) + 1;
    return end + ((start - end) / 2.0) * cosOut;
  }

  protected computeLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps) {
      throw new TorchError(`${this.where}: Tried to step ${stepNum} times. The specified number of total steps is ${this.totalSteps}`, 'VALUE_ERROR');
    }
    const value = (g: SchedulableOptimizer['paramGroups'][number], key: GroupKey): number => {
      const v = g[GROUP_KEYS[key]];
      if (v === undefined) throw new TorchError(`${this.where}: paramGroups has no ${GROUP_KEYS[key]} (resuming needs the optimizer's state loaded first)`, 'VALUE_ERROR');
      return v;
    };
    return this.optimizer.paramGroups.map((g) => {
      let startStep = 0.0;
      const last = this.schedulePhases.length - 1;
      for (const [i, phase] of this.schedulePhases.entries()) {
        const endStep = phase.end_step;
        if (stepNum <= endStep || i === last) {
          const pct = (stepNum - startStep) / (endStep - startStep);
          if (this.cycleMomentum) {
            const momentum = this.#anneal(value(g, phase.start_momentum), value(g, phase.end_momentum), pct);
            if (this.useBeta1) g.betas = [momentum, g.betas![1]];
            else g.momentum = momentum;
          }
          return this.#anneal(value(g, phase.start_lr), value(g, phase.end_lr), pct);
        }
        startStep = phase.end_step;
      }
      throw new TorchError(`${this.where}: no schedule phases`, 'VALUE_ERROR');
    });
  }

  protected ownState(): Record<string, unknown> {
    return {
      total_steps: this.totalSteps,
      _schedule_phases: this.schedulePhases.map((p) => ({ ...p })),
      _anneal_func_type: this.annealStrategy,
      cycle_momentum: this.cycleMomentum,
      ...(this.cycleMomentum ? { use_beta1: this.useBeta1 } : {}),
    };
  }

  protected loadOwnState(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    this.totalSteps = int(w, 'total_steps', sd.total_steps, 1);
    const phases = sd._schedule_phases;
    const keys = Object.keys(GROUP_KEYS);
    const isPhase = (p: unknown): p is OneCyclePhase => !!p && typeof p === 'object' && typeof (p as OneCyclePhase).end_step === 'number'
      && (['start_lr', 'end_lr', 'start_momentum', 'end_momentum'] as const).every((k) => keys.includes((p as OneCyclePhase)[k]));
    if (!Array.isArray(phases) || phases.length === 0 || !phases.every(isPhase)) throw invalid(w, '_schedule_phases', 'an array of schedule phases', phases);
    this.schedulePhases = phases.map((p) => ({ ...p }));
    // 1.13 saves a bound method (anneal_func) instead: without the name, keep the constructor's, as 2.x does.
    if (sd._anneal_func_type !== undefined) this.annealStrategy = oneOf(w, '_anneal_func_type', sd._anneal_func_type, ['cos', 'linear'] as const);
    this.cycleMomentum = sd.cycle_momentum === true;
    if (this.cycleMomentum) this.useBeta1 = sd.use_beta1 === true;
  }
}

export interface SequentialLROptions {
  /** The schedulers to run one after another, all on this optimizer. */
  schedulers: LRScheduler[];
  /** The epochs at which the next scheduler takes over (one fewer than schedulers). */
  milestones: number[];
  lastEpoch?: number;
}

/**
 * Runs schedulers one after another, switching at the milestones: the warm-up then cosine recipe
 * is SequentialLR(opt, { schedulers: [new LinearLR(opt, ...), new CosineAnnealingLR(opt, ...)], milestones: [warmup] }).
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: LRScheduler[];
  milestones: number[];

  constructor(optimizer: SchedulableOptimizer, opts: SequentialLROptions) {
    const where = 'optim.lrScheduler.SequentialLR';
    const o = options(where, opts);
    const schedulers = o.schedulers;
    if (!Array.isArray(schedulers) || schedulers.length < 1) throw invalid(where, 'schedulers', 'a non-empty array of schedulers', schedulers);
    schedulers.forEach((s, i) => {
      if (s instanceof ReduceLROnPlateau) {
        throw new TorchError(`${where}: does not support ReduceLROnPlateau (its step needs a metric), but got one at schedulers[${i}]`, 'VALUE_ERROR');
      }
      if (!(s instanceof LRScheduler)) throw invalid(where, `schedulers[${i}]`, 'an lrScheduler', s);
      if (s.optimizer !== optimizer) {
        throw new TorchError(`${where}: expects all schedulers to belong to the same optimizer, but schedulers[${i}] has another one`, 'VALUE_ERROR');
      }
    });
    const milestones = o.milestones;
    if (!Array.isArray(milestones) || !milestones.every(isInt)) throw invalid(where, 'milestones', 'array of integers', milestones);
    if (milestones.length !== schedulers.length - 1) {
      throw new TorchError(
        `${where}: expects number of schedulers provided to be one more than the number of milestone points, but got ` +
        `number of schedulers ${schedulers.length} and the number of milestones to be equal to ${milestones.length}`, 'VALUE_ERROR');
    }
    super(where, optimizer, -1);
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.lastEpoch = int(where, 'lastEpoch', o.lastEpoch ?? -1, -1) + 1;
    // Back to the initial lrs, and undo the constructors' steps of the schedulers.
    for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
    const torch2 = isTorch2();
    const undo = (s: LRScheduler): void => {
      if (s instanceof SequentialLR) s.schedulers.forEach(undo);
      else s.lastEpoch -= 1;
    };
    if (torch2) this.schedulers.forEach(undo);
    else this.schedulers.forEach((s) => { s.lastEpoch -= 1; });
    const first = this.schedulers[torch2 ? bisectRight(this.milestones, 0) : 0];
    first._initialStep();
    this.setLastLr(first.getLastLr());
  }

  /** Steps the scheduler of the current epoch; at a milestone, starts the next one at its epoch 0. */
  step(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const scheduler = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) {
      if (isTorch2()) scheduler._updateLr(0);
      else scheduler.step(0);
    } else {
      scheduler.step();
    }
    this.setLastLr(scheduler.getLastLr());
  }

  /** Python's layout: its own fields and each scheduler's state_dict under `_schedulers`. */
  stateDict(): Record<string, unknown> {
    return {
      _milestones: [...this.milestones],
      last_epoch: this.lastEpoch,
      _last_lr: this.getLastLr(),
      _schedulers: this.schedulers.map((s) => s.stateDict()),
    };
  }

  loadStateDict(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    if (!sd || typeof sd !== 'object') throw invalid(w, 'stateDict', 'object', sd);
    const states = sd._schedulers;
    if (!Array.isArray(states) || states.length !== this.schedulers.length) throw invalid(w, '_schedulers', `array of ${this.schedulers.length} scheduler states`, states);
    const milestones = sd._milestones;
    if (!Array.isArray(milestones) || !milestones.every(isInt)) throw invalid(w, '_milestones', 'array of integers', milestones);
    const lastEpoch = int(w, 'last_epoch', sd.last_epoch, -1);
    const lastLr = lrList(w, '_last_lr', sd._last_lr, this.optimizer.paramGroups.length);
    states.forEach((s, i) => this.schedulers[i].loadStateDict(s as Record<string, unknown>));
    this.milestones = [...milestones];
    this.lastEpoch = lastEpoch;
    this.setLastLr(lastLr);
  }
}

export interface ReduceLROnPlateauOptions {
  /** 'min': reduce when the metric stops decreasing; 'max': when it stops increasing. */
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number | number[];
  eps?: number;
}

/** Multiplies the lr by `factor` when a metric has not improved for `patience` epochs; step(metric) once per epoch. */
export class ReduceLROnPlateau {
  readonly optimizer: SchedulableOptimizer;
  private readonly where = 'optim.lrScheduler.ReduceLROnPlateau';
  factor: number;
  minLrs: number[];
  /** The single minLr given (null when given per group). */
  defaultMinLr: number | null;
  patience: number;
  cooldown: number;
  eps: number;
  lastEpoch = 0;
  mode: 'min' | 'max';
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  best: number;
  modeWorse: number;
  cooldownCounter = 0;
  numBadEpochs = 0;
  #lastLr: number[];

  constructor(optimizer: SchedulableOptimizer, opts: ReduceLROnPlateauOptions = {}) {
    const where = this.where;
    const o = options(where, opts);
    this.optimizer = checkOptimizer(where, optimizer);
    this.factor = finite(where, 'factor', o.factor ?? 0.1);
    if (this.factor >= 1) throw new TorchError(`${where}: Factor should be < 1.0 (received ${this.factor})`, 'VALUE_ERROR');
    this.defaultMinLr = Array.isArray(o.minLr) ? null : finite(where, 'minLr', o.minLr ?? 0);
    this.minLrs = perGroup(where, 'minLr', optimizer, o.minLr ?? 0);
    this.patience = int(where, 'patience', o.patience ?? 10, 0);
    this.cooldown = int(where, 'cooldown', o.cooldown ?? 0, 0);
    this.eps = finite(where, 'eps', o.eps ?? 1e-8);
    this.#lastLr = optimizer.paramGroups.map((g) => g.lr);
    this.mode = oneOf(where, 'mode', o.mode ?? 'min', ['min', 'max'] as const);
    this.threshold = finite(where, 'threshold', o.threshold ?? 1e-4);
    this.thresholdMode = oneOf(where, 'thresholdMode', o.thresholdMode ?? 'rel', ['rel', 'abs'] as const);
    this.modeWorse = this.mode === 'min' ? Infinity : -Infinity;
    this.best = this.modeWorse;
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  #isBetter(a: number, best: number): boolean {
    if (this.mode === 'min' && this.thresholdMode === 'rel') return a < best * (1.0 - this.threshold);
    if (this.mode === 'min') return a < best - this.threshold;
    if (this.thresholdMode === 'rel') return a > best * (this.threshold + 1.0);
    return a > best + this.threshold;
  }

  /** Records this epoch's metric (a number or a one-element Tensor) and reduces the lr after `patience` bad epochs. */
  step(metrics: number | Tensor, epoch?: number): void {
    const w = `${this.where}.step`;
    const current = metrics instanceof Tensor ? metrics.item() : metrics;
    if (typeof current !== 'number') throw invalid(w, 'metrics', 'number or one-element Tensor', metrics);
    this.lastEpoch = epoch === undefined ? this.lastEpoch + 1 : int(w, 'epoch', epoch);
    if (this.#isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const oldLr = g.lr;
        const newLr = Math.max(oldLr * this.factor, this.minLrs[i]);
        if (oldLr - newLr > this.eps) g.lr = newLr;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.#lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.#lastLr];
  }

  /** Python's state_dict() in the linked version's layout. */
  stateDict(): Record<string, unknown> {
    const common = {
      factor: this.factor, min_lrs: [...this.minLrs], patience: this.patience, cooldown: this.cooldown, eps: this.eps,
      last_epoch: this.lastEpoch, _last_lr: this.getLastLr(), mode_worse: this.modeWorse, mode: this.mode, threshold: this.threshold,
      threshold_mode: this.thresholdMode, best: this.best, cooldown_counter: this.cooldownCounter, num_bad_epochs: this.numBadEpochs,
    };
    if (isTorch2()) {
      const { factor, ...rest } = common;
      return { factor, default_min_lr: this.defaultMinLr, ...rest };
    }
    const { factor, min_lrs, patience, cooldown, cooldown_counter, mode, threshold, threshold_mode, best, num_bad_epochs, mode_worse, eps, last_epoch, _last_lr } = common;
    return { factor, min_lrs, patience, verbose: false, cooldown, cooldown_counter, mode, threshold, threshold_mode, best, num_bad_epochs, mode_worse, eps, last_epoch, _last_lr };
  }

  loadStateDict(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    if (!sd || typeof sd !== 'object') throw invalid(w, 'stateDict', 'object', sd);
    const n = this.optimizer.paramGroups.length;
    const number = (name: string) => {
      const v = sd[name];
      if (typeof v !== 'number') throw invalid(w, name, 'number', v);
      return v;
    };
    const loaded = {
      factor: number('factor'), minLrs: lrList(w, 'min_lrs', sd.min_lrs, n), patience: int(w, 'patience', sd.patience, 0),
      cooldown: int(w, 'cooldown', sd.cooldown, 0), eps: number('eps'), lastEpoch: int(w, 'last_epoch', sd.last_epoch),
      mode: oneOf(w, 'mode', sd.mode, ['min', 'max'] as const), threshold: number('threshold'),
      thresholdMode: oneOf(w, 'threshold_mode', sd.threshold_mode, ['rel', 'abs'] as const), best: number('best'),
      cooldownCounter: int(w, 'cooldown_counter', sd.cooldown_counter, 0), numBadEpochs: int(w, 'num_bad_epochs', sd.num_bad_epochs, 0),
      defaultMinLr: typeof sd.default_min_lr === 'number' ? sd.default_min_lr : null,
    };
    const lastLr = sd._last_lr === undefined ? this.getLastLr() : lrList(w, '_last_lr', sd._last_lr, n);
    Object.assign(this, loaded);
    this.modeWorse = this.mode === 'min' ? Infinity : -Infinity;
    this.#lastLr = lastLr;
  }
}
