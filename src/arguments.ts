// Argument checks (sharp's is-style) run in TS before anything crosses into C++. Messages follow one pattern:
// "<where>: Expected <what> for <param> but received <value>".
import { TorchError } from './errors';

export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${String(value)} of type ${typeof value}`;
  }
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}' of type string`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `an object of class ${name}` : 'an object';
}

export function invalid(where: string, param: string, expected: string, received: unknown): TorchError {
  return new TorchError(`${where}: Expected ${expected} for ${param} but received ${describe(received)}`, 'INVALID_ARGUMENT');
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function int(where: string, param: string, v: unknown, min = -Infinity): number {
  if (!isInt(v) || v < min) {
    const what = min === 1 ? 'positive integer' : min === 0 ? 'non-negative integer' : 'integer';
    throw invalid(where, param, min > 0 && min !== 1 ? `integer >= ${min}` : what, v);
  }
  return v;
}

export function finite(where: string, param: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    const range = min === -Infinity && max === Infinity ? 'finite number'
      : max === Infinity ? `finite number >= ${min}` : `number in [${min}, ${max}]`;
    throw invalid(where, param, range, v);
  }
  return v;
}

export function bool(where: string, param: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalid(where, param, 'boolean', v);
  return v;
}

export function oneOf<T extends string>(where: string, param: string, v: unknown, options: readonly T[]): T {
  if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
    throw invalid(where, param, `one of ${options.map((o) => `'${o}'`).join(', ')}`, v);
  }
  return v as T;
}

/** An int or a tuple of `n` ints (PyTorch's `_pair`), each >= min. */
export function intTuple(where: string, param: string, v: unknown, n: number, min: number): number[] {
  const list = isInt(v) ? Array<number>(n).fill(v) : v;
  if (!Array.isArray(list) || list.length !== n || !list.every((x) => isInt(x) && x >= min)) {
    throw invalid(where, param, `integer >= ${min} or array of ${n} such integers`, v);
  }
  return list as number[];
}

export function options<T extends object>(where: string, v: T | undefined): Partial<T> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(where, 'options', 'object', v);
  return v;
}
