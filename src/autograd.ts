// Grad mode is thread-local in libtorch, but our work runs on worker threads. So the mode lives
// in JS (following async calls, like a context variable) and travels with every native call.
import { AsyncLocalStorage } from 'async_hooks';
import { invalid } from './arguments';

const gradMode = new AsyncLocalStorage<boolean>();

/** Whether operations started here record autograd history. */
export function isGradEnabled(): boolean {
  return gradMode.getStore() ?? true;
}

/**
 * Runs `fn` with autograd disabled, like `with torch.no_grad():`. Also covers async `fn`: every
 * operation it starts, awaited or not, runs without history on whatever thread it runs.
 */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalid('noGrad', 'fn', 'function', fn);
  return gradMode.run(false, fn);
}

/** Re-enables autograd inside a `noGrad` block, like `torch.enable_grad()`. */
export function enableGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalid('enableGrad', 'fn', 'function', fn);
  return gradMode.run(true, fn);
}
