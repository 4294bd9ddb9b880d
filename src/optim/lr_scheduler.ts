// torch.optim.lr_scheduler with Python's semantics (not libtorch C++'s, whose StepLR is off by one).
import { TorchError } from '../errors';
import { native } from '../native';
import { int, finite, invalid, options } from '../arguments';

/** What a scheduler needs of an optimizer: its live param groups. */
export interface SchedulableOptimizer {
  paramGroups: { lr: number; initialLr?: number }[];
}

export abstract class LRScheduler {
  readonly optimizer: SchedulableOptimizer;
  /** The epoch count: -1 before the constructor's initial step, then 0, 1, ... */
  lastEpoch: number;
  baseLrs: number[];
  protected stepCount = 0;
  #lastLr: number[] = [];

  protected constructor(protected readonly where: string, optimizer: SchedulableOptimizer, lastEpoch: number) {
    if (!optimizer || typeof optimizer !== 'object' || !Array.isArray((optimizer as SchedulableOptimizer).paramGroups)) {
      throw invalid(where, 'optimizer', 'an optimizer (with paramGroups)', optimizer);
    }
    this.optimizer = optimizer;
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

  /** Subclasses call this at the end of their constructor, as Python's _initial_step does. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The next lrs on an ordinary step (Python's get_lr), with lastEpoch already advanced. */
  protected abstract computeLr(): number[];
  /** The lrs for an explicit epoch (Python's _get_closed_form_lr). */
  protected abstract closedFormLr(): number[];
  /** Scheduler-specific fields of state_dict, with Python's names. */
  protected abstract ownState(): Record<string, unknown>;
  protected abstract loadOwnState(sd: Record<string, unknown>): void;

  /** Advances one epoch (or jumps to `epoch`, the deprecated form) and writes the lrs into the optimizer. */
  step(epoch?: number): void {
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.computeLr();
    } else {
      this.lastEpoch = int(`${this.where}.step`, 'epoch', epoch, 0);
      values = this.closedFormLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = values[i]; });
    this.#lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** One lr per param group: the lr the next epoch will use. */
  getLastLr(): number[] {
    return [...this.#lastLr];
  }

  /** Python's scheduler.state_dict() (its __dict__ without the optimizer). */
  stateDict(): Record<string, unknown> {
    return {
      ...this.ownState(),
      base_lrs: [...this.baseLrs],
      last_epoch: this.lastEpoch,
      verbose: false,
      _step_count: this.stepCount,
      _get_lr_called_within_step: false,
      _last_lr: [...this.#lastLr],
    };
  }

  loadStateDict(sd: Record<string, unknown>): void {
    const w = `${this.where}.loadStateDict`;
    if (!sd || typeof sd !== 'object') throw invalid(w, 'stateDict', 'object', sd);
    const lrs = (v: unknown, name: string): number[] => {
      if (!Array.isArray(v) || v.length !== this.optimizer.paramGroups.length || !v.every((x) => typeof x === 'number')) {
        throw invalid(w, name, `array of ${this.optimizer.paramGroups.length} numbers`, v);
      }
      return v as number[];
    };
    const baseLrs = lrs(sd.base_lrs, 'base_lrs');
    const lastLr = lrs(sd._last_lr, '_last_lr');
    const lastEpoch = int(w, 'last_epoch', sd.last_epoch, -1);
    const stepCount = int(w, '_step_count', sd._step_count, 0);
    this.loadOwnState(sd);
    this.baseLrs = [...baseLrs];
    this.lastEpoch = lastEpoch;
    this.stepCount = stepCount;
    this.#lastLr = [...lastLr];
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
    this.initialStep();
  }

  protected computeLr(): number[] {
    const resumed = this.stepCount === 1 && this.lastEpoch > 0;
    return this.optimizer.paramGroups.map((g, i) =>
      native.cosineAnnealing(resumed ? 'resumed' : 'recursive', this.lastEpoch, this.tMax, this.etaMin, this.baseLrs[i], g.lr));
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => native.cosineAnnealing('closed', this.lastEpoch, this.tMax, this.etaMin, base, base));
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
    this.initialStep();
  }

  protected computeLr(): number[] {
    const change = this.lastEpoch !== 0 && this.lastEpoch % this.stepSize === 0;
    return this.optimizer.paramGroups.map((g) => (change ? g.lr * this.gamma : g.lr));
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
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
