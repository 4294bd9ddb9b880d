// The default CPU generator's state, like torch.get_rng_state / torch.set_rng_state: a uint8
// tensor that a checkpoint can hold so that a resumed run draws the same dropout masks.
import { native } from './native';
import { Tensor } from './tensor';
import { invalid } from './arguments';

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
