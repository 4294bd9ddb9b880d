// torch.nn.BatchNorm2d (native/nn/batchnorm.cc): batch statistics in training mode, running
// statistics in eval mode, and the running-statistics bookkeeping of PyTorch's _BatchNorm.
import { execMode } from '../autograd';
import { native } from '../native';
import { Device } from '../runtime';
import { Dtype, full, Tensor, track, zeros } from '../tensor';
import { TorchError } from '../errors';
import { bool, finite, int, invalid, options } from '../arguments';
import { Module } from './module';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running ones; null: cumulative average (1 / batches seen). */
  momentum?: number | null;
  /** Learnable per-channel weight and bias (default true). */
  affine?: boolean;
  /** Keep running_mean/running_var/num_batches_tracked and use them in eval mode (default true). */
  trackRunningStats?: boolean;
  device?: Device;
  dtype?: Dtype;
}

/** Batch normalisation over the channels of NCHW input, as torch.nn.BatchNorm2d. */
export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  /** int64 scalar: training-mode forwards so far (state_dict key num_batches_tracked). */
  readonly numBatchesTracked: Tensor | null;

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    const where = 'nn.BatchNorm2d';
    const o = options(where, opts);
    this.numFeatures = int(where, 'numFeatures', numFeatures, 1);
    this.eps = finite(where, 'eps', o.eps ?? 1e-5, 0);
    this.momentum = o.momentum === null ? null : finite(where, 'momentum', o.momentum ?? 0.1);
    this.affine = bool(where, 'affine', o.affine ?? true);
    this.trackRunningStats = bool(where, 'trackRunningStats', o.trackRunningStats ?? true);
    const factory = { device: o.device, dtype: o.dtype };
    // reset_parameters(): weight 1, bias 0, running_mean 0, running_var 1, no random draws.
    this.weight = this.registerParameter('weight', this.affine ? full([numFeatures], 1, factory) : null);
    this.bias = this.registerParameter('bias', this.affine ? zeros([numFeatures], factory) : null);
    const track = this.trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures], factory) : null);
    this.runningVar = this.registerBuffer('running_var', track ? full([numFeatures], 1, factory) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? zeros([], { device: o.device, dtype: 'int64' }) : null);
  }

  async forward(input: Tensor): Promise<Tensor> {
    const where = 'nn.BatchNorm2d.forward';
    this.checkLive('forward');
    if (!(input instanceof Tensor)) throw invalid(where, 'input', 'Tensor', input);
    if (input.ndim !== 4) throw new TorchError(`${where}: expected 4D input (got ${input.ndim}D input)`, 'VALUE_ERROR');
    const training = this.training;
    const useBatchStats = training || this.runningMean === null;
    const shape = input.shape;
    if (useBatchStats && shape[0] * shape[2] * shape[3] === 1) {
      throw new TorchError(`${where}: Expected more than 1 value per channel when training, got input size [${shape.join(', ')}]`, 'VALUE_ERROR');
    }
    const stats = [this.runningMean, this.runningVar, this.numBatchesTracked].filter((t): t is Tensor => t !== null);
    const params = [this.weight, this.bias].filter((t): t is Tensor => t !== null);
    // Training mode updates the running statistics in place; eval mode only reads them.
    const reads = training ? [input, ...params] : [input, ...params, ...stats];
    const writes = training ? stats : [];
    const h = (t: Tensor | null, name: string) => (t ? t._h(where, name) : undefined);
    const handles = [h(input, 'input'), h(this.weight, 'weight'), h(this.bias, 'bias'), h(this.runningMean, 'running_mean'),
      h(this.runningVar, 'running_var'), h(this.numBatchesTracked, 'num_batches_tracked')] as const;
    const momentum = this.momentum ?? NaN;
    const mode = execMode();
    const out = await track(where, reads, writes, () => native.batchNorm(
      handles[0]!, [handles[1], handles[2], handles[3], handles[4], handles[5]], { training, momentum, eps: this.eps }, mode));
    return Tensor._wrap(out);
  }

  protected extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }
}
