// torch.utils.data.DataLoader for ImageFolder and any Dataset: seeded shuffling, parallel
// decoding off the JS thread, prefetching while the training step runs, and an optional cache of
// decoded images.
import * as os from 'os';
import { TorchError } from '../errors';
import { cuda } from '../runtime';
import { tensor, Tensor } from '../tensor';
import { scope } from '../memory';
import { Collated, Dataset, defaultCollate, isDataset } from './dataset';
import { bool, int, invalid, oneOf, options } from '../arguments';
import { ImageFolder, PreparedImage } from './image_folder';
import { RawImage, Rng, TorchRng } from './transforms';
import { native } from '../native';
import { Generator } from '../random';
import { Sampler } from './sampler';

export interface DataLoaderOptions {
  batchSize?: number;
  shuffle?: boolean;
  /** Seeds shuffling and random transforms: the same seed gives the same batches, whatever the concurrency. */
  seed?: number;
  dropLast?: boolean;
  /** Images decoded at once (default: the cores). */
  concurrency?: number;
  /** Batches prepared ahead of the one being consumed (default 2). */
  prefetch?: number;
  /** Keep decoded images across epochs (for random pipelines, up to the first random transform). */
  cache?: boolean;
  /** Skip unreadable images with a warning listing them, instead of failing. */
  skipBadImages?: boolean;
  /** Where the indices come from (e.g. a DistributedSampler); excludes `shuffle`. */
  sampler?: Sampler;
  /**
   * Where shuffling and random transforms draw from. 'torchbridge' (default): generators seeded
   * from `seed`, epoch and sample, so batches are the same whatever the concurrency, and batches
   * are prefetched. 'torch': libtorch's global generator, drawn exactly as
   * torch.utils.data.DataLoader (num_workers=0) and torchvision draw, in the same order: one seed
   * per epoch, the shuffle's seed, then each image's transforms in batch order. After the same
   * torch.manual_seed, a training loop gets the batches PyTorch's would, and dropout in between
   * stays in step. It loads a batch when asked for it (no prefetching); `seed` is unused.
   */
  rng?: 'torchbridge' | 'torch';
  /**
   * Draw the shuffle from this generator, as `DataLoader(..., generator=g)` does: each epoch one
   * int64 (the iterator's base seed), then RandomSampler's `randperm(n)`, and the `randperm(n)` it
   * draws when it runs out (with the epoch's start: an epoch left early has drawn it too).
   */
  generator?: Generator;
  /**
   * Batches in page-locked memory, so `.to('cuda', { nonBlocking: true })` copies asynchronously.
   * Without CUDA it is ignored with a warning, as in PyTorch.
   */
  pinMemory?: boolean;
}

/** What a DataLoader can load: an ImageFolder, or any Dataset. */
export type AnyDataset = ImageFolder | Dataset<unknown>;
/** The batches of a DataLoader over D: Batch for an ImageFolder, the collated samples otherwise. */
export type BatchOf<D> = D extends ImageFolder ? Batch : D extends Dataset<infer T> ? Collated<T> : never;

/** Frees every tensor in a batch (an early exit's prefetched batches). */
function disposeBatch(b: unknown): void {
  if (b instanceof Tensor) b.dispose();
  else if (Array.isArray(b)) b.forEach(disposeBatch);
  else if (b !== null && typeof b === 'object' && Object.getPrototypeOf(b) === Object.prototype) Object.values(b).forEach(disposeBatch);
}

export interface Batch {
  input: Tensor;
  target: Tensor;
  paths: string[];
  indices: number[];
}

/** A file skipped with skipBadImages, and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

let warnedNoPinning = false;

/** Pinned memory needs CUDA; without it, warn once and load into ordinary memory. */
function cudaForPinning(): boolean {
  if (cuda.isAvailable()) return true;
  if (!warnedNoPinning) {
    warnedNoPinning = true;
    process.emitWarning('data.DataLoader: pinMemory is set but no CUDA device is available, so batches use ordinary memory', 'TorchWarning');
  }
  return false;
}

/** Lets images draw from a shared generator in batch order while they decode in parallel. */
class DrawTurns {
  readonly #done: Promise<void>[];
  readonly #finish: (() => void)[] = [];

  constructor(n: number) {
    this.#done = Array.from({ length: n }, (_, k) => new Promise<void>((r) => { this.#finish[k] = r; }));
  }

  async take<T>(k: number, draw: () => T): Promise<T> {
    if (k > 0) await this.#done[k - 1];
    try {
      return draw();
    } finally {
      this.#finish[k]();
    }
  }

  /** Passes turn k without drawing (idempotent). */
  async release(k: number): Promise<void> {
    if (k > 0) await this.#done[k - 1];
    this.#finish[k]();
  }
}

class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(n: number) { this.#free = n; }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); else this.#free++;
    }
  }
}

/**
 * @internal A permutation of 0..n-1 from (seed, epoch): Fisher-Yates on the per-epoch generator
 * (rng 'torchbridge'; also used by bench/finetune-replay.js).
 */
export function permutation(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(seed, epoch, 0x5eed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.randint(0, i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Batches of an ImageFolder (decoded and transformed off the JS thread, as Batch) or of any
 * Dataset (its samples through defaultCollate). Shuffling, rng 'torch' and samplers work the same
 * for both; skipBadImages, cache and pinMemory concern images only.
 */
export class DataLoader<D extends AnyDataset = ImageFolder> implements AsyncIterable<BatchOf<D>> {
  readonly dataset: D;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly skipBadImages: boolean;
  /** Files skipped in the last epoch (with skipBadImages). */
  skippedFiles: SkippedFile[] = [];
  readonly sampler: Sampler | undefined;
  readonly pinMemory: boolean;
  readonly rng: 'torchbridge' | 'torch';
  readonly generator: Generator | undefined;
  /** With rng 'torch' and shuffling: the shuffle seed the current epoch drew (for resuming mid-epoch). */
  epochSeed: bigint | undefined;
  #epoch = 0;
  #cache: Map<number, RawImage> | undefined;

  constructor(dataset: D, opts: DataLoaderOptions = {}) {
    const where = 'data.DataLoader';
    if (!(dataset instanceof ImageFolder) && !isDataset(dataset)) throw invalid(where, 'dataset', 'a data.ImageFolder or a Dataset (length and get())', dataset);
    const o = options(where, opts);
    this.dataset = dataset;
    this.batchSize = int(where, 'batchSize', o.batchSize ?? 1, 1);
    this.shuffle = bool(where, 'shuffle', o.shuffle ?? false);
    this.seed = int(where, 'seed', o.seed ?? 0, 0);
    this.dropLast = bool(where, 'dropLast', o.dropLast ?? false);
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    this.concurrency = int(where, 'concurrency', o.concurrency ?? cores, 1);
    this.rng = oneOf(where, 'rng', o.rng ?? 'torchbridge', ['torchbridge', 'torch'] as const);
    if (this.rng === 'torch' && (o.prefetch ?? 0) > 0) {
      throw new TorchError(`${where}: prefetch ${o.prefetch} with rng 'torch': the draws of a batch must follow the work on the previous one, so nothing is prefetched`, 'INVALID_ARGUMENT');
    }
    this.prefetch = this.rng === 'torch' ? 0 : int(where, 'prefetch', o.prefetch ?? 2, 0);
    this.skipBadImages = bool(where, 'skipBadImages', o.skipBadImages ?? false);
    if (bool(where, 'cache', o.cache ?? false)) this.#cache = new Map();
    this.pinMemory = bool(where, 'pinMemory', o.pinMemory ?? false) && cudaForPinning();
    if (o.generator !== undefined && !(o.generator instanceof Generator)) throw invalid(where, 'generator', 'a Generator', o.generator);
    this.generator = o.generator;
    if (o.sampler !== undefined) {
      if (typeof o.sampler?.indices !== 'function') throw invalid(where, 'sampler', 'a Sampler (with indices())', o.sampler);
      if (this.shuffle) throw new TorchError(`${where}: sampler option is mutually exclusive with shuffle`, 'INVALID_ARGUMENT');
      this.sampler = o.sampler;
    }
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler ? this.sampler.length : this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Sets the epoch the next iteration uses (shuffle order and random transforms derive from it). */
  setEpoch(epoch: number): void {
    this.#epoch = int('data.DataLoader.setEpoch', 'epoch', epoch, 0);
  }

  /** Loads one batch; unreadable files (with skipBadImages) come back in `skipped`, in sample order. */
  private async loadBatch(indices: number[], epoch: number, gate: Semaphore): Promise<{ batch: unknown; skipped: SkippedFile[] }> {
    if (!(this.dataset instanceof ImageFolder)) return { batch: await this.loadSamples(this.dataset, indices, gate), skipped: [] };
    return this.loadImages(this.dataset, indices, epoch, gate);
  }

  /** A Dataset's samples at `indices`, collated; what get() created for them is freed. */
  private async loadSamples(dataset: Dataset<unknown>, indices: number[], gate: Semaphore): Promise<unknown> {
    return scope(async () => defaultCollate(await Promise.all(indices.map((i) => gate.run(async () => dataset.get(i))))));
  }

  private async loadImages(dataset: ImageFolder, indices: number[], epoch: number, gate: Semaphore): Promise<{ batch: Batch | null; skipped: SkippedFile[] }> {
    const skipped: (SkippedFile | undefined)[] = [];
    const turns = this.rng === 'torch' ? new DrawTurns(indices.length) : null;
    const results = await Promise.all(indices.map((i, k) => gate.run(async () => {
      try {
        return turns
          ? await dataset.prepare(i, new TorchRng(), this.#cache, (draw) => turns.take(k, draw))
          : await dataset.prepare(i, new Rng(this.seed, epoch, i), this.#cache);
      } catch (err) {
        await turns?.release(k); // an unreadable file draws nothing; the next one may
        if (!this.skipBadImages) throw err;
        skipped[k] = { path: dataset.samples[i][0], reason: (err as Error).message };
        return null;
      }
    })));
    const reported = skipped.filter((s): s is SkippedFile => s !== undefined);
    const kept = indices.map((i, k) => [i, results[k]] as const).filter((x): x is readonly [number, PreparedImage] => x[1] !== null);
    if (kept.length === 0) return { batch: null, skipped: reported };
    const first = kept[0][1];
    const odd = kept.find(([, im]) => im.width !== first.width || im.height !== first.height);
    if (odd) {
      const [i, im] = odd;
      throw new TorchError(
        `data.DataLoader: images in one batch have different sizes (${first.width}x${first.height} from ${dataset.samples[kept[0][0]][0]} ` +
        `and ${im.width}x${im.height} from ${dataset.samples[i][0]}); batchSize > 1 needs equal sizes: add transforms.centerCrop(224) ` +
        'after the resize (or use resize([h, w]))',
        'VALUE_ERROR',
      );
    }
    const input = await dataset.toTensor(kept.map(([, im]) => im), true, this.pinMemory);
    const target = tensor(BigInt64Array.from(kept.map(([i]) => BigInt(dataset.samples[i][1]))));
    return { batch: { input, target, paths: kept.map(([i]) => dataset.samples[i][0]), indices: kept.map(([i]) => i) }, skipped: reported };
  }

  /** The epoch the next iteration will use. */
  get epoch(): number {
    return this.#epoch;
  }

  [Symbol.asyncIterator](): AsyncIterator<BatchOf<D>> {
    return this.iterate();
  }

  /**
   * One epoch of batches; `startBatch` skips the first batches without loading them (resuming).
   * With rng 'torch', resuming an epoch whose start-of-epoch draws were already made needs
   * `epochSeed` (the loader's `epochSeed` then) when shuffling: nothing is drawn again.
   */
  async *iterate(opts: { startBatch?: number; epochSeed?: bigint } = {}): AsyncGenerator<BatchOf<D>> {
    const where = 'data.DataLoader.iterate';
    const startBatch = int(where, 'startBatch', opts.startBatch ?? 0, 0);
    const epoch = this.#epoch++;
    const count = this.dataset.length;
    const torch = this.rng === 'torch';
    if (torch && startBatch > 0 && this.shuffle && opts.epochSeed === undefined) {
      throw new TorchError(`${where}: resuming at batch ${startBatch} with rng 'torch' needs the epoch's shuffle seed (epochSeed)`, 'INVALID_ARGUMENT');
    }
    const gen = this.generator;
    // The seed torch's DataLoader iterator draws (for workers): from its generator if it has one.
    if (gen) gen._int64();
    else if (torch && startBatch === 0) native.torchDraw('int64');
    let order: number[];
    if (this.sampler) {
      order = this.sampler.indices();
    } else if (!this.shuffle) {
      order = Array.from({ length: count }, (_, i) => i);
    } else if (gen) {
      order = gen._randperm(count);
      gen._randperm(count); // RandomSampler's randperm(n)[:n % n] once the first is used up
    } else if (!torch) {
      order = permutation(count, this.seed, epoch);
    } else {
      // RandomSampler: a fresh generator seeded from the global one, then randperm.
      this.epochSeed = startBatch > 0 ? opts.epochSeed! : native.torchDraw('int64');
      order = native.randperm(count, this.epochSeed);
    }
    const n = order.length;
    const batches: number[][] = [];
    for (let s = 0; s < n; s += this.batchSize) {
      const b = order.slice(s, s + this.batchSize);
      if (b.length === this.batchSize || !this.dropLast) batches.push(b);
    }
    this.skippedFiles = [];
    const gate = new Semaphore(this.concurrency);
    const pending: ReturnType<DataLoader['loadBatch']>[] = [];
    const start = (k: number) => {
      const p = this.loadBatch(batches[k], epoch, gate);
      p.catch(() => undefined); // observed when awaited; avoids unhandled rejections meanwhile
      pending.push(p);
    };
    let next = startBatch;
    try {
      for (let k = startBatch; k < batches.length; k++) {
        while (next < batches.length && next <= k + this.prefetch) start(next++);
        const { batch, skipped } = await pending.shift()!;
        this.skippedFiles.push(...skipped);
        if (batch) yield batch as BatchOf<D>;
      }
    } finally {
      // Early exit: free what was prefetched.
      for (const p of pending) {
        disposeBatch((await p.catch(() => null))?.batch);
      }
      if (this.skippedFiles.length) {
        process.emitWarning(`data.DataLoader skipped ${this.skippedFiles.length} unreadable image(s): ${this.skippedFiles.map((s) => `${s.path} (${s.reason})`).join('; ')}`, 'TorchWarning');
      }
    }
  }
}
