// Grad mode and autocast are thread-local in libtorch, but our work runs on worker threads. So
// they live in JS (following async calls, like a context variable) and travel with every native
// call as one integer, the execution mode (decoded in native/autograd.cc). Grad mode is this
// file's; autocast's switches are set and read in amp.ts.
import { AsyncLocalStorage } from 'async_hooks';
import { invalid } from './arguments';

/** What travels with each native call. Autocast's fields are amp.ts's AutocastCode (0 = off). */
interface ExecContext {
  grad: boolean;
  autocastCpu: number;
  autocastCuda: number;
}

const DEFAULT_CONTEXT: ExecContext = { grad: true, autocastCpu: 0, autocastCuda: 0 };
const context = new AsyncLocalStorage<ExecContext>();

function current(): ExecContext {
  return context.getStore() ?? DEFAULT_CONTEXT;
}

/** @internal Runs `fn` with part of the context replaced, for itself and all the async work it starts. */
export function withContext<T>(change: Partial<ExecContext>, fn: () => T): T {
  return context.run({ ...current(), ...change }, fn);
}

/** @internal The context in force here (amp.ts reads its autocast settings). */
export function currentContext(): Readonly<ExecContext> {
  return current();
}

/** @internal The execution mode native ops take as their last argument. */
export function execMode(): number {
  const c = current();
  return (c.grad ? 1 : 0) | (c.autocastCpu << 1) | (c.autocastCuda << 3);
}

/** Whether operations started here record autograd history. */
export function isGradEnabled(): boolean {
  return current().grad;
}

/**
 * Runs `fn` with autograd disabled, like `with torch.no_grad():`. Also covers async `fn`: every
 * operation it starts, awaited or not, runs without history on whatever thread it runs.
 */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalid('noGrad', 'fn', 'function', fn);
  return withContext({ grad: false }, fn);
}

/** Re-enables autograd inside a `noGrad` block, like `torch.enable_grad()`. */
export function enableGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalid('enableGrad', 'fn', 'function', fn);
  return withContext({ grad: true }, fn);
}
