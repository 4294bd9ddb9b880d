// Random numbers (native/random.cc): libtorch's global generator (seeding, its state, draws made
// as torchvision and torch.utils.data make theirs) and torchbridge's own per-sample generator.
import { native } from './native';
import { Tensor } from './tensor';
import { invalid, isInt } from './arguments';

/** Seeds libtorch's generators (CPU and CUDA), like `torch.manual_seed`. */
export function manualSeed(seed: number | bigint): void {
  if (!(isInt(seed) && Number.isSafeInteger(seed)) && typeof seed !== 'bigint') {
    throw invalid('manualSeed', 'seed', 'integer', seed);
  }
  native.manualSeed(seed);
}

// The default CPU generator's state, like torch.get_rng_state / torch.set_rng_state: a uint8
// tensor that a checkpoint can hold so that a resumed run draws the same dropout masks.
export function getRngState(): Tensor {
  return Tensor._wrap(native.getRngState());
}

export function setRngState(state: Tensor): void {
  if (!(state instanceof Tensor)) throw invalid('setRngState', 'state', 'uint8 Tensor from getRngState()', state);
  if (state.dtype !== 'uint8') throw invalid('setRngState', 'state', 'uint8 Tensor from getRngState()', `${state.dtype} tensor`);
  native.setRngState(state._h('setRngState', 'state'));
}

/**
 * torch.Generator for the CPU: its own stream, apart from the global one. `randomSplit` and the
 * DataLoader take one (`generator`) and draw from it exactly as PyTorch's do from theirs.
 */
export class Generator {
  #state: Tensor;
  #seed: bigint = 67280421310721n; // torch.Generator()'s default seed

  constructor() {
    this.#state = Generator.seeded(this.#seed);
  }

  private static seeded(seed: bigint): Tensor {
    return Tensor._wrap(native.generatorDraw('seed', null, seed)[1], true);
  }

  /** Seeds the generator, like manual_seed (returns it, for `new Generator().manualSeed(0)`). */
  manualSeed(seed: number | bigint): this {
    const ok = (typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) || (typeof seed === 'bigint' && seed >= 0n && seed < 2n ** 64n);
    if (!ok) throw invalid('Generator.manualSeed', 'seed', 'non-negative integer', seed);
    this.#seed = BigInt(seed);
    this.replace(Generator.seeded(this.#seed));
    return this;
  }

  initialSeed(): bigint {
    return this.#seed;
  }

  /** A copy of the state (a uint8 tensor), like get_state(). */
  getState(): Tensor {
    return this.#state.clone();
  }

  setState(state: Tensor): void {
    if (!(state instanceof Tensor) || state.dtype !== 'uint8') throw invalid('Generator.setState', 'state', 'uint8 Tensor from getState()', state);
    native.release(native.generatorDraw('int64', state._h('Generator.setState', 'state'), 0)[1]); // set_state checks the bytes
    this.replace(state.clone()._persist());
  }

  /** @internal torch.empty((), dtype=torch.int64).random_(generator=self).item() */
  _int64(): bigint {
    const [value, state] = native.generatorDraw('int64', this.#state._h('Generator'), 0);
    this.replace(Tensor._wrap(state, true));
    return value;
  }

  /** @internal torch.randperm(n, generator=self).tolist() */
  _randperm(n: number): number[] {
    const [perm, state] = native.generatorDraw('randperm', this.#state._h('Generator'), n);
    this.replace(Tensor._wrap(state, true));
    return perm;
  }

  private replace(state: Tensor): void {
    this.#state.dispose();
    this.#state = state;
  }
}

/**
 * @internal torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist(), as
 * RandomSampler and DistributedSampler shuffle.
 */
export function randperm(n: number, seed: number | bigint): number[] {
  return native.randperm(n, seed);
}

/**
 * @internal torch.empty((), dtype=torch.int64).random_().item() from the global generator: the seed
 * torch's DataLoader draws per iterator and RandomSampler per epoch.
 */
export function drawSeed(): bigint {
  return native.torchDraw('int64');
}

/** Where random transforms draw from. */
export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  uniform(a: number, b: number): number;
  /** exp of a uniform draw in [a, b), in float32 as torchvision's torch.exp computes it. */
  expUniform(a: number, b: number): number;
  /** An integer in [low, high). */
  randint(low: number, high: number): number;
}

/**
 * torchbridge's own draws: a small generator seeded per (seed, epoch, sample), so every image's
 * draws are fixed whatever order or concurrency decodes them.
 */
export class Rng implements RandomSource {
  #state: number;

  constructor(...seeds: number[]) {
    let h = 0x9e3779b9;
    for (const s of seeds) {
      h = Math.imul(h ^ (s >>> 0), 0x85ebca6b) ^ Math.imul((s / 2 ** 32) >>> 0, 0xc2b2ae35);
      h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) >>> 0;
    }
    this.#state = h >>> 0;
  }

  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  expUniform(a: number, b: number): number {
    return Math.fround(Math.exp(this.uniform(a, b)));
  }

  /** An integer in [low, high). */
  randint(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low));
  }
}

/**
 * PyTorch's draws: each one from libtorch's global generator, made as torchvision makes it, so a
 * pipeline run in torchvision's order after the same torch.manual_seed draws the same values.
 */
export class TorchRng implements RandomSource {
  next(): number {
    return native.torchDraw('rand');
  }

  uniform(a: number, b: number): number {
    return native.torchDraw('uniform', a, b);
  }

  expUniform(a: number, b: number): number {
    return native.torchDraw('expUniform', a, b);
  }

  randint(low: number, high: number): number {
    return native.torchDraw('randint', low, high);
  }
}
