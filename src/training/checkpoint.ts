// train()'s checkpoint, last.ckpt: what it holds, writing it, and resuming from it (the settings
// a resumed run keeps or may change, and putting the saved state back into the live objects).
import * as fs from 'fs';
import * as path from 'path';
import { GradScaler, GradScalerStateDict } from '../amp';
import { TorchError } from '../errors';
import * as io from '../io';
import * as nn from '../nn';
import * as optim from '../optim';
import { getRngState, setRngState } from '../random';
import { Tensor } from '../tensor';
import { RecipeDetails, TrainConfig } from './config';
import { Evaluation } from './evaluate';
import { BestEpoch, EpochEvent, ModelMeta } from './recipe';

export const CHECKPOINT_FORMAT = 'torchbridge-train-v1';

/** The training loss and accuracy counts of the epoch so far. */
export interface EpochStats { lossSum: number; correct: number; seen: number }

export interface Checkpoint {
  format: string;
  model: Map<string, Tensor>;
  optimizer: optim.OptimizerStateDict;
  scheduler: Record<string, unknown> | null;
  /** GradScaler state under --amp fp16 (absent in checkpoints from before mixed precision). */
  scaler?: GradScalerStateDict | null;
  epoch: number;
  batch: number;
  stats: EpochStats;
  rng_state: Tensor;
  grads: Map<string, Tensor> | null;
  history: EpochEvent[];
  /** The best keepBestBy value so far (validation accuracy in checkpoints without best_epoch). */
  best: number | null;
  best_epoch?: number | null;
  meta: ModelMeta;
  /** The run's resolved settings, its data folder as an absolute path. */
  config: Record<string, unknown>;
  /** The world size the batch index counts in. */
  world_size?: number;
  /** Mid-epoch with PyTorch's loading: the shuffle seed the epoch drew. */
  epoch_seed?: number | bigint | null;
  /** The cosine period (or StepLR step) was derived from the epochs, not given. */
  schedule_follows_epochs?: boolean;
  /** The run ended by --patience. */
  stopped_early?: boolean;
  /** The last validation: what run.json reports. */
  validation?: (Evaluation & { epoch: number }) | null;
}

/** Disposes every tensor in a loaded value (its maps, arrays and objects searched). */
export function disposeTensors(value: unknown): void {
  if (value instanceof Tensor) value.dispose();
  else if (value instanceof Map) value.forEach(disposeTensors);
  else if (Array.isArray(value)) value.forEach(disposeTensors);
  else if (value && typeof value === 'object') Object.values(value).forEach(disposeTensors);
}

/** The live objects a checkpoint saves and restores. */
export interface TrainingState {
  model: nn.Module;
  optimizer: optim.Optimizer<{ lr: number }, object>;
  scheduler: optim.lrScheduler.LRScheduler | null;
  scaler: GradScaler | null;
}

/** Where a run stands, beside its weights: what the checkpoint records of its epochs. */
export interface Progress {
  stats: EpochStats;
  history: EpochEvent[];
  best: BestEpoch | null;
  /** The last validation: what run.json reports. */
  validation: (Evaluation & { epoch: number }) | null;
}

/** What a run's checkpoints say of the run itself. */
export interface RunRecord {
  meta: ModelMeta;
  config: TrainConfig & RecipeDetails;
  worldSize: number;
  /** The cosine period (or StepLR step) was derived from the epochs, not given. */
  followsEpochs: boolean;
}

/**
 * Writes `file` (last.ckpt) from the live state: resumable at `epoch` (epochs done) and `batch`
 * (steps done of the next one). With gradients accumulated over an epoch (the seed recipe), a
 * mid-epoch checkpoint keeps them too.
 */
export async function saveCheckpoint(
  file: string, state: TrainingState, run: RunRecord, progress: Progress,
  at: { epoch: number; batch: number; epochSeed: number | bigint | null; stoppedEarly?: boolean },
): Promise<void> {
  const { model, optimizer, scheduler, scaler } = state;
  const { epoch, batch } = at;
  const c = run.config;
  const grads = c.zeroGradPerEpoch && batch > 0 ? new Map(model.namedParameters().map(([k, p]) => [k, p.grad]).filter((e): e is [string, Tensor] => e[1] !== null)) : null;
  const { stats, history, best, validation } = progress;
  const checkpoint: Checkpoint = {
    format: CHECKPOINT_FORMAT, model: model.stateDict(), optimizer: optimizer.stateDict(), scheduler: scheduler?.stateDict() ?? null,
    scaler: scaler ? scaler.stateDict() as GradScalerStateDict : null,
    epoch, batch, stats, rng_state: getRngState(), grads, history, best: best?.value ?? null, best_epoch: best?.epoch ?? null, meta: run.meta,
    config: { ...c, data: path.resolve(c.data) }, world_size: run.worldSize,
    epoch_seed: batch > 0 ? at.epochSeed : null,
    schedule_follows_epochs: run.followsEpochs, stopped_early: at.stoppedEarly ?? false, validation,
  };
  await io.save(checkpoint as unknown as io.PyValue, file);
  for (const v of [...checkpoint.model.values(), ...(grads?.values() ?? []), checkpoint.rng_state]) v.dispose();
}

export async function openCheckpoint(file: string): Promise<Checkpoint> {
  if (!fs.existsSync(file)) throw new TorchError(`train: --resume ${file} does not exist`, 'INVALID_ARGUMENT');
  const ck = await io.load<Checkpoint>(file);
  if (!ck || typeof ck !== 'object' || ck.format !== CHECKPOINT_FORMAT) {
    disposeTensors(ck);
    throw new TorchError(`train: --resume ${file} is not a checkpoint written by train (last.ckpt)`, 'BAD_FILE');
  }
  return ck;
}

/**
 * Puts a checkpoint's state (weights, optimizer, schedule, loss scale, accumulated gradients,
 * random state) into the live objects, and says where the run goes on. The checkpoint's tensors
 * are disposed: the state is the live objects' now.
 */
export async function restoreCheckpoint(
  ck: Checkpoint, state: TrainingState, run: { config: TrainConfig; worldSize: number; isMain: boolean; log: (message: string) => void },
): Promise<{ epoch: number; batch: number; epochSeed: number | bigint | null; progress: Progress }> {
  const { model, optimizer, scheduler, scaler } = state;
  await model.loadStateDict(ck.model);
  optimizer.loadStateDict(ck.optimizer);
  if (scheduler && ck.scheduler) scheduler.loadStateDict(ck.scheduler);
  if (scaler && ck.scaler) scaler.loadStateDict(ck.scaler);
  if (ck.grads) {
    const named = new Map(model.namedParameters());
    for (const [k, g] of ck.grads) {
      const p = named.get(k);
      if (p) p.grad = g;
    }
  }
  setRngState(ck.rng_state);
  disposeTensors(ck); // all copied: the weights, optimizer state and gradients are the model's now
  let batch = ck.batch;
  if ((ck.world_size ?? 1) !== run.worldSize && batch > 0) {
    run.log(`the checkpoint stopped mid-epoch with ${ck.world_size ?? 1} process(es), this run has ${run.worldSize}: epoch ${ck.epoch + 1} starts over`);
    batch = 0;
  }
  return {
    epoch: ck.epoch,
    batch,
    epochSeed: ck.epoch_seed ?? null,
    progress: {
      stats: run.isMain ? ck.stats : { lossSum: 0, correct: 0, seen: 0 }, // saved summed over ranks: counted once
      history: ck.history,
      best: bestOf(ck, run.config),
      validation: ck.validation ?? null,
    },
  };
}

/**
 * After a resume: a schedule that followed the old epochs runs over the new ones from this epoch
 * on (`restretch`); a cosine past its period says that its lr rises again.
 */
export function refitSchedule(state: TrainingState, c: TrainConfig, restretch: boolean, epoch: number, log: (message: string) => void): void {
  const { scheduler, optimizer: opt } = state;
  if (!scheduler) return;
  if (restretch && !(scheduler instanceof optim.lrScheduler.CosineAnnealingLR || scheduler instanceof optim.lrScheduler.StepLR)) {
    log(`the schedule follows --warmup-epochs ${c.warmupEpochs} and its own period, which a resumed run keeps`);
  } else if (restretch) {
    const before = opt.paramGroups[0].lr;
    if (scheduler instanceof optim.lrScheduler.CosineAnnealingLR) scheduler.tMax = c.tMax;
    else (scheduler as optim.lrScheduler.StepLR).stepSize = c.tMax;
    scheduler.step(scheduler.lastEpoch); // the closed form at this epoch, with the new period
    log(`the ${c.scheduler} schedule followed the epochs, so it now runs over ${c.epochs} (--t-max ${c.tMax}): epoch ${epoch + 1} runs at lr ${formatLr(opt.paramGroups[0].lr)} instead of ${formatLr(before)}`);
  } else if (scheduler.lastEpoch >= c.tMax && c.scheduler === 'cosine') {
    log(`the cosine schedule keeps --t-max ${c.tMax}; past it the lr rises again (PyTorch's cosine is periodic): epoch ${epoch + 1} runs at lr ${formatLr(opt.paramGroups[0].lr)}`);
  }
}

// What a resumed run may change. The rest defines the run (model, preprocessing, optimizer,
// schedule, random state): changing it mid-run would silently make it another run.
const RESUMABLE_CHANGES = new Set(['epochs', 'data', 'device', 'threads', 'evalEvery', 'skipBadImages', 'exact', 'amp', 'patience']);
const RECIPE_DETAILS = new Set(['normalize', 'augment', 'shuffle', 'zeroGradPerEpoch', 'pytorchDataLoader']);

/** A setting a resumed run changes. */
export interface Change { key: string; before: unknown; after: unknown }

/**
 * The settings of a resumed run: the checkpoint's own, then the options given now, each change
 * listed. Options that would change the run itself are refused with the way to do it instead.
 */
export function resumeSettings(ck: Checkpoint, file: string, given: Partial<TrainConfig>): { settings: Partial<TrainConfig> & { data: string; out: string }; changes: Change[]; restretch: boolean } {
  const saved = ck.config as Partial<TrainConfig> & Record<string, unknown>;
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(saved)) if (!RECIPE_DETAILS.has(key) && !['out', 'resume', 'json'].includes(key)) settings[key] = value;
  const changes: Change[] = [];
  let restretch = false;
  for (const [key, after] of Object.entries(given)) {
    if (after === undefined || ['resume', 'out', 'json'].includes(key)) continue;
    const before = saved[key];
    if (key === 'data' ? path.resolve(String(after)) === before : after === before) continue;
    if (key === 'weights') {
      throw new TorchError(`train: --weights ${after} has no effect when resuming ${file}, which holds the run's weights; to start a new run from ${after}, leave out --resume`, 'INVALID_ARGUMENT');
    }
    if (!RESUMABLE_CHANGES.has(key)) {
      throw new TorchError(
        `train: ${flagOf(key)} ${after} cannot change when resuming ${file} (its run has ${flagOf(key)} ${before}): the optimizer, schedule and random ` +
        `state carry on from where it stopped. To train on with ${flagOf(key)} ${after}, start a new run from its weights: --weights ${file} ${flagOf(key)} ${after}`,
        'INVALID_ARGUMENT',
      );
    }
    if (key === 'epochs') {
      const done = ck.epoch + (ck.batch > 0 ? 1 : 0);
      if (typeof after === 'number' && after < done) {
        throw new TorchError(`train: --epochs ${after}: ${file} has already trained ${ck.epoch} epoch(s)${ck.batch > 0 ? ` and part of epoch ${ck.epoch + 1}` : ''}; give more epochs to train on`, 'INVALID_ARGUMENT');
      }
      // A schedule that followed the epochs follows them still (train logs the new lr).
      if (ck.schedule_follows_epochs && saved.scheduler !== 'none') {
        settings.tMax = 0;
        restretch = true;
      }
    }
    changes.push({ key, before, after });
    settings[key] = after;
  }
  if (given.data === undefined && typeof saved.data === 'string' && !fs.existsSync(saved.data)) {
    throw new TorchError(`train: the run's data folder ${saved.data} is gone; give --data with the same classes to resume ${file}`, 'INVALID_ARGUMENT');
  }
  settings.out = given.out ?? path.dirname(file);
  settings.resume = file;
  return { settings: settings as Partial<TrainConfig> & { data: string; out: string }, changes, restretch };
}

export function bestOf(ck: Checkpoint, c: TrainConfig): BestEpoch | null {
  if (ck.best === null) return null;
  const epoch = ck.best_epoch ?? ck.history.find((h) => h.valAcc === ck.best)?.epoch ?? 0;
  const valAcc = ck.history.find((h) => h.epoch === epoch)?.valAcc ?? ck.best;
  return { metric: c.keepBestBy, value: ck.best, epoch, valAcc };
}

/** The option a config key is given with on the command line (`batchSize` -> `--batch-size`). */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;
}

function formatLr(lr: number): string {
  return lr === 0 ? '0' : String(Number(lr.toPrecision(4)));
}
