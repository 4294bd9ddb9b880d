// Deterministic memory: dispose() frees at once, scope() frees what a block created, and the
// native handles' GC finalizers are only a backstop.
import { AsyncLocalStorage } from 'async_hooks';
import { native } from './native';
import { invalid } from './arguments';

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** @internal Disposes once no pending operation uses it (a Tensor's memory may still be read). */
  _disposeWhenIdle?(): void;
}

type Scope = Set<Disposable>;
const current = new AsyncLocalStorage<Scope>();

/** Live tensors (handles not yet disposed or collected) and the bytes of their storages. */
export function memory(): { tensors: number; bytes: number } {
  return native.memory();
}

/** @internal Called for every tensor handed to the user. */
export function adopt(t: Disposable): void {
  current.getStore()?.add(t);
}

/** @internal Removes a long-lived tensor (optimizer state, a parameter) from the open scope. */
export function release(t: Disposable): void {
  current.getStore()?.delete(t);
}

/** Anything reachable from the value returned by a scope survives it. */
function collectKept(value: unknown, kept: Set<unknown>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  kept.add(value);
  const keepable = value as { keepAlive?: () => Iterable<unknown> };
  if (typeof keepable.keepAlive === 'function') {
    for (const v of keepable.keepAlive()) collectKept(v, kept, seen);
    return;
  }
  const items = value instanceof Map ? value.values() : Array.isArray(value) || value instanceof Set ? value.values()
    : Object.getPrototypeOf(value) === Object.prototype ? Object.values(value).values() : null;
  if (items) for (const v of items) collectKept(v, kept, seen);
}

/**
 * Runs `fn` and then disposes every tensor created inside it, except those reachable from its
 * result (tensors, arrays, plain objects, Maps, Sets and modules are followed). Works with sync
 * and async `fn`; scopes nest, and what an inner scope returns belongs to the outer one.
 */
export function scope<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalid('scope', 'fn', 'function', fn);
  const created: Scope = new Set();
  const parent = current.getStore();
  const finish = (result: unknown): void => {
    const kept = new Set<unknown>();
    collectKept(result, kept);
    for (const t of created) {
      if (kept.has(t)) parent?.add(t);
      else if (t._disposeWhenIdle) t._disposeWhenIdle(); // an operation not awaited in the block may still use it
      else t.dispose();
    }
  };
  const result = current.run(created, fn);
  if (result instanceof Promise) {
    return result.then(
      (value) => { finish(value); return value; },
      (err) => { finish(undefined); throw err; },
    ) as T;
  }
  finish(result);
  return result;
}
