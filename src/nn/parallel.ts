import { Reached, Tensor, onBackward } from '../tensor';
import { TorchError } from '../errors';
import { finite, invalid } from '../arguments';
import { averageGradients, broadcast, getWorldSize } from '../distributed';
import { Module } from './module';

export interface DistributedDataParallelOptions {
  /** Gradients travel in buckets of about this size (PyTorch's default: 25 MB). */
  bucketCapMB?: number;
}

/**
 * torch.nn.parallel.DistributedDataParallel over the default process group: rank 0's parameters
 * and buffers are broadcast at construction, and every backward() through a forward() of this
 * module ends with the gradients averaged across ranks, in buckets, off the JS thread. Inside
 * `noSync()` gradients accumulate locally until a backward() outside it.
 */
export class DistributedDataParallel<M extends Module = Module> extends Module {
  readonly module: M;
  readonly bucketCapMB: number;
  #ready: Promise<void>;
  #noSync = 0;
  #pending = false;
  #removeHook: () => void;

  constructor(module: M, opts: DistributedDataParallelOptions = {}) {
    super();
    const where = 'nn.DistributedDataParallel';
    if (!(module instanceof Module)) throw invalid(where, 'module', 'nn.Module', module);
    getWorldSize(); // throws when no process group exists
    this.bucketCapMB = finite(where, 'bucketCapMB', opts.bucketCapMB ?? 25, 0);
    this.module = this.registerModule('module', module);
    this.#ready = broadcast([...module.parameters(), ...module.buffers()], 0);
    this.#ready.catch(() => {}); // reported by the next forward()
    this.#removeHook = onBackward((reached) => this.#average(reached));
  }

  async forward(...inputs: Tensor[]): Promise<Tensor> {
    this.checkLive('forward');
    await this.#ready;
    if (this.#noSync === 0) this.#pending = true;
    return this.module.forward(...inputs);
  }

  /** Runs `fn` (forward and backward passes) without averaging gradients, like `with ddp.no_sync():`. */
  async noSync<T>(fn: () => Promise<T> | T): Promise<T> {
    if (typeof fn !== 'function') throw invalid('nn.DistributedDataParallel.noSync', 'fn', 'function', fn);
    this.#noSync++;
    try {
      return await fn();
    } finally {
      this.#noSync--;
    }
  }

  async #average(reached: Reached): Promise<void> {
    if (!this.#pending || this.isDisposed) return;
    const params = this.module.parameters().filter((p) => p.requiresGrad);
    if (params.length > 0 && !reached(params)) return; // another model's backward(): these gradients are untouched
    this.#pending = false;
    if (params.length === 0) throw new TorchError('nn.DistributedDataParallel: the module has no parameter that requires grad', 'INVALID_ARGUMENT');
    await averageGradients(params, Math.max(1, Math.round(this.bucketCapMB * 2 ** 20)));
  }

  dispose(): void {
    this.#removeHook();
    super.dispose();
  }
}
