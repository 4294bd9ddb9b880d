// The user-facing Tensor: a thin typed wrapper over one native handle (native/tensor.cc).
import { inspect } from 'util';
import { execMode } from './autograd';
import { TorchError } from './errors';
import { adopt, Disposable, release } from './memory';
import { BinaryOp, FactoryKind, native, NativeDtype, ReduceOp, ShapeOp, SplitOp, TensorHandle, UnaryOp } from './native';
import { checkDevice, Device } from './runtime';
import { bool, describe, finite, int, invalid, isInt, oneOf, options } from './arguments';

export type Dtype = NativeDtype;
/** libtorch's names of the quantized dtypes, and PyTorch's (torch.qint8). */
const QUANTIZED_DTYPE_NAMES: Record<string, string> = { QInt8: 'qint8', QUInt8: 'quint8', QInt32: 'qint32' };
export const DTYPES: readonly Dtype[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
const INTEGER_DTYPES: readonly Dtype[] = ['int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

export type TypedData = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | BigInt64Array | Uint8Array;
/** Numbers, bigints (int64) or booleans (bool), nested to any depth; every level rectangular. */
export type NestedNumbers = number | bigint | boolean | NestedNumbers[];
export type TensorData = number | bigint | boolean | NestedNumbers[] | TypedData;
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
export function track<T>(where: string, reads: Access[], writes: Access[], start: () => Promise<T>): Promise<T> {
  return trackDecided(where, (claimAccess) => {
    claimAccess(reads, writes);
    return start();
  }, new Error());
}

/**
 * @internal track() for a native call that decides what it touches: it calls `claimAccess` once,
 * synchronously and before it queues any work (a BUSY thrown there cancels the call).
 */
export async function trackDecided<T>(
  where: string, start: (claimAccess: (reads: Access[], writes: Access[]) => void) => Promise<T>, site = new Error(),
): Promise<T> {
  let done = (): void => {};
  try {
    return await start((reads, writes) => {
      done = claim(where, resolve(where, reads, writes, TENSOR_WHAT));
    });
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
  /** The dtype; a quantized tensor reports its quantized dtype ('qint8', 'quint8' or 'qint32'; see quantizedDtype). */
  get dtype(): Dtype {
    const d: string = this.meta('Tensor.dtype').dtype;
    return (QUANTIZED_DTYPE_NAMES[d] ?? d) as Dtype;
  }
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

  // ---- quantized tensors (loaded from quantized checkpoints) ----
  /** The quantizer, releasing the per-channel tensors except the one asked for. */
  private quantizer(where: string, keep?: 'scales' | 'zeroPoints', required = true) {
    const q = native.quantizedParams(this._h(where, 'tensor', false));
    for (const k of ['scales', 'zeroPoints'] as const) if (q?.[k] && k !== keep) native.release(q[k]!);
    if (!q && !required) return null;
    if (!q) throw new TorchError(`${where}: the tensor is not quantized (its dtype is ${this.dtype})`, 'INVALID_ARGUMENT');
    return q;
  }

  /** Whether this is a quantized tensor (qint8, quint8 or qint32 values with a quantizer), like is_quantized. */
  get isQuantized(): boolean { return this.quantizer('Tensor.isQuantized', undefined, false) !== null; }
  /** The quantized dtype ('qint8', 'quint8', 'qint32'), or null for a tensor that is not quantized. */
  get quantizedDtype(): 'qint8' | 'quint8' | 'qint32' | null { return this.quantizer('Tensor.quantizedDtype', undefined, false)?.dtype ?? null; }
  /** 'per_tensor_affine', 'per_channel_affine' or 'per_channel_affine_float_qparams', like qscheme(). */
  qscheme(): string { return this.quantizer('Tensor.qscheme')!.qscheme; }
  /** The scale of a per-tensor quantized tensor, like q_scale(). */
  qScale(): number { return this.perTensor('Tensor.qScale').scale!; }
  /** The zero point of a per-tensor quantized tensor, like q_zero_point(). */
  qZeroPoint(): number { return this.perTensor('Tensor.qZeroPoint').zeroPoint!; }
  /** The scales along qPerChannelAxis() of a per-channel quantized tensor (float64), like q_per_channel_scales(). */
  qPerChannelScales(): Tensor { return this.perChannel('Tensor.qPerChannelScales', 'scales'); }
  /** The zero points of a per-channel quantized tensor (int64), like q_per_channel_zero_points(). */
  qPerChannelZeroPoints(): Tensor { return this.perChannel('Tensor.qPerChannelZeroPoints', 'zeroPoints'); }
  /** The dimension a per-channel quantized tensor is quantized along, like q_per_channel_axis(). */
  qPerChannelAxis(): number {
    const q = this.quantizer('Tensor.qPerChannelAxis')!;
    if (q.axis === undefined) throw new TorchError(`Tensor.qPerChannelAxis: the tensor is quantized ${q.qscheme}, not per channel`, 'INVALID_ARGUMENT');
    return q.axis;
  }
  /** The stored integers of a quantized tensor (int8, uint8 or int32), like int_repr(). */
  intRepr(): Tensor { this.quantizer('Tensor.intRepr'); return Tensor._wrap(native.quantizedOp('intRepr', this._h('Tensor.intRepr'))); }
  /** The float32 values (x - zeroPoint) * scale that a quantized tensor stands for, like dequantize(). */
  dequantize(): Tensor { this.quantizer('Tensor.dequantize'); return Tensor._wrap(native.quantizedOp('dequantize', this._h('Tensor.dequantize'))); }

  private perTensor(where: string) {
    const q = this.quantizer(where)!;
    if (q.scale === undefined) throw new TorchError(`${where}: the tensor is quantized ${q.qscheme}; use qPerChannelScales() and qPerChannelZeroPoints()`, 'INVALID_ARGUMENT');
    return q;
  }

  private perChannel(where: string, which: 'scales' | 'zeroPoints'): Tensor {
    const q = this.quantizer(where, which)!;
    if (q[which] === undefined) throw new TorchError(`${where}: the tensor is quantized ${q.qscheme}; use qScale() and qZeroPoint()`, 'INVALID_ARGUMENT');
    return Tensor._wrap(q[which]!);
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
    return Tensor._wrap(native.to(this._h(where), { device, dtype, nonBlocking }, execMode()));
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

  private reduce(op: ReduceOp, dim: number | number[] | undefined, keepdim: boolean): Tensor {
    const where = `Tensor.${op}`;
    const dims = dim === undefined ? null : Array.isArray(dim) ? dim.map((d) => int(where, 'dim', d)) : [int(where, 'dim', dim)];
    return Tensor._wrap(native.reduce(op, this._h(where), { dims, keepdim: bool(where, 'keepdim', keepdim) }, execMode()));
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

  reshape(...shape: number[] | [number[]]): Tensor { return this.shapeOp('reshape', sizesArg('Tensor.reshape', 'shape', shape)); }
  /** A view with another shape (one dimension may be -1); fails where the strides do not allow one (use reshape). */
  view(...shape: number[] | [number[]]): Tensor { return this.shapeOp('view', sizesArg('Tensor.view', 'shape', shape)); }
  unsqueeze(dim: number): Tensor { return this.shapeOp('unsqueeze', [int('Tensor.unsqueeze', 'dim', dim)]); }
  squeeze(dim?: number): Tensor { return this.shapeOp('squeeze', dim === undefined ? [] : [int('Tensor.squeeze', 'dim', dim)]); }
  flatten(startDim = 0, endDim = -1): Tensor {
    return this.shapeOp('flatten', [int('Tensor.flatten', 'startDim', startDim), int('Tensor.flatten', 'endDim', endDim)]);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return this.shapeOp('transpose', [int('Tensor.transpose', 'dim0', dim0), int('Tensor.transpose', 'dim1', dim1)]);
  }
  permute(...dims: number[]): Tensor { return this.shapeOp('permute', dims.map((d) => int('Tensor.permute', 'dims', d))); }

  // ---- indexing and views (O(1) views, synchronous) ----

  /** `dim` checked against this tensor's dimensions, as PyTorch's IndexError does (a 0-d tensor takes -1 and 0). */
  private dimArg(where: string, param: string, dim: unknown): number {
    const n = Math.max(this.ndim, 1);
    if (!isInt(dim) || dim < -n || dim >= n) {
      throw new TorchError(`${where}: Expected a dimension in range [${-n}, ${n - 1}] for ${param} but received ${describe(dim)}`, 'INDEX_ERROR');
    }
    return dim;
  }

  /** `length` elements along `dim` from `start` (negative counts from the end), sharing memory. */
  narrow(dim: number, start: number, length: number): Tensor {
    const where = 'Tensor.narrow';
    return this.shapeOp('narrow', [this.dimArg(where, 'dim', dim), int(where, 'start', start), int(where, 'length', length, 0)]);
  }

  /** The slice at `index` along `dim`, without that dimension (Python's `t[..., index, ...]`). */
  select(dim: number, index: number): Tensor {
    const where = 'Tensor.select';
    return this.shapeOp('select', [this.dimArg(where, 'dim', dim), int(where, 'index', index)]);
  }

  /**
   * Python's `t[start:end:step]` along `dim`: negative bounds count from the end, bounds past the
   * ends are clamped, and undefined means the whole extent. Shares memory.
   */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    const where = 'Tensor.slice';
    const s = start === undefined || start === null ? 0 : int(where, 'start', start);
    const e = end === undefined || end === null ? Number.MAX_SAFE_INTEGER : int(where, 'end', end);
    return this.shapeOp('slice', [this.dimArg(where, 'dim', dim), s, e, int(where, 'step', step, 1)]);
  }

  /** This tensor broadcast to `sizes` (-1 keeps a dimension), sharing memory. */
  expand(...sizes: number[] | [number[]]): Tensor { return this.shapeOp('expand', sizesArg('Tensor.expand', 'sizes', sizes)); }

  private splitOp(where: string, op: SplitOp, sizes: number[], dim: number): Tensor[] {
    const d = this.dimArg(where, 'dim', dim);
    return native.splitOp(op, this._h(where), { sizes, dim: d }, execMode()).map((h) => Tensor._wrap(h));
  }

  /** Views of `splitSize` along `dim` (the last may be smaller), or of the given sizes, as torch.split. */
  split(splitSize: number | number[], dim = 0): Tensor[] {
    const where = 'Tensor.split';
    if (Array.isArray(splitSize)) return this.splitOp(where, 'splitWithSizes', splitSize.map((n) => int(where, 'splitSize', n, 0)), dim);
    return this.splitOp(where, 'split', [int(where, 'splitSize', splitSize, 1)], dim);
  }

  /** `chunks` views along `dim` (fewer if the size does not divide), as torch.chunk. */
  chunk(chunks: number, dim = 0): Tensor[] {
    return this.splitOp('Tensor.chunk', 'chunk', [int('Tensor.chunk', 'chunks', chunks, 1)], dim);
  }

  /** The slices along `dim`, each without that dimension. */
  unbind(dim = 0): Tensor[] {
    return this.splitOp('Tensor.unbind', 'unbind', [], dim);
  }

  // ---- gathers (copies) ----

  private indexOp(where: string, op: 'indexSelect' | 'maskedSelect' | 'index', index: unknown, dim: number, dtypes: readonly Dtype[]): Tensor {
    if (!(index instanceof Tensor)) throw invalid(where, 'index', 'Tensor', index);
    const dtype = index.dtype;
    if (!dtypes.includes(dtype)) throw mismatch(where, 'index', `a ${dtypes.join(' or ')} tensor`, `a ${dtype} tensor`);
    return Tensor._wrap(native.indexOp(op, this._h(where), { index: index._h(where, 'index'), dim }, execMode()));
  }

  /** The entries at `index` (int64 or int32, 1-D) along `dim`, as torch.index_select. */
  indexSelect(dim: number, index: Tensor): Tensor {
    const where = 'Tensor.indexSelect';
    return this.indexOp(where, 'indexSelect', index, this.dimArg(where, 'dim', dim), ['int64', 'int32']);
  }

  /** The entries where the bool `mask` (broadcast to this shape) is true, flattened, as torch.masked_select. */
  maskedSelect(mask: Tensor): Tensor {
    return this.indexOp('Tensor.maskedSelect', 'maskedSelect', mask, 0, ['bool']);
  }

  /**
   * Python's `t[index]` with one tensor: a bool mask over the leading dimensions selects those
   * rows (`t[t > 0]`), an integer tensor picks entries along dim 0 (`t[idx]`).
   */
  index(index: Tensor): Tensor {
    return this.indexOp('Tensor.index', 'index', index, 0, ['bool', 'uint8', 'int64', 'int32']);
  }

  // ---- math ----

  /** Elementwise clamp into [min, max]; either bound may be omitted (null), not both. */
  clamp(min?: number | null, max?: number | null): Tensor {
    const where = 'Tensor.clamp';
    const lo = min === undefined || min === null ? null : scalarArg(where, 'min', min);
    const hi = max === undefined || max === null ? null : scalarArg(where, 'max', max);
    if (lo === null && hi === null) throw new TorchError(`${where}: At least one of 'min' or 'max' must not be None`, 'INVALID_ARGUMENT');
    return Tensor._wrap(native.clamp(this._h(where), lo, hi, execMode()));
  }

  /** `this` where `condition` holds, else `other` (torch.where(condition, this, other)). */
  where(condition: Tensor, other: Tensor | number): Tensor {
    return where(condition, this, other);
  }

  /** Matrix product with broadcasting (torch.matmul), off the JS thread. */
  matmul(other: Tensor): Promise<Tensor> { return this.matmulOp('matmul', other); }
  /** 2-D matrix product (torch.mm), off the JS thread. */
  mm(other: Tensor): Promise<Tensor> { return this.matmulOp('mm', other); }
  /** Batched 3-D matrix product (torch.bmm), off the JS thread. */
  bmm(other: Tensor): Promise<Tensor> { return this.matmulOp('bmm', other); }

  private async matmulOp(op: 'matmul' | 'mm' | 'bmm', other: Tensor): Promise<Tensor> {
    const where = `Tensor.${op}`;
    if (!(other instanceof Tensor)) throw invalid(where, 'other', 'Tensor', other);
    const ranks = { mm: [2, 2], bmm: [3, 3], matmul: null }[op];
    if (ranks) {
      const [a, b] = [this.ndim, other.ndim];
      if (a !== ranks[0]) throw mismatch(where, 'self', `a ${ranks[0]}-D tensor`, `a ${a}-D tensor`);
      if (b !== ranks[1]) throw mismatch(where, 'other', `a ${ranks[1]}-D tensor`, `a ${b}-D tensor`);
    }
    const mode = execMode();
    const [a, b] = [this._h(where, 'self'), other._h(where, 'other')];
    return Tensor._wrap(await track(where, [this, other], [], () => native.matmul(op, a, b, mode)));
  }

  // ---- statistics ----

  private dimsArg(where: string, dim: number | number[] | undefined | null): number[] | null {
    if (dim === undefined || dim === null) return null;
    return (Array.isArray(dim) ? dim : [dim]).map((d) => this.dimArg(where, 'dim', d));
  }

  private stat(op: 'std' | 'var', dim: number | number[] | undefined | null, opts: StatOptions): Tensor {
    const where = `Tensor.${op}`;
    const o = options(where, opts);
    if (o.unbiased !== undefined && o.correction !== undefined) {
      throw new TorchError(`${where}: Expected only one of unbiased and correction but received both`, 'INVALID_ARGUMENT');
    }
    const correction = o.correction !== undefined ? int(where, 'correction', o.correction, 0)
      : o.unbiased !== undefined ? Number(bool(where, 'unbiased', o.unbiased)) : 1;
    const keepdim = bool(where, 'keepdim', o.keepdim ?? false);
    return Tensor._wrap(native.stat(op, this._h(where), { dims: this.dimsArg(where, dim), correction, keepdim }, execMode()));
  }

  /** Standard deviation over `dim` (all elements if omitted), with Bessel's correction (1) unless told. */
  std(dim?: number | number[] | null, opts: StatOptions = {}): Tensor { return this.stat('std', dim, opts); }
  /** Variance over `dim` (all elements if omitted), with Bessel's correction (1) unless told. */
  var(dim?: number | number[] | null, opts: StatOptions = {}): Tensor { return this.stat('var', dim, opts); }

  /** The p-norm over `dim` (all elements if omitted), as Tensor.norm with a numeric p. */
  norm(p = 2, dim?: number | number[] | null, keepdim = false): Tensor {
    const where = 'Tensor.norm';
    if (typeof p !== 'number' || Number.isNaN(p)) throw invalid(where, 'p', 'number (Infinity for the max norm)', p);
    return Tensor._wrap(native.norm(this._h(where), { p, dims: this.dimsArg(where, dim), keepdim: bool(where, 'keepdim', keepdim) }, execMode()));
  }

  /** The largest value; along `dim`, the values and their indices (PyTorch's namedtuple); with a tensor, torch.maximum. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): ValuesIndices;
  max(other: Tensor): Tensor;
  max(dim?: number | Tensor, keepdim = false): Tensor | ValuesIndices { return this.extreme('max', dim, keepdim); }
  /** The smallest value; along `dim`, the values and their indices; with a tensor, torch.minimum. */
  min(): Tensor;
  min(dim: number, keepdim?: boolean): ValuesIndices;
  min(other: Tensor): Tensor;
  min(dim?: number | Tensor, keepdim = false): Tensor | ValuesIndices { return this.extreme('min', dim, keepdim); }

  private extreme(op: 'max' | 'min', dim: number | Tensor | undefined, keepdim: boolean): Tensor | ValuesIndices {
    const where = `Tensor.${op}`;
    if (dim instanceof Tensor) return this.binary(op === 'max' ? 'maximum' : 'minimum', dim);
    if (dim === undefined) return this.reduce(op, undefined, false);
    const d = this.dimArg(where, 'dim', dim);
    const [values, indices] = native.reduceWithIndices(op, this._h(where), { dim: d, keepdim: bool(where, 'keepdim', keepdim) }, execMode());
    return { values: Tensor._wrap(values), indices: Tensor._wrap(indices) };
  }

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

type Leaf = 'number' | 'bigint' | 'boolean';

/** The elements of a nested array in C order, its inferred shape, and the one kind of its leaves. */
function flattenNested(data: NestedNumbers, where: string): { values: (number | bigint | boolean)[]; shape: number[]; kind: Leaf } {
  const shape: number[] = [];
  let level: NestedNumbers = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  const values: (number | bigint | boolean)[] = [];
  let kind: Leaf | undefined;
  const walk = (node: NestedNumbers, depth: number, at: string): void => {
    if (depth < shape.length) {
      if (!Array.isArray(node)) throw invalid(where, `data${at}`, `an array (the first element at depth ${depth} is one)`, node);
      if (node.length !== shape[depth]) {
        throw invalid(where, `data${at}`, `length ${shape[depth]} (a rectangular nested array, like data${'[0]'.repeat(depth)})`, node);
      }
      node.forEach((v, i) => walk(v, depth + 1, `${at}[${i}]`));
      return;
    }
    const t = typeof node;
    if (t !== 'number' && t !== 'bigint' && t !== 'boolean') throw invalid(where, `data${at}`, 'a number, bigint or boolean', node);
    if (kind === undefined) kind = t as Leaf;
    else if (t !== kind) throw invalid(where, `data${at}`, `a ${kind} like the elements before it`, node);
    values.push(node as number | bigint | boolean);
  };
  walk(data, 0, '');
  return { values, shape, kind: kind ?? 'number' };
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
  if (Array.isArray(data) || typeof data === 'number' || typeof data === 'bigint' || typeof data === 'boolean') {
    // Nested arrays (or one value, a 0-d tensor): numbers are float32 by default (torch's default
    // float dtype; JS cannot tell 1 from 1.0), bigints int64 and booleans bool, as torch.tensor infers.
    const { values, shape, kind } = flattenNested(data, where);
    inferred = shape;
    if (kind === 'bigint') {
      typed = BigInt64Array.from(values as bigint[]);
      natural = 'int64';
    } else {
      typed = Float64Array.from(values as number[], Number);
      natural = kind === 'boolean' ? 'bool' : 'float32';
    }
  } else if (data instanceof Float32Array) { typed = data; inferred = [data.length]; natural = 'float32'; }
  else if (data instanceof Float64Array) { typed = data; inferred = [data.length]; natural = 'float64'; }
  else if (data instanceof Int32Array) { typed = data; inferred = [data.length]; natural = 'int32'; }
  else if (data instanceof Int16Array) { typed = data; inferred = [data.length]; natural = 'int16'; }
  else if (data instanceof Int8Array) { typed = data; inferred = [data.length]; natural = 'int8'; }
  else if (data instanceof BigInt64Array) { typed = data; inferred = [data.length]; natural = 'int64'; }
  else if (data instanceof Uint8Array) { typed = data; inferred = [data.length]; natural = 'uint8'; }
  else throw invalid(where, 'data', 'a nested array of numbers, bigints or booleans, or a Float32Array, Float64Array, Int32Array, Int16Array, Int8Array, BigInt64Array or Uint8Array', data);

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
  const t = Tensor._wrap(native.factory(kind, f.shape, value, f));
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
  return Tensor._wrap(native.arange(s, e, step, f));
}


/** Options of std() and var(): PyTorch's `correction` (or the older `unbiased`) and `keepdim`. */
export interface StatOptions {
  /** Subtracted from the element count in the divisor: 1 (default) is Bessel's correction, 0 the population figure. */
  correction?: number;
  /** The older form: true is correction 1, false correction 0. */
  unbiased?: boolean;
  keepdim?: boolean;
}

/** max(dim) and min(dim): PyTorch's (values, indices) namedtuple. */
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

/** Sizes given as arguments or as one array (`view(2, 3)`, `view([2, 3])`); -1 means inferred or kept. */
function sizesArg(where: string, param: string, args: number[] | [number[]]): number[] {
  const sizes = (Array.isArray(args[0]) ? args[0] : args) as unknown[];
  return sizes.map((d) => int(where, param, d, -1));
}

/** invalid() for a received value that is described in words (a tensor's rank or dtype). */
function mismatch(where: string, param: string, expected: string, received: string): TorchError {
  return new TorchError(`${where}: Expected ${expected} for ${param} but received ${received}`, 'INVALID_ARGUMENT');
}

function scalarArg(where: string, param: string, v: unknown): number {
  if (typeof v !== 'number') throw invalid(where, param, 'number', v);
  return v;
}

function tensorList(where: string, tensors: unknown): Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) throw invalid(where, 'tensors', 'a non-empty array of Tensors', tensors);
  tensors.forEach((t, i) => { if (!(t instanceof Tensor)) throw invalid(where, `tensors[${i}]`, 'Tensor', t); });
  return tensors as Tensor[];
}

/** Joins tensors along an existing dimension (torch.cat). */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  const where = 'cat';
  const list = tensorList(where, tensors);
  const d = int(where, 'dim', dim);
  return Tensor._wrap(native.combine('cat', list.map((t, i) => t._h(where, `tensors[${i}]`)), d, execMode()));
}

/** Joins equally shaped tensors along a new dimension (torch.stack). */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  const where = 'stack';
  const list = tensorList(where, tensors);
  const d = int(where, 'dim', dim);
  return Tensor._wrap(native.combine('stack', list.map((t, i) => t._h(where, `tensors[${i}]`)), d, execMode()));
}

/** `input` where the bool `condition` holds, else `other`; all broadcast together (torch.where). */
export function where(condition: Tensor, input: Tensor | number, other: Tensor | number): Tensor {
  const w = 'where';
  if (!(condition instanceof Tensor)) throw invalid(w, 'condition', 'bool Tensor', condition);
  if (condition.dtype !== 'bool') throw mismatch(w, 'condition', 'a bool Tensor', `a ${condition.dtype} tensor`);
  const side = (param: string, v: unknown): TensorHandle | number => {
    if (typeof v === 'number') return v;
    if (v instanceof Tensor) return v._h(w, param);
    throw invalid(w, param, 'Tensor or number', v);
  };
  return Tensor._wrap(native.where(condition._h(w, 'condition'), side('input', input), side('other', other), execMode()));
}

/** Matrix product with broadcasting (torch.matmul), off the JS thread. */
export function matmul(input: Tensor, other: Tensor): Promise<Tensor> {
  if (!(input instanceof Tensor)) return Promise.reject(invalid('matmul', 'input', 'Tensor', input));
  return input.matmul(other);
}

/** Integers uniform in [low, high) (torch.randint), int64 unless told; `randint(high, shape)` starts at 0. */
export function randint(low: number, high: number | number[], shape?: number[] | TensorOptions, opts?: TensorOptions): Tensor {
  const where = 'randint';
  if (Array.isArray(high)) return randint(0, low, high, shape as TensorOptions | undefined);
  const lo = int(where, 'low', low);
  const hi = int(where, 'high', high);
  if (hi <= lo) throw new TorchError(`${where}: random_ expects 'from' to be less than 'to', but got from=${lo} >= to=${hi}`, 'INVALID_ARGUMENT');
  const f = factoryOptions(where, shape, { ...options(where, opts), dtype: opts?.dtype ?? 'int64' });
  const t = Tensor._wrap(native.randint(lo, hi, f.shape, f));
  return f.requiresGrad ? t.requiresGrad_(true) : t;
}

/**
 * A random permutation of 0..n-1 (torch.randperm), int64 unless told: from the global generator,
 * or with `seed` from `torch.Generator().manual_seed(seed)`.
 */
export function randperm(n: number, opts: Omit<TensorOptions, 'shape'> & { seed?: number } = {}): Tensor {
  const where = 'randperm';
  const count = int(where, 'n', n, 0);
  const o = options(where, opts);
  const seed = o.seed === undefined ? null : int(where, 'seed', o.seed, 0);
  const f = factoryOptions(where, [], { dtype: o.dtype ?? 'int64', device: o.device, requiresGrad: o.requiresGrad });
  return Tensor._wrap(native.randpermTensor(count, seed, f));
}

/** `steps` evenly spaced values from `start` to `end` inclusive (torch.linspace), float32 unless told. */
export function linspace(start: number, end: number, steps: number, opts: Omit<TensorOptions, 'shape'> = {}): Tensor {
  const where = 'linspace';
  const s = finite(where, 'start', start);
  const e = finite(where, 'end', end);
  const n = int(where, 'steps', steps, 0);
  const f = factoryOptions(where, [], opts);
  const t = Tensor._wrap(native.linspace(s, e, n, f));
  return f.requiresGrad ? t.requiresGrad_(true) : t;
}

/** Options of the *Like factories: the input's shape and device, its dtype unless told. */
export type LikeOptions = Pick<TensorOptions, 'dtype' | 'requiresGrad'>;

function like(kind: FactoryKind, input: Tensor, opts: LikeOptions | undefined, value = 0): Tensor {
  const where = `${kind}Like`;
  if (!(input instanceof Tensor)) throw invalid(where, 'input', 'Tensor', input);
  const o = options(where, opts);
  const dtype = o.dtype === undefined ? null : oneOf(where, 'dtype', o.dtype, DTYPES);
  const t = Tensor._wrap(native.factoryLike(kind, input._h(where, 'input'), value, dtype));
  return o.requiresGrad === undefined || !bool(where, 'requiresGrad', o.requiresGrad) ? t : t.requiresGrad_(true);
}

export function zerosLike(input: Tensor, opts?: LikeOptions): Tensor { return like('zeros', input, opts); }
export function onesLike(input: Tensor, opts?: LikeOptions): Tensor { return like('ones', input, opts); }
export function emptyLike(input: Tensor, opts?: LikeOptions): Tensor { return like('empty', input, opts); }
export function randLike(input: Tensor, opts?: LikeOptions): Tensor { return like('rand', input, opts); }
export function randnLike(input: Tensor, opts?: LikeOptions): Tensor { return like('randn', input, opts); }
export function fullLike(input: Tensor, value: number, opts?: LikeOptions): Tensor {
  return like('full', input, opts, scalarArg('fullLike', 'value', value));
}
