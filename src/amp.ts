// Mixed precision, like torch.autocast and torch.cuda.amp.GradScaler. The native side is
// native/amp.cc; the autocast switches travel with every op in the execution context
// (src/autograd.ts), and are set and read here.
import { currentContext, withContext } from './autograd';
import { TorchError } from './errors';
import { native } from './native';
import { cuda, Device } from './runtime';
import { gradsOf, Tensor, tensor, track } from './tensor';
import { Optimizer } from './optim/optimizer';
import { bool, finite, int, invalid, oneOf, options } from './arguments';

export type AutocastDtype = 'bfloat16' | 'float16';

/** @internal Autocast's lower-precision dtype on one device type, as native/autograd.cc decodes it; 0 = off. */
export const enum AutocastCode { Off = 0, BFloat16 = 1, Float16 = 2 }

/** @internal The autocast settings in force here. */
export function autocastState(): { cpu: AutocastCode; cuda: AutocastCode } {
  const c = currentContext();
  return { cpu: c.autocastCpu, cuda: c.autocastCuda };
}

export interface AutocastOptions {
  /** Which device's ops autocast: 'cuda' when CUDA is available, else 'cpu'. */
  deviceType?: 'cpu' | 'cuda';
  /** The lower precision: float16 on CUDA and bfloat16 on CPU by default, as in PyTorch. */
  dtype?: AutocastDtype;
  /** false runs `fn` with autocast off on that device (to exclude a region). */
  enabled?: boolean;
}

/**
 * Runs `fn` (sync or async) with autocast, like `with torch.autocast(device_type, dtype):`. Every
 * op it starts, awaited or not, runs eligible math (conv, linear, ...) in the lower precision and
 * keeps precision-sensitive ops (softmax, losses, ...) in float32, on whatever thread it runs.
 */
export function autocast<T>(opts: AutocastOptions, fn: () => T): T {
  const where = 'autocast';
  const o = options(where, opts);
  if (typeof fn !== 'function') throw invalid(where, 'fn', 'function', fn);
  const deviceType = oneOf(where, 'deviceType', o.deviceType ?? (cuda.isAvailable() ? 'cuda' : 'cpu'), ['cpu', 'cuda'] as const);
  const dtype = oneOf(where, 'dtype', o.dtype ?? (deviceType === 'cuda' ? 'float16' : 'bfloat16'), ['bfloat16', 'float16'] as const);
  const enabled = bool(where, 'enabled', o.enabled ?? true);
  if (enabled && deviceType === 'cuda' && !cuda.isAvailable()) {
    throw new TorchError(`${where}: deviceType 'cuda' but CUDA is not available here; use { deviceType: 'cpu', dtype: 'bfloat16' }`, 'DEVICE_UNAVAILABLE');
  }
  if (enabled && deviceType === 'cpu' && dtype === 'float16') {
    throw new TorchError(`${where}: CPU autocast supports dtype 'bfloat16' (received 'float16')`, 'INVALID_ARGUMENT');
  }
  const code = !enabled ? AutocastCode.Off : dtype === 'bfloat16' ? AutocastCode.BFloat16 : AutocastCode.Float16;
  return withContext(deviceType === 'cuda' ? { autocastCuda: code } : { autocastCpu: code }, fn);
}

/** Whether autocast is on here for a device type, like `torch.is_autocast_enabled()`. */
export function isAutocastEnabled(deviceType: 'cpu' | 'cuda' = 'cuda'): boolean {
  const s = autocastState();
  return oneOf('isAutocastEnabled', 'deviceType', deviceType, ['cpu', 'cuda'] as const) === 'cuda' ? s.cuda !== AutocastCode.Off : s.cpu !== AutocastCode.Off;
}

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
}

/** PyTorch's GradScaler.state_dict() layout. */
export interface GradScalerStateDict {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  _growth_tracker: number;
}

type Stage = 'unscaled' | 'stepped';

/**
 * Loss scaling for float16 training, with torch.cuda.amp.GradScaler's semantics: scale() the
 * loss, backward, step() (which unscales, then skips the step if any gradient is inf/NaN), then
 * update() (back off after a skipped step, grow after `growthInterval` clean ones).
 */
export class GradScaler {
  readonly #enabled: boolean;
  readonly #settings: Required<Omit<GradScalerOptions, 'enabled'>>;
  #initTracker = 0;
  #scale: Tensor | null = null;
  #growthTracker: Tensor | null = null;
  readonly #stages = new Map<Optimizer<{ lr: number }, object>, { stage: Stage; foundInf: Tensor }>();

  constructor(opts: GradScalerOptions = {}) {
    const where = 'amp.GradScaler';
    const o = options(where, opts);
    this.#settings = GradScaler.#validate(where, {
      initScale: o.initScale ?? 2 ** 16, growthFactor: o.growthFactor ?? 2, backoffFactor: o.backoffFactor ?? 0.5, growthInterval: o.growthInterval ?? 2000,
    });
    this.#enabled = bool(where, 'enabled', o.enabled ?? true);
  }

  static #validate(where: string, o: Record<keyof Omit<GradScalerOptions, 'enabled'>, unknown>): Required<Omit<GradScalerOptions, 'enabled'>> {
    const initScale = finite(where, 'initScale', o.initScale, Number.MIN_VALUE);
    const growthFactor = finite(where, 'growthFactor', o.growthFactor, 1);
    if (growthFactor === 1) throw invalid(where, 'growthFactor', 'a number > 1', growthFactor);
    const backoffFactor = finite(where, 'backoffFactor', o.backoffFactor, 0, 1);
    if (backoffFactor === 0 || backoffFactor === 1) throw invalid(where, 'backoffFactor', 'a number in (0, 1)', backoffFactor);
    const growthInterval = int(where, 'growthInterval', o.growthInterval, 1);
    return { initScale, growthFactor, backoffFactor, growthInterval };
  }

  get growthFactor(): number { return this.#settings.growthFactor; }
  get backoffFactor(): number { return this.#settings.backoffFactor; }
  get growthInterval(): number { return this.#settings.growthInterval; }

  isEnabled(): boolean {
    return this.#enabled;
  }

  /** The loss (or outputs) multiplied by the current scale; the scale lives on their device. */
  scale(outputs: Tensor): Tensor {
    const where = 'amp.GradScaler.scale';
    if (!(outputs instanceof Tensor)) throw invalid(where, 'outputs', 'Tensor', outputs);
    if (!this.#enabled) return outputs;
    if (!this.#scale) this.#lazyInit(outputs.device);
    return outputs.mul(this.#scale!);
  }

  #lazyInit(device: string): void {
    this.#scale = tensor([this.#settings.initScale], { dtype: 'float32', device: device as Device })._persist();
    this.#growthTracker = tensor(Int32Array.of(this.#initTracker), { dtype: 'int32', device: device as Device })._persist();
  }

  #stateFor(optimizer: Optimizer<{ lr: number }, object>, where: string) {
    if (!(optimizer instanceof Optimizer)) throw invalid(where, 'optimizer', 'an optim.Optimizer', optimizer);
    return this.#stages.get(optimizer);
  }

  /** Divides the optimizer's gradients by the scale, in place, recording whether any is inf/NaN. */
  async unscale_(optimizer: Optimizer<{ lr: number }, object>): Promise<void> {
    const where = 'amp.GradScaler.unscale_';
    const state = this.#stateFor(optimizer, where);
    if (!this.#enabled) return;
    if (!this.#scale) throw new TorchError(`${where}: call scale() on the loss before unscale_()`, 'VALUE_ERROR');
    if (state?.stage === 'unscaled') throw new TorchError(`${where}: unscale_() has already been called on this optimizer since the last update()`, 'VALUE_ERROR');
    if (state?.stage === 'stepped') throw new TorchError(`${where}: unscale_() is being called after step()`, 'VALUE_ERROR');
    const foundInf = tensor([0], { dtype: 'float32', device: this.#scale.device as Device })._persist();
    const params = optimizer.paramGroups.flatMap((g) => g.params);
    const handles = params.map((p) => p._h(where, 'parameter'));
    const [scale, found] = [this.#scale._h(where), foundInf._h(where)];
    try {
      // Divides the gradients in place.
      await track(where, [this.#scale], [gradsOf(where, params), foundInf], () => native.ampUnscale(handles, scale, found));
    } catch (err) {
      foundInf.dispose();
      throw err;
    }
    this.#stages.set(optimizer, { stage: 'unscaled', foundInf });
  }

  /**
   * Unscales (unless unscale_() was called) and runs optimizer.step() unless a gradient was
   * inf/NaN. Resolves to whether the step ran (PyTorch returns the step's result or None).
   */
  async step(optimizer: Optimizer<{ lr: number }, object>): Promise<boolean> {
    const where = 'amp.GradScaler.step';
    const state = this.#stateFor(optimizer, where);
    if (!this.#enabled) {
      await optimizer.step();
      return true;
    }
    if (state?.stage === 'stepped') throw new TorchError(`${where}: step() has already been called since the last update()`, 'VALUE_ERROR');
    if (!state) await this.unscale_(optimizer);
    const current = this.#stages.get(optimizer)!;
    // Reading found_inf is a synchronisation, as in PyTorch's GradScaler.step.
    const skip = current.foundInf.item() !== 0;
    if (!skip) await optimizer.step();
    current.stage = 'stepped';
    return !skip;
  }

  /** Updates the scale after this iteration's steps; `newScale` sets it outright. */
  async update(newScale?: number): Promise<void> {
    const where = 'amp.GradScaler.update';
    if (!this.#enabled || !this.#scale) return;
    try {
      if (newScale !== undefined) {
        const v = finite(where, 'newScale', newScale, Number.MIN_VALUE);
        const replacement = tensor([v], { dtype: 'float32', device: this.#scale.device as Device })._persist();
        this.#scale.dispose();
        this.#scale = replacement;
        return;
      }
      const found = [...this.#stages.values()].map((s) => s.foundInf);
      if (found.length === 0) throw new TorchError(`${where}: no inf checks were recorded prior to update(); call step() first`, 'VALUE_ERROR');
      let combined = found[0].clone();
      for (const f of found.slice(1)) {
        const sum = combined.add(f);
        combined.dispose();
        combined = sum;
      }
      const [scale, tracker] = [this.#scale, this.#growthTracker!];
      const handles = [scale._h(where), tracker._h(where), combined._h(where)] as const;
      try {
        await track(where, [combined], [scale, tracker], () => native.ampUpdateScale(...handles, this.growthFactor, this.backoffFactor, this.growthInterval));
      } finally {
        combined.dispose();
      }
    } finally {
      for (const s of this.#stages.values()) s.foundInf.dispose();
      this.#stages.clear();
    }
  }

  /** The current scale (1 when disabled), like get_scale(). */
  getScale(): number {
    if (!this.#enabled) return 1;
    return this.#scale ? this.#scale.item() : this.#settings.initScale;
  }

  stateDict(): GradScalerStateDict | Record<string, never> {
    if (!this.#enabled) return {};
    return {
      scale: this.getScale(),
      growth_factor: this.growthFactor,
      backoff_factor: this.backoffFactor,
      growth_interval: this.growthInterval,
      _growth_tracker: this.#growthTracker ? this.#growthTracker.item() : this.#initTracker,
    };
  }

  /** Restores stateDict() output (here or from PyTorch), growth settings included, as PyTorch does. */
  loadStateDict(sd: GradScalerStateDict): void {
    const where = 'amp.GradScaler.loadStateDict';
    if (!this.#enabled) throw new TorchError(`${where}: the scaler is disabled`, 'VALUE_ERROR');
    if (!sd || typeof sd !== 'object' || Object.keys(sd).length === 0) {
      throw new TorchError(`${where}: the state dict is empty (it was saved from a disabled scaler)`, 'VALUE_ERROR');
    }
    const settings = GradScaler.#validate(where, {
      initScale: sd.scale, growthFactor: sd.growth_factor, backoffFactor: sd.backoff_factor, growthInterval: sd.growth_interval,
    });
    const tracker = int(where, '_growth_tracker', sd._growth_tracker, 0);
    Object.assign(this.#settings, settings);
    this.#initTracker = tracker;
    if (this.#scale) {
      const device = this.#scale.device;
      this.#scale.dispose();
      this.#growthTracker!.dispose();
      this.#lazyInit(device);
    }
  }
}
