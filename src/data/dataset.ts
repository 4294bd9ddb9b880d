// torch.utils.data's Dataset, TensorDataset, Subset, random_split and default_collate, for data
// that is not a folder of images: a CSV's columns, embeddings, anything a user holds as tensors.
import { TorchError } from '../errors';
import { int, invalid, isInt, options } from '../arguments';
import { randperm, stack, tensor, Tensor } from '../tensor';
import { Generator } from '../random';

/**
 * A map-style data set, like torch.utils.data.Dataset: `length` samples, `get(i)` returning one
 * (or a Promise of one). A DataLoader batches the samples with defaultCollate. Tensors that
 * get() creates are freed once the batch is made; tensors it returns from a cache made outside
 * get() are left alone.
 */
export interface Dataset<T = unknown> {
  readonly length: number;
  get(index: number): T | Promise<T>;
}

/** Whether `v` looks like a Dataset (a non-negative integer length and a get method). */
export function isDataset(v: unknown): v is Dataset {
  const d = v as Dataset | null;
  return typeof d === 'object' && d !== null && isInt(d.length) && d.length >= 0 && typeof d.get === 'function';
}

function indexArg(where: string, index: unknown, length: number): number {
  if (!isInt(index) || index < -length || index >= length) {
    throw new TorchError(`${where}: Expected an index in [${-length}, ${length - 1}] for index but received ${String(index)}`, 'INDEX_ERROR');
  }
  return index < 0 ? index + length : index;
}

/** torch.utils.data.TensorDataset: sample i is `[t[i] for t of tensors]`, views sharing their memory. */
export class TensorDataset implements Dataset<Tensor[]> {
  readonly tensors: Tensor[];

  constructor(...tensors: Tensor[]) {
    const where = 'data.TensorDataset';
    if (tensors.length === 0) throw invalid(where, 'tensors', 'at least one Tensor', tensors);
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw invalid(where, `tensors[${i}]`, 'Tensor', t);
      if (t.ndim === 0) throw invalid(where, `tensors[${i}]`, 'a tensor with at least one dimension', 'a 0-d tensor');
    });
    const sizes = tensors.map((t) => t.shape[0]);
    if (sizes.some((n) => n !== sizes[0])) {
      throw new TorchError(`${where}: Size mismatch between tensors: first dimensions are [${sizes.join(', ')}]`, 'VALUE_ERROR');
    }
    this.tensors = tensors;
  }

  get length(): number {
    return this.tensors[0].shape[0];
  }

  get(index: number): Tensor[] {
    const i = indexArg('data.TensorDataset.get', index, this.length);
    return this.tensors.map((t) => t.select(0, i));
  }
}

/** torch.utils.data.Subset: the samples of `dataset` at `indices`, in that order. */
export class Subset<T = unknown> implements Dataset<T> {
  constructor(readonly dataset: Dataset<T>, readonly indices: number[]) {
    const where = 'data.Subset';
    if (!isDataset(dataset)) throw invalid(where, 'dataset', 'a Dataset (length and get())', dataset);
    if (!Array.isArray(indices)) throw invalid(where, 'indices', 'an array of integers', indices);
    indices.forEach((i, k) => int(where, `indices[${k}]`, i, 0));
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): T | Promise<T> {
    return this.dataset.get(this.indices[indexArg('data.Subset.get', index, this.length)]);
  }
}

/**
 * torch.utils.data.random_split: non-overlapping Subsets of the given lengths, or of fractions
 * summing to 1 (each floor(n * fraction), the remainder dealt one by one from the first split).
 * The order is `torch.randperm(n, generator=...)`, PyTorch's own draw: from `generator`, from
 * `torch.Generator().manual_seed(seed)` with `seed`, else from the global generator, as PyTorch.
 */
export function randomSplit<T>(dataset: Dataset<T>, lengths: number[], opts: { seed?: number; generator?: Generator } = {}): Subset<T>[] {
  const where = 'data.randomSplit';
  if (!isDataset(dataset)) throw invalid(where, 'dataset', 'a Dataset (length and get())', dataset);
  const o = options(where, opts);
  if (!Array.isArray(lengths) || lengths.length === 0 || !lengths.every((l) => typeof l === 'number' && Number.isFinite(l) && l >= 0)) {
    throw invalid(where, 'lengths', 'a non-empty array of non-negative numbers', lengths);
  }
  const seed = o.seed === undefined ? undefined : int(where, 'seed', o.seed, 0);
  if (o.generator !== undefined && !(o.generator instanceof Generator)) throw invalid(where, 'generator', 'a Generator', o.generator);
  if (o.generator && seed !== undefined) throw new TorchError(`${where}: Expected seed or generator but received both`, 'INVALID_ARGUMENT');
  const n = dataset.length;
  let sizes = lengths;
  const total = lengths.reduce((a, b) => a + b, 0);
  // Python's math.isclose(sum, 1) (rel_tol 1e-9) and sum <= 1: the lengths are fractions.
  if (Math.abs(total - 1) <= 1e-9 * Math.max(Math.abs(total), 1) && total <= 1) {
    lengths.forEach((f, i) => {
      if (f > 1) throw new TorchError(`${where}: Fraction at index ${i} is not between 0 and 1`, 'VALUE_ERROR');
    });
    sizes = lengths.map((f) => Math.floor(n * f));
    const remainder = n - sizes.reduce((a, b) => a + b, 0);
    for (let i = 0; i < remainder; i++) sizes[i % sizes.length] += 1;
    sizes.forEach((s, i) => {
      if (s === 0) process.emitWarning(`${where}: Length of split at index ${i} is 0. This might result in an empty dataset.`, 'TorchWarning');
    });
  } else {
    lengths.forEach((l, i) => int(where, `lengths[${i}]`, l, 0));
  }
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (sum !== n) {
    throw new TorchError(`${where}: Sum of input lengths (${sum}) does not equal the length of the input dataset (${n})`, 'VALUE_ERROR');
  }
  let order: number[];
  if (o.generator) {
    order = o.generator._randperm(sum);
  } else {
    const perm = randperm(sum, seed === undefined ? {} : { seed });
    order = Array.from(perm.toArray() as BigInt64Array, Number);
    perm.dispose();
  }
  let offset = 0;
  return sizes.map((s) => new Subset(dataset, order.slice(offset, (offset += s))));
}

/** What defaultCollate makes of a batch of samples of type T. */
export type Collated<T> =
  T extends Tensor ? Tensor
    : T extends number | bigint | boolean ? Tensor
      : T extends ArrayBufferView ? Tensor
        : T extends string ? string[]
          : T extends readonly unknown[] ? { -readonly [K in keyof T]: Collated<T[K]> }
            : T extends object ? { [K in keyof T]: Collated<T[K]> }
              : never;

const TYPED = [Float32Array, Float64Array, Int32Array, Int16Array, Int8Array, BigInt64Array, Uint8Array] as const;

function kindOf(v: unknown): string {
  if (v instanceof Tensor) return 'Tensor';
  const typed = TYPED.find((C) => v instanceof C);
  if (typed) return typed.name;
  if (Array.isArray(v)) return 'array';
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return 'object';
  return v === null ? 'null' : typeof v;
}

/**
 * torch.utils.data.default_collate: tensors are stacked along a new first dimension; typed arrays
 * likewise; numbers become one tensor (int64 when all of the batch's are integers, else float64:
 * JS has one number type, so the batch decides where Python looks at int or float); bigints int64;
 * booleans bool; strings stay a list; arrays and plain objects are collated position by position
 * and key by key.
 */
export function defaultCollate<T>(batch: T[]): Collated<T> {
  return collate(batch, 'batch') as Collated<T>;
}

function collate(batch: unknown[], at: string): unknown {
  const where = 'data.defaultCollate';
  if (!Array.isArray(batch) || batch.length === 0) throw invalid(where, at, 'a non-empty array of samples', batch);
  const kind = kindOf(batch[0]);
  const odd = batch.findIndex((v) => kindOf(v) !== kind);
  if (odd >= 0) throw new TorchError(`${where}: Expected a ${kind} for ${at}[${odd}] like ${at}[0] but received a ${kindOf(batch[odd])}`, 'TYPE_ERROR');
  switch (kind) {
    case 'Tensor':
      return stack(batch as Tensor[]);
    case 'number': {
      const values = batch as number[];
      return values.every(Number.isInteger) ? tensor(BigInt64Array.from(values, BigInt)) : tensor(Float64Array.from(values));
    }
    case 'bigint':
      return tensor(BigInt64Array.from(batch as bigint[]));
    case 'boolean':
      return tensor(batch as boolean[]);
    case 'string':
      return batch;
    case 'array': {
      const rows = batch as unknown[][];
      const len = rows[0].length;
      if (rows.some((r) => r.length !== len)) throw new TorchError(`${where}: each element in list of batch should be of equal size (${at})`, 'VALUE_ERROR');
      return Array.from({ length: len }, (_, k) => collate(rows.map((r) => r[k]), `${at}[*][${k}]`));
    }
    case 'object': {
      const objs = batch as Record<string, unknown>[];
      return Object.fromEntries(Object.keys(objs[0]).map((k) => [k, collate(objs.map((o) => o[k]), `${at}[*].${k}`)]));
    }
    default: {
      if (kind.endsWith('Array')) {
        const rows = batch as unknown as ArrayLike<number>[];
        const each = rows.map((r) => tensor(r as Float32Array));
        try {
          return stack(each);
        } finally {
          each.forEach((t) => t.dispose());
        }
      }
      throw new TorchError(`${where}: batch must contain tensors, typed arrays, numbers, bigints, booleans, strings, arrays or plain objects; found ${kind} at ${at}[0]`, 'TYPE_ERROR');
    }
  }
}
