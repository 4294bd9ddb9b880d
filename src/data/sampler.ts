import { randperm } from '../random';
import { TorchError } from '../errors';
import { bool, int, options } from '../arguments';
import { getRank, getWorldSize, isInitialized } from '../distributed';

/** Yields dataset indices for a DataLoader (`sampler` option), like torch.utils.data.Sampler. */
export interface Sampler {
  /** The indices of the next epoch, in order. */
  indices(): number[];
  readonly length: number;
}

export interface DistributedSamplerOptions {
  /** Default: the process group's world size. */
  numReplicas?: number;
  /** Default: the process group's rank. */
  rank?: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

/**
 * torch.utils.data.DistributedSampler: each rank gets its own 1/numReplicas of the indices, padded
 * by repeating indices (or trimmed with dropLast) to equal length; with shuffle, the same
 * permutation as torch.randperm seeded with seed + epoch. Call setEpoch(e) before each epoch.
 */
export class DistributedSampler implements Sampler {
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly numSamples: number;
  readonly totalSize: number;
  #epoch = 0;

  constructor(readonly datasetLength: number, opts: DistributedSamplerOptions = {}) {
    const where = 'data.DistributedSampler';
    const o = options(where, opts);
    int(where, 'datasetLength', datasetLength, 0);
    const fromGroup = (what: string) => {
      if (!isInitialized()) throw new TorchError(`${where}: pass ${what} or await dist.initProcessGroup() first`, 'INVALID_ARGUMENT');
      return what === 'numReplicas' ? getWorldSize() : getRank();
    };
    this.numReplicas = o.numReplicas !== undefined ? int(where, 'numReplicas', o.numReplicas, 1) : fromGroup('numReplicas');
    this.rank = o.rank !== undefined ? int(where, 'rank', o.rank, 0) : fromGroup('rank');
    if (this.rank >= this.numReplicas) {
      throw new TorchError(`${where}: Invalid rank ${this.rank}, rank should be in the interval [0, ${this.numReplicas - 1}]`, 'INVALID_ARGUMENT');
    }
    this.shuffle = bool(where, 'shuffle', o.shuffle ?? true);
    this.seed = int(where, 'seed', o.seed ?? 0, 0);
    this.dropLast = bool(where, 'dropLast', o.dropLast ?? false);
    const n = datasetLength;
    this.numSamples = this.dropLast && n % this.numReplicas !== 0
      ? Math.max(0, Math.ceil((n - this.numReplicas) / this.numReplicas))
      : Math.ceil(n / this.numReplicas);
    this.totalSize = this.numSamples * this.numReplicas;
  }

  get length(): number {
    return this.numSamples;
  }

  setEpoch(epoch: number): void {
    this.#epoch = int('data.DistributedSampler.setEpoch', 'epoch', epoch, 0);
  }

  indices(): number[] {
    const n = this.datasetLength;
    let all = this.shuffle ? randperm(n, this.seed + this.#epoch) : Array.from({ length: n }, (_, i) => i);
    if (!this.dropLast) {
      while (all.length > 0 && all.length < this.totalSize) all = all.concat(all.slice(0, this.totalSize - all.length));
    } else {
      all = all.slice(0, this.totalSize);
    }
    return all.filter((_, i) => i % this.numReplicas === this.rank);
  }
}
