// nn.Module: the tree of layers, its parameters and state_dict, with PyTorch's names and order.
import { native } from '../native';
import { Disposable } from '../memory';
import { checkDevice, Device } from '../runtime';
import { assertIdle, gradsOf, Tensor, track } from '../tensor';
import { TorchError } from '../errors';
import { bool, invalid, options } from '../arguments';

export type StateDict = Map<string, Tensor>;

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
  /** Keys named in `skip` that the state_dict had and that were therefore not loaded. */
  skippedKeys: string[];
}

function checkName(where: string, name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.includes('.')) throw invalid(where, 'name', 'non-empty string without "."', name);
  return name;
}

export abstract class Module implements Disposable {
  #training = true;
  #disposed = false;
  readonly #parameters = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #modules = new Map<string, Module>();

  /** Computes the output. May return a Promise (the built-in layers do). */
  abstract forward(...inputs: Tensor[]): Promise<Tensor> | Tensor;

  get training(): boolean {
    return this.#training;
  }

  /** Sets training mode on this module and every descendant (dropout on), like `module.train()`. */
  train(mode = true): this {
    bool(`${this.constructor.name}.train`, 'mode', mode);
    this.#training = mode;
    for (const m of this.#modules.values()) m.train(mode);
    return this;
  }

  /** `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Registers a parameter (it becomes a leaf that requires grad) and returns it. */
  registerParameter(name: string, param: Tensor | null): Tensor | null {
    const where = `${this.constructor.name}.registerParameter`;
    checkName(where, name);
    if (param !== null && !(param instanceof Tensor)) throw invalid(where, 'param', 'Tensor or null', param);
    if (param) {
      if (!param.isLeaf) throw new TorchError(`${where}: parameter '${name}' must be a leaf tensor (use .detach())`, 'INVALID_ARGUMENT');
      param._persist().requiresGrad_(true);
    }
    this.#parameters.set(name, param);
    return param;
  }

  registerBuffer(name: string, buffer: Tensor | null): Tensor | null {
    const where = `${this.constructor.name}.registerBuffer`;
    checkName(where, name);
    if (buffer !== null && !(buffer instanceof Tensor)) throw invalid(where, 'buffer', 'Tensor or null', buffer);
    buffer?._persist();
    this.#buffers.set(name, buffer);
    return buffer;
  }

  /** Registers (or replaces) a child module under `name`, which becomes part of state_dict keys. */
  registerModule<M extends Module>(name: string, module: M): M {
    const where = `${this.constructor.name}.registerModule`;
    checkName(where, name);
    if (!(module instanceof Module)) throw invalid(where, 'module', 'nn.Module', module);
    this.#modules.set(name, module);
    return module;
  }

  namedChildren(): [string, Module][] {
    return [...this.#modules];
  }

  children(): Module[] {
    return [...this.#modules.values()];
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, p: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([p, m]);
      for (const [name, child] of m.#modules) walk(child, p ? `${p}.${name}` : name);
    };
    walk(this, prefix);
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  private namedMembers(kind: 'parameters' | 'buffers', prefix: string): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [p, m] of this.namedModules(prefix)) {
      for (const [name, t] of kind === 'parameters' ? m.#parameters : m.#buffers) {
        if (!t || seen.has(t)) continue;
        seen.add(t);
        out.push([p ? `${p}.${name}` : name, t]);
      }
    }
    return out;
  }

  /** Parameters with their dotted names, in PyTorch's order (registration order, depth first). */
  namedParameters(prefix = ''): [string, Tensor][] {
    this.checkLive('namedParameters');
    return this.namedMembers('parameters', prefix);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    this.checkLive('namedBuffers');
    return this.namedMembers('buffers', prefix);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Every parameter and buffer by dotted name, as detached tensors sharing their memory. */
  stateDict(): StateDict {
    this.checkLive('stateDict');
    const out: StateDict = new Map();
    for (const [p, m] of this.namedModules()) {
      for (const table of [m.#parameters, m.#buffers]) {
        for (const [name, t] of table) if (t) out.set(p ? `${p}.${name}` : name, t.detach());
      }
    }
    return out;
  }

  /**
   * Copies a state_dict into this module's parameters and buffers. Missing and unexpected keys
   * (with `strict`) and shape mismatches are reported the way PyTorch's error does, and nothing
   * is changed when it fails.
   */
  async loadStateDict(stateDict: StateDict | Record<string, Tensor>, opts: { strict?: boolean; skip?: string[] } = {}): Promise<LoadStateDictResult> {
    const where = `${this.constructor.name}.loadStateDict`;
    this.checkLive('loadStateDict');
    const o = options(where, opts);
    const strict = o.strict === undefined ? true : bool(where, 'strict', o.strict);
    if (o.skip !== undefined && !(Array.isArray(o.skip) && o.skip.every((k) => typeof k === 'string'))) throw invalid(where, 'skip', 'array of key names', o.skip);
    // Like TorchSharp's skip list: these keys are neither loaded nor reported missing/unexpected.
    const skip = new Set(o.skip ?? []);
    let entries: [string, unknown][];
    if (stateDict instanceof Map) entries = [...stateDict];
    else if (stateDict && typeof stateDict === 'object' && !Array.isArray(stateDict)) entries = Object.entries(stateDict);
    else throw invalid(where, 'stateDict', 'Map<string, Tensor> or Record<string, Tensor>', stateDict);
    const skippedKeys = entries.map(([k]) => k).filter((k) => skip.has(k));
    const given = new Map(entries.filter(([k]) => !skip.has(k)));

    const targets = new Map<string, Tensor>();
    for (const [p, m] of this.namedModules()) {
      for (const table of [m.#parameters, m.#buffers]) {
        for (const [name, t] of table) if (t) targets.set(p ? `${p}.${name}` : name, t);
      }
    }
    skip.forEach((k) => targets.delete(k));
    const missingKeys = [...targets.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !targets.has(k));
    const errors: string[] = [];
    if (strict && missingKeys.length) errors.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}. `);
    if (strict && unexpectedKeys.length) errors.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}. `);
    const keys: string[] = [];
    const dst: Tensor[] = [];
    const src: Tensor[] = [];
    for (const [key, target] of targets) {
      if (!given.has(key)) continue;
      const value = given.get(key);
      if (!(value instanceof Tensor)) throw invalid(where, `stateDict['${key}']`, 'Tensor', value);
      const from = value.shape;
      const to = target.shape;
      if (from.length !== to.length || from.some((d, i) => d !== to[i])) {
        errors.push(`size mismatch for ${key}: copying a param with shape [${from.join(', ')}] from checkpoint, the shape in current model is [${to.join(', ')}].`);
        continue;
      }
      keys.push(key);
      dst.push(target);
      src.push(value);
    }
    if (errors.length) {
      throw new TorchError(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`, 'VALUE_ERROR');
    }
    const dstHandles = dst.map((t) => t._h(where, 'parameter'));
    const srcHandles = src.map((t, i) => t._h(where, `stateDict['${keys[i]}']`));
    await track(where, src, dst, () => native.copyInto(dstHandles, srcHandles));
    return { missingKeys, unexpectedKeys, skippedKeys };
  }

  /** Moves every parameter, buffer and gradient to `device` in place (handles stay valid). */
  async to(device: Device): Promise<this> {
    const where = `${this.constructor.name}.to`;
    this.checkLive('to');
    const dev = checkDevice(where, 'device', device);
    const tensors = [...this.parameters(), ...this.buffers()];
    const handles = tensors.map((t) => t._h(where, 'parameter'));
    await track(where, [], [...tensors, gradsOf(where, tensors)], () => native.moveData(handles, dev));
    return this;
  }

  /** Resets the gradients of every parameter (zeroed, or set to null with `setToNone`). */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    const where = `${this.constructor.name}.zeroGrad`;
    const setToNone = bool(where, 'setToNone', options(where, opts).setToNone ?? false);
    const params = this.parameters();
    assertIdle(where, [], [gradsOf(where, params)]); // gradients only
    native.zeroGrad(params.map((p) => p._h(where, 'parameter', false)), setToNone);
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Frees every parameter and buffer now (none if a pending operation uses one: BUSY). Using the
   * module afterwards throws. */
  dispose(): void {
    const tensors = [...this.namedMembers('parameters', ''), ...this.namedMembers('buffers', '')].map(([, t]) => t);
    assertIdle(`${this.constructor.name}.dispose`, [], tensors.filter((t) => !t.isDisposed));
    for (const t of tensors) t.dispose();
    for (const m of this.modules()) m.#disposed = true;
  }

  /** @internal What a scope() must keep alive when this module is returned from it. */
  keepAlive(): Iterable<unknown> {
    return [...this.namedMembers('parameters', ''), ...this.namedMembers('buffers', '')].map(([, t]) => t);
  }

  protected checkLive(method: string): void {
    if (this.#disposed) throw new TorchError(`${this.constructor.name}.${method}: module has been disposed`, 'DISPOSED');
  }

  /** One line describing this module's own settings (like PyTorch's extra_repr). */
  protected extraRepr(): string {
    return '';
  }

  toString(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;
    const lines = children.map(([name, m]) => `  (${name}): ${m.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}
