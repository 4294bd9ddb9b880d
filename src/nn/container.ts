import { Tensor } from '../tensor';
import { int, invalid } from '../arguments';
import { TorchError } from '../errors';
import { Module } from './module';

/** Runs its children in order, feeding each output to the next; children are named "0", "1", ... */
export class Sequential extends Module {
  #items: Module[] = [];

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m) => this.append(m));
  }

  get length(): number {
    return this.#items.length;
  }

  append(module: Module): this {
    if (!(module instanceof Module)) throw invalid('nn.Sequential.append', 'module', 'nn.Module', module);
    this.registerModule(String(this.#items.length), module);
    this.#items.push(module);
    return this;
  }

  private index(where: string, i: number): number {
    int(where, 'index', i);
    const k = i < 0 ? this.#items.length + i : i;
    if (k < 0 || k >= this.#items.length) {
      throw new TorchError(`${where}: index ${i} is out of range for Sequential of length ${this.#items.length}`, 'INDEX_ERROR');
    }
    return k;
  }

  /** The child at index i (negative counts from the end), like `seq[i]`. */
  at(i: number): Module {
    return this.#items[this.index('nn.Sequential.at', i)];
  }

  /** Replaces the child at index i, like `seq[i] = module`; the key stays `String(i)`. */
  set(i: number, module: Module): this {
    const k = this.index('nn.Sequential.set', i);
    if (!(module instanceof Module)) throw invalid('nn.Sequential.set', 'module', 'nn.Module', module);
    this.registerModule(String(k), module);
    this.#items[k] = module;
    return this;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.#items[Symbol.iterator]();
  }

  async forward(input: Tensor): Promise<Tensor> {
    this.checkLive('forward');
    let x = input;
    for (const m of this.#items) {
      const next = await m.forward(x);
      // Intermediate handles are ours to free; autograd keeps what backward needs natively.
      if (x !== input && next !== x) x.dispose();
      x = next;
    }
    return x;
  }
}
