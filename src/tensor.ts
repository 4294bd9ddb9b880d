// The user-facing Tensor: a thin typed wrapper over one native handle (native/tensor.cc).
import { inspect } from 'util';
import { execMode } from './autograd';
import { TorchError } from './errors';
import { adopt, Disposable, release } from './memory';
import { BinaryOp, FactoryKind, native, NativeDtype, ReductionOp, ShapeOp, TensorHandle, UnaryOp } from './native';
import { checkDevice, Device } from './runtime';
import { bool, int, invalid, isInt, oneOf, options } from './arguments';

export type Dtype = NativeDtype;
export const DTYPES: readonly Dtype[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
const INTEGER_DTYPES: readonly Dtype[] = ['int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

export type TypedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
export type NestedNumbers = number | NestedNumbers[];
export type TensorData = number[] | NestedNumbers[] | TypedData;
export type ArrayOf = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | BigInt64Array | Uint8Array;

export interface TensorOptions {
  shape?: number[];
  dtype?: Dtype;
  device?: Device;
  requiresGrad?: boolean;
}

/** @internal Whether a backward() accumulated into the gradient of any of `tensors`. */
export type Reached = (tensors: Tensor[]) => boolean;
const afterBackward = new Set<(reached: Reached) => Promise<void>>();
/** @internal Runs `hook` at the end of every backward(), told which leaves it reached (DDP averages
 * its gradients there, as PyTorch's DDP hooks its parameters' gradient accumulators); returns its removal. */
export function onBackward(hook: (reached: Reached) => Promise<void>): () => void {
  afterBackward.add(hook);
  return () => { afterBackward.delete(hook); };
}

// ---- busy state ----------------------------------------------------------------------------
// Pending operations record what they read and write by memory, not by wrapper: several Tensors
// share one storage (stateDict() and detach() make new ones, .grad a new one each time), and
// independent models must not block each other. Keys come from native busyKeys: a storage (a
// tensor's data, or its gradient's), or a tensor's .grad slot. An entry lives while in use.

interface Use {
  reads: number;
  /** The operation updating it, if any. */
  writer: string | null;
  /** The operation that last took it, for messages. */
  by: string;
  /** Run once nothing uses it any more (a scope's deferred dispose). */
  whenIdle: (() => void)[];
}
const inUse = new Map<number, Use>();

/** @internal Part of some tensors that an operation uses; a Tensor alone stands for its data. */
export class Part {
  constructor(readonly kind: 'data' | 'grad', readonly handles: TensorHandle[]) {}
}
/** @internal What an operation uses: a tensor's data, or a Part. */
export type Access = Tensor | Part;

/** @internal The .grad of `tensors` (the slot and the gradient's memory), as read or written. */
export function gradsOf(where: string, tensors: Tensor[], param = 'parameter'): Part {
  return new Part('grad', tensors.map((t) => t._h(where, param, false)));
}

function busyError(where: string, what: string, use: Use, updating: boolean): TorchError {
  const holder = updating ? use.writer! : use.by;
  const why = holder === 'Tensor.backward' ? 'a backward() is still running on tensors it uses'
    : `${what} ${updating ? 'is being updated' : 'is in use'} by another operation (${holder})`;
  return new TorchError(`${where}: ${why}; await the previous operation before starting this one`, 'BUSY');
}

type Keys = { reads: number[]; writes: number[] };

type KeyKind = 'data' | 'slot' | 'grad';

/** The keys of one kind among `accesses`: data comes from Tensors and data Parts, slot and grad from grad Parts. */
function keysOf(accesses: Access[], kind: KeyKind, where: string): number[] {
  const handles = accesses.flatMap((a) => {
    if (a instanceof Tensor) return kind === 'data' ? [a._h(where, 'tensor', false)] : [];
    return (a.kind === 'data') === (kind === 'data') ? a.handles : [];
  });
  return handles.length ? native.busyKeys(handles, kind).filter((k) => k !== 0) : [];
}

/** Throws BUSY if an operation writing `writes` or reading `reads` would race a pending one. */
function check(where: string, what: [string, string], keys: Keys): void {
  for (const k of keys.writes) {
    const use = inUse.get(k);
    if (use) throw busyError(where, what[1], use, use.writer !== null);
  }
  for (const k of keys.reads) {
    const use = inUse.get(k);
    if (use?.writer) throw busyError(where, what[0], use, true);
  }
}

/**
 * The keys of what an operation reads and writes, refusing with BUSY what would race a pending
 * operation. Gradients are looked up only once their slots are known to be free: a pending
 * backward() or zeroGrad may be replacing them.
 */
function resolve(where: string, reads: Access[], writes: Access[], what: [string, string]): Keys {
  const phase = (kinds: KeyKind[]): Keys => {
    const writeKeys = new Set(kinds.flatMap((k) => keysOf(writes, k, where)));
    const readKeys = kinds.flatMap((k) => keysOf(reads, k, where)).filter((k) => !writeKeys.has(k));
    const keys = { reads: [...new Set(readKeys)], writes: [...writeKeys] };
    check(where, what, keys);
    return keys;
  };
  const first = phase(['data', 'slot']);
  const grads = phase(['grad']);
  const written = new Set([...first.writes, ...grads.writes]);
  return { reads: [...new Set([...first.reads, ...grads.reads])].filter((k) => !written.has(k)), writes: [...written] };
}

const TENSOR_WHAT: [string, string] = ['a tensor it reads', 'a tensor it updates'];

/** @internal Refuses with BUSY a synchronous call that would race a pending operation. */
export function assertIdle(where: string, reads: Access[], writes: Access[], what = TENSOR_WHAT): void {
  if (inUse.size > 0) resolve(where, reads, writes, what);
}

function claim(where: string, keys: Keys): () => void {
  const take = (k: number): Use => {
    let use = inUse.get(k);
    if (!use) inUse.set(k, (use = { reads: 0, writer: null, by: where, whenIdle: [] }));
    use.by = where;
    return use;
  };
  keys.writes.forEach((k) => { take(k).writer = where; });
  keys.reads.forEach((k) => { take(k).reads++; });
  return () => {
    const settle = (k: number, change: (use: Use) => void): void => {
      const use = inUse.get(k)!;
      change(use);
      if (use.reads > 0 || use.writer) return;
      inUse.delete(k);
      for (const fn of use.whenIdle) fn();
    };
    keys.writes.forEach((k) => settle(k, (use) => { use.writer = null; }));
    keys.reads.forEach((k) => settle(k, (use) => { use.reads--; }));
  };
}

/**
 * @internal Runs native async work that reads `reads` and writes `writes`, refusing with BUSY an
 * overlap that would race (a write while anything reads or writes the same memory, a read while
 * it is written), and rewrites the error stack to point at the caller's line.
 */
export async function track<T>(where: string, reads: Access[], writes: Access[], start: () => Promise<T>): Promise<T> {
  const done = claim(where, resolve(where, reads, writes, TENSOR_WHAT));
  const site = new Error();
  try {
    return await start();
  } catch (err) {
    if (err instanceof Error && site.stack) err.stack = `${err.name}: ${err.message}\n${site.stack.split('\n').slice(2).join('\n')}`;
    throw err;
  } finally {
    done();
  }
}

type Other = Tensor | number;

export class Tensor implements Disposable {
  #handle: TensorHandle | undefined;

  private constructor(handle: TensorHandle) {
    this.#handle = handle;
  }

  /** @internal Wraps a native handle. Persistent tensors (parameters, optimizer state) are never
   * claimed by a scope. */
  static _wrap(handle: TensorHandle, persistent = false): Tensor {
    const t = new Tensor(handle);
    if (!persistent) adopt(t);
    return t;
  }

  /** @internal Marks this tensor as long-lived: the enclosing scope() will not dispose it. */
  _persist(): this {
    release(this);
    return this;
  }

  /** @internal The native handle, for reading its data (refused while an operation updates it),
   * or with `checkBusy` false for its metadata or for an operation that holds it already. */
  _h(where: string, param = 'tensor', checkBusy = true): TensorHandle {
    if (!this.#handle) throw new TorchError(`${where}: ${param} has been disposed`, 'DISPOSED');
    if (checkBusy) assertIdle(where, [this], [], [param, param]);
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === undefined;
  }

  /** Frees the native memory now (idempotent); refused with BUSY while a pending operation uses
   * its memory. Using the tensor afterwards throws. */
  dispose(): void {
    if (!this.#handle) return;
    assertIdle('Tensor.dispose', [], [this], ['the tensor', 'the tensor']);
    native.release(this.#handle);
    this.#handle = undefined;
  }

  /** @internal Disposes now, or once no pending operation uses its memory (a scope's cleanup). */
  _disposeWhenIdle(): void {
    if (!this.#handle) return;
    const use = inUse.size > 0 ? inUse.get(native.busyKeys([this.#handle], 'data')[0]) : undefined;
    if (use) use.whenIdle.push(() => this._disposeWhenIdle());
    else this.dispose();
  }

  private meta(where: string) {
    return native.meta(this._h(where, 'tensor', false));
  }

  get shape(): number[] { return this.meta('Tensor.shape').shape; }
  get dtype(): Dtype { return this.meta('Tensor.dtype').dtype; }
  get device(): string { return this.meta('Tensor.device').device; }
  get ndim(): number { return this.shape.length; }
  get isLeaf(): boolean { return this.meta('Tensor.isLeaf').isLeaf; }
  /** Whether the memory is page-locked (DataLoader's pinMemory), like is_pinned(). */
  isPinned(): boolean { return this.meta('Tensor.isPinned').isPinned; }
  get requiresGrad(): boolean { return this.meta('Tensor.requiresGrad').requiresGrad; }
  set requiresGrad(flag: boolean) { this.requiresGrad_(flag); }

  numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Sets whether autograd records operations on this tensor; refused with BUSY while a pending
   * operation uses it (an op in flight reads the flag). */
  requiresGrad_(flag = true): this {
    const where = 'Tensor.requiresGrad_';
    assertIdle(where, [], [this]);
    native.setRequiresGrad(this._h(where), bool(where, 'flag', flag));
    return this;
  }

  /** The accumulated gradient (a new handle sharing its memory), or null. */
  get grad(): Tensor | null {
    const where = 'Tensor.grad';
    const h = this._h(where);
    assertIdle(where, [gradsOf(where, [this], 'tensor')], []);
    const g = native.grad(h);
    return g ? Tensor._wrap(g) : null;
  }

  /** Sets the gradient to a copy of `g` (or none), like assigning `.grad` in PyTorch. */
  set grad(g: Tensor | null) {
    const where = 'Tensor.grad';
    if (g !== null && !(g instanceof Tensor)) throw invalid(where, 'grad', 'Tensor or null', g);
    const h = this._h(where);
    const gh = g?._h(where, 'grad');
    assertIdle(where, g ? [g] : [], [gradsOf(where, [this], 'tensor')]);
    native.setGrad(h, gh);
  }

  /** The single value of a one-element tensor, as a JS number. */
  item(): number {
    return native.item(this._h('Tensor.item'));
  }

  /** A copy of the elements in C order. float16/bfloat16 widen to Float32Array; bool gives Uint8Array. */
  toArray(): ArrayOf {
    const dtype = this.dtype;
    const buf = native.toBuffer(this._h('Tensor.toArray'));
    switch (dtype) {
      case 'float64': return new Float64Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int16': return new Int16Array(buf);
      case 'int8': return new Int8Array(buf);
      case 'uint8': case 'bool': return new Uint8Array(buf);
      default: return new Float32Array(buf);
    }
  }

  /** A tensor on another device and/or of another dtype (this one if nothing changes). */
  to(target: Device | { device?: Device; dtype?: Dtype; nonBlocking?: boolean }): Tensor {
    const where = 'Tensor.to';
    const o = typeof target === 'string' ? { device: target } : options(where, target);
    const device = o.device === undefined ? this.device : checkDevice(where, 'device', o.device);
    const dtype = o.dtype === undefined ? null : oneOf(where, 'dtype', o.dtype, DTYPES);
    const nonBlocking = o.nonBlocking === undefined ? false : bool(where, 'nonBlocking', o.nonBlocking);
    return Tensor._wrap(native.to(this._h(where), device, dtype, nonBlocking, execMode()));
  }

  // ---- math (cheap, synchronous) ----
  private binary(op: BinaryOp, other: Other): Tensor {
    const where = `Tensor.${op}`;
    let b: TensorHandle | number;
    if (typeof other === 'number') b = other;
    else if (other instanceof Tensor) b = other._h(where, 'other');
    else throw invalid(where, 'other', 'Tensor or number', other);
    return Tensor._wrap(native.binary(op, this._h(where), b, execMode()));
  }

  add(other: Other): Tensor { return this.binary('add', other); }
  sub(other: Other): Tensor { return this.binary('sub', other); }
  mul(other: Other): Tensor { return this.binary('mul', other); }
  div(other: Other): Tensor { return this.binary('div', other); }
  pow(other: Other): Tensor { return this.binary('pow', other); }
  eq(other: Other): Tensor { return this.binary('eq', other); }
  ne(other: Other): Tensor { return this.binary('ne', other); }
  lt(other: Other): Tensor { return this.binary('lt', other); }
  le(other: Other): Tensor { return this.binary('le', other); }
  gt(other: Other): Tensor { return this.binary('gt', other); }
  ge(other: Other): Tensor { return this.binary('ge', other); }
  maximum(other: Other): Tensor { return this.binary('maximum', other); }
  minimum(other: Other): Tensor { return this.binary('minimum', other); }

  private unary(op: UnaryOp): Tensor {
    return Tensor._wrap(native.unary(op, this._h(`Tensor.${op}`), execMode()));
  }

  neg(): Tensor { return this.unary('neg'); }
  abs(): Tensor { return this.unary('abs'); }
  exp(): Tensor { return this.unary('exp'); }
  log(): Tensor { return this.unary('log'); }
  sqrt(): Tensor { return this.unary('sqrt'); }
  relu(): Tensor { return this.unary('relu'); }
  sigmoid(): Tensor { return this.unary('sigmoid'); }
  tanh(): Tensor { return this.unary('tanh'); }
  isnan(): Tensor { return this.unary('isnan'); }
  /** A tensor sharing this one's memory, without autograd history. */
  detach(): Tensor { return this.unary('detach'); }
  clone(): Tensor { return this.unary('clone'); }
  contiguous(): Tensor { return this.unary('contiguous'); }

  private reduce(op: ReductionOp, dim: number | number[] | undefined, keepdim: boolean): Tensor {
    const where = `Tensor.${op}`;
    const dims = dim === undefined ? null : Array.isArray(dim) ? dim.map((d) => int(where, 'dim', d)) : [int(where, 'dim', dim)];
    return Tensor._wrap(native.reduce(op, this._h(where), dims, bool(where, 'keepdim', keepdim), execMode()));
  }

  sum(dim?: number | number[], keepdim = false): Tensor { return this.reduce('sum', dim, keepdim); }
  mean(dim?: number | number[], keepdim = false): Tensor { return this.reduce('mean', dim, keepdim); }
  amax(dim: number | number[] = [], keepdim = false): Tensor { return this.reduce('amax', dim, keepdim); }
  amin(dim: number | number[] = [], keepdim = false): Tensor { return this.reduce('amin', dim, keepdim); }

  /** Index of the largest value (over all elements, or along `dim`), as int64. */
  argmax(dim?: number, keepdim = false): Tensor {
    const where = 'Tensor.argmax';
    const d = dim === undefined ? null : int(where, 'dim', dim);
    return Tensor._wrap(native.argmax(this._h(where), d, bool(where, 'keepdim', keepdim)));
  }

  private shapeOp(op: ShapeOp, args: number[]): Tensor {
    return Tensor._wrap(native.shapeOp(op, this._h(`Tensor.${op}`), args, execMode()));
  }

  reshape(...shape: number[] | [number[]]): Tensor {
    const s = (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    return this.shapeOp('reshape', s.map((d) => int('Tensor.reshape', 'shape', d, -1)));
  }
  view(...shape: number[] | [number[]]): Tensor { return this.reshape(...shape); }
  unsqueeze(dim: number): Tensor { return this.shapeOp('unsqueeze', [int('Tensor.unsqueeze', 'dim', dim)]); }
  squeeze(dim?: number): Tensor { return this.shapeOp('squeeze', dim === undefined ? [] : [int('Tensor.squeeze', 'dim', dim)]); }
  flatten(startDim = 0, endDim = -1): Tensor {
    return this.shapeOp('flatten', [int('Tensor.flatten', 'startDim', startDim), int('Tensor.flatten', 'endDim', endDim)]);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return this.shapeOp('transpose', [int('Tensor.transpose', 'dim0', dim0), int('Tensor.transpose', 'dim1', dim1)]);
  }
  permute(...dims: number[]): Tensor { return this.shapeOp('permute', dims.map((d) => int('Tensor.permute', 'dims', d))); }

  /**
   * Computes gradients of this tensor (a scalar unless `gradient` is given) into the leaves'
   * `.grad`, accumulating, off the JS thread.
   */
  async backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): Promise<void> {
    const where = 'Tensor.backward';
    if (gradient !== undefined && !(gradient instanceof Tensor)) throw invalid(where, 'gradient', 'Tensor or undefined', gradient);
    const retain = opts.retainGraph === undefined ? false : bool(where, 'retainGraph', opts.retainGraph);
    const h = this._h(where);
    const g = gradient?._h(where, 'gradient');
    // Busy: the gradients of the leaves it reaches, and their data, which the graph reads.
    const leaves = native.graphLeaves(h);
    const leafSlots = new Set(leaves.length ? native.busyKeys(leaves, 'slot') : []);
    try {
      const reads = [this, ...(gradient ? [gradient] : []), new Part('data', leaves)];
      await track(where, reads, [new Part('grad', leaves)], () => native.backward(h, g, retain));
    } finally {
      leaves.forEach((l) => native.release(l));
    }
    if (afterBackward.size === 0) return;
    const reached: Reached = (tensors) => keysOf([gradsOf(where, tensors)], 'slot', where).some((k) => leafSlots.has(k));
    for (const hook of afterBackward) await hook(reached);
  }

  toString(): string {
    if (this.isDisposed) return 'tensor(<disposed>)';
    const shape = this.shape;
    const n = shape.reduce((a, b) => a * b, 1);
    const values = n <= 20 ? Array.from(this.toArray() as ArrayLike<number | bigint>, String).join(', ') : '...';
    return `tensor([${values}], shape=[${shape.join(', ')}], dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function flattenNested(data: NestedNumbers[], where: string): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  let level: NestedNumbers[] = data;
  for (;;) {
    shape.push(level.length);
    if (level.length === 0 || !Array.isArray(level[0])) break;
    level = level[0] as NestedNumbers[];
  }
  const values: number[] = [];
  const walk = (node: NestedNumbers[], depth: number): void => {
    if (node.length !== shape[depth]) throw invalid(where, 'data', `a rectangular nested array (length ${shape[depth]} at depth ${depth})`, node);
    for (const v of node) {
      if (depth + 1 < shape.length) {
        if (!Array.isArray(v)) throw invalid(where, 'data', `an array at depth ${depth + 1}`, v);
        walk(v, depth + 1);
      } else {
        if (typeof v !== 'number') throw invalid(where, 'data', 'numbers', v);
        values.push(v);
      }
    }
  };
  walk(data, 0);
  return { values, shape };
}

/**
 * Creates a tensor from JS data (copied), like `torch.tensor`. Number arrays (nested or flat)
 * default to float32; typed arrays keep their type (Float32Array -> float32, BigInt64Array -> int64,
 * ...) unless `dtype` says otherwise.
 */
export function tensor(data: TensorData, opts: TensorOptions = {}): Tensor {
  const where = 'tensor';
  const o = options(where, opts);
  let typed: TypedData;
  let inferred: number[];
  let natural: Dtype;
  if (Array.isArray(data)) {
    const { values, shape } = flattenNested(data as NestedNumbers[], where);
    typed = Float64Array.from(values);
    inferred = shape;
    natural = 'float32';
  } else if (data instanceof Float32Array) { typed = data; inferred = [data.length]; natural = 'float32'; }
  else if (data instanceof Float64Array) { typed = data; inferred = [data.length]; natural = 'float64'; }
  else if (data instanceof Int32Array) { typed = data; inferred = [data.length]; natural = 'int32'; }
  else if (data instanceof BigInt64Array) { typed = data; inferred = [data.length]; natural = 'int64'; }
  else if (data instanceof Uint8Array) { typed = data; inferred = [data.length]; natural = 'uint8'; }
  else throw invalid(where, 'data', 'number[], Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array', data);

  const dtype = o.dtype === undefined ? natural : oneOf(where, 'dtype', o.dtype, DTYPES);
  let shape = inferred;
  if (o.shape !== undefined) {
    if (!Array.isArray(o.shape) || !o.shape.every((d) => isInt(d) && d >= 0)) throw invalid(where, 'shape', 'array of non-negative integers', o.shape);
    const count = o.shape.reduce((a, b) => a * b, 1);
    if (count !== typed.length) {
      throw new TorchError(`${where}: shape [${o.shape.join(', ')}] holds ${count} elements but data has ${typed.length}`, 'INVALID_ARGUMENT');
    }
    shape = o.shape;
  }
  if (INTEGER_DTYPES.includes(dtype) && !(typed instanceof BigInt64Array)) {
    for (let i = 0; i < typed.length; i++) {
      if (!Number.isInteger(typed[i])) throw invalid(where, 'data', `integers for dtype ${dtype}`, typed[i]);
    }
  }
  const device = o.device === undefined ? 'cpu' : checkDevice(where, 'device', o.device);
  const t = Tensor._wrap(native.fromData(typed, shape, dtype, device));
  if (o.requiresGrad) t.requiresGrad_(true);
  return t;
}

function factoryOptions(where: string, shape: unknown, opts: TensorOptions | undefined) {
  if (!Array.isArray(shape) || !shape.every((d) => isInt(d) && d >= 0)) throw invalid(where, 'shape', 'array of non-negative integers', shape);
  const o = options(where, opts);
  return {
    shape: shape as number[],
    dtype: o.dtype === undefined ? 'float32' as Dtype : oneOf(where, 'dtype', o.dtype, DTYPES),
    device: o.device === undefined ? 'cpu' : checkDevice(where, 'device', o.device),
    requiresGrad: o.requiresGrad === undefined ? false : bool(where, 'requiresGrad', o.requiresGrad),
  };
}

function factory(kind: FactoryKind, shape: number[], opts: TensorOptions | undefined, value = 0): Tensor {
  const f = factoryOptions(kind, shape, opts);
  const t = Tensor._wrap(native.factory(kind, f.shape, value, f.dtype, f.device));
  return f.requiresGrad ? t.requiresGrad_(true) : t;
}

export function zeros(shape: number[], opts?: TensorOptions): Tensor { return factory('zeros', shape, opts); }
export function ones(shape: number[], opts?: TensorOptions): Tensor { return factory('ones', shape, opts); }
export function empty(shape: number[], opts?: TensorOptions): Tensor { return factory('empty', shape, opts); }
/** Uniform on [0, 1) from libtorch's generator (same stream as `torch.rand` for the same seed). */
export function rand(shape: number[], opts?: TensorOptions): Tensor { return factory('rand', shape, opts); }
/** Standard normal from libtorch's generator (same stream as `torch.randn` for the same seed). */
export function randn(shape: number[], opts?: TensorOptions): Tensor { return factory('randn', shape, opts); }
export function full(shape: number[], value: number, opts?: TensorOptions): Tensor {
  if (typeof value !== 'number') throw invalid('full', 'value', 'number', value);
  return factory('full', shape, opts, value);
}

/** `torch.arange(end)` or `torch.arange(start, end, step)`; defaults to int64 like PyTorch for integers. */
export function arange(start: number, end?: number, step = 1, opts: Omit<TensorOptions, 'shape'> = {}): Tensor {
  const where = 'arange';
  const [s, e] = end === undefined ? [0, start] : [start, end];
  for (const [name, v] of [['start', s], ['end', e], ['step', step]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(where, name, 'finite number', v);
  }
  if (step === 0) throw invalid(where, 'step', 'non-zero number', step);
  const allInt = [s, e, step].every(Number.isInteger);
  const f = factoryOptions(where, [], { ...opts, dtype: opts.dtype ?? (allInt ? 'int64' : 'float32') });
  return Tensor._wrap(native.arange(s, e, step, f.dtype, f.device));
}

