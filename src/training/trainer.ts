// train(config, events): the main job as a library. It resolves the run's settings (a resumed
// run's from its checkpoint), then runs the epochs: train, validate, keep the best, checkpoint.
// The parts live beside it: recipe.ts (model, transforms, one step), checkpoint.ts (last.ckpt),
// evaluate.ts, weights.ts (weight files). The CLIs are thin over these.
import * as fs from 'fs';
import * as path from 'path';
import { GradScaler } from '../amp';
import { DataLoader, DistributedSampler, ImageFolder } from '../data';
import * as dist from '../distributed';
import { TorchError } from '../errors';
import * as io from '../io';
import { scope } from '../memory';
import * as nn from '../nn';
import * as optim from '../optim';
import { buildInfo, cuda, Device, getNumThreads, manualSeed, setNumThreads } from '../runtime';
import { tensor, Tensor } from '../tensor';
import {
  bestOf, Change, Checkpoint, disposeTensors, EpochStats, flagOf, openCheckpoint, Progress, refitSchedule, restoreCheckpoint, resumeSettings,
  RunRecord, saveCheckpoint, TrainingState,
} from './checkpoint';
import { RecipeDetails, RECIPES, resolveConfig, TrainConfig } from './config';
import { evaluate, Evaluation } from './evaluate';
import { renderCurves } from './plot';
import { ProgressBar } from './progress';
import { BestEpoch, buildArch, buildModel, freezeFeatures, EpochEvent, evalTransform, ModelMeta, stateDictWithMeta, trainStep, TrainEvents, TrainResult, trainTransform } from './recipe';
import { initialModel } from './weights';

export type TrainOptions = Partial<TrainConfig> & {
  /** Required unless resuming (the run's own folder, then). */
  data?: string;
  /** Required unless resuming (default: the checkpoint's folder). */
  out?: string;
  /** The CLI's note that --weights DEFAULT was asked for explicitly (so a missing file is downloaded). */
  weightsExplicit?: boolean;
};

/**
 * Trains AlexNet on an ImageFolder pair (train/, val/) with the seed's recipe or the fine-tuning
 * default. With `resume`, continues that run with its own settings; the options given change them
 * where a run may change (epochs, data folder, device, ...), and the change is logged.
 */
export async function train(config: TrainOptions, events: TrainEvents = {}): Promise<TrainResult> {
  const { weightsExplicit = false, ...options } = config;
  const ck = options.resume !== undefined ? await openCheckpoint(options.resume) : null;
  try {
    const { run, changes } = planRun(options, ck, weightsExplicit, events);
    const finished = ck ? announceResume(run, ck, changes) : null;
    if (finished) return finished;
    // A run that fails before writing anything leaves no empty folder behind.
    const createdOut = run.isMain ? fs.mkdirSync(run.c.out, { recursive: true }) : undefined;
    try {
      return await trainLoop(run);
    } catch (err) {
      if (createdOut) removeIfEmpty(run.c.out, createdOut);
      throw err;
    }
  } finally {
    if (ck) disposeTensors(ck);
  }
}

/** The run's settings: the options, or a resumed run's own with the options' changes. */
function planRun(options: Omit<TrainOptions, 'weightsExplicit'>, ck: Checkpoint | null, weightsExplicit: boolean, events: TrainEvents): { run: Run; changes: Change[] } {
  // Under an initialised process group every rank trains its share of each epoch through DDP;
  // rank 0 alone reports and writes files.
  const world = dist.isInitialized() ? { rank: dist.getRank(), size: dist.getWorldSize() } : { rank: 0, size: 1 };
  const isMain = world.rank === 0;
  const log = (isMain && events.onLog) || (() => undefined);
  const resumed = ck ? resumeSettings(ck, options.resume as string, options) : null;
  if (!resumed && (options.data === undefined || options.out === undefined)) {
    throw new TorchError('train: data and out are required (unless resuming)', 'INVALID_ARGUMENT');
  }
  const c = resolveConfig(resumed?.settings ?? (options as Partial<TrainConfig> & { data: string; out: string }));
  if (isMain) events.onConfig?.(c);
  const run: Run = {
    c, ck, world, isMain, events, log, weightsExplicit, started: Date.now(),
    restretch: resumed?.restretch ?? false,
    // Whether --t-max came from the epochs (then a resume that changes the epochs changes it too).
    followsEpochs: ck ? ck.schedule_follows_epochs ?? false : RECIPES[c.recipe].tMax === 0 && !options.tMax,
  };
  return { run, changes: resumed?.changes ?? [] };
}

/** Logs where a resumed run goes on, with what changed; the result when nothing is left to train. */
function announceResume(run: Run, ck: Checkpoint, changes: Change[]): TrainResult | null {
  const { c, log } = run;
  if (ck.stopped_early && !changes.some((ch) => ch.key === 'patience')) {
    log(`nothing to train: ${c.resume} stopped early at epoch ${ck.epoch} (--patience ${c.patience} on ${c.keepBestBy}); resume with a larger --patience, or --patience 0 (off), to train on`);
    return resultOf(run, ck.history, bestOf(ck, c));
  }
  if (ck.epoch >= c.epochs && ck.batch === 0) {
    log(`nothing to train: ${c.resume} finished its ${ck.epoch} epochs; resume with --epochs N (N > ${ck.epoch}) to train on`);
    return resultOf(run, ck.history, bestOf(ck, c));
  }
  const changed = changes.map((ch) => `${flagOf(ch.key)} ${ch.before} -> ${ch.after}`).join(', ');
  log(`resuming ${c.resume} at epoch ${ck.epoch + 1}${ck.batch > 0 ? `, step ${ck.batch}` : ''} with ${changed ? `its settings but ${changed}` : 'its own settings'}`);
  return null;
}

/** One call of train(): its settings and where it reports. */
interface Run {
  c: TrainConfig & RecipeDetails;
  ck: Checkpoint | null;
  world: { rank: number; size: number };
  isMain: boolean;
  events: TrainEvents;
  log: (message: string) => void;
  weightsExplicit: boolean;
  started: number;
  /** A resume that changed the epochs of a schedule that follows them. */
  restretch: boolean;
  followsEpochs: boolean;
}

function resultOf(run: Run, history: EpochEvent[], best: BestEpoch | null, extra: Partial<TrainResult> = {}): TrainResult {
  return { outDir: run.c.out, history, best, bestValAcc: best?.valAcc ?? null, interrupted: false, stoppedEarly: false, epochsRun: 0, config: run.c, ...extra };
}

/** A run under way: its live objects and where it stands. */
interface Loop extends TrainingState {
  run: Run;
  /** The model as trained: under DistributedDataParallel with several processes. */
  net: nn.Module;
  criterion: nn.Module;
  device: string;
  onCuda: boolean;
  meta: ModelMeta;
  trainLoader: DataLoader;
  sampler: DistributedSampler | undefined;
  valLoader: DataLoader;
  valBatch: number;
  progress: Progress;
  /** Writes last.ckpt (rank 0 only). */
  checkpoint: (at: { epoch: number; batch: number; stoppedEarly?: boolean }) => Promise<void>;
  /** Skipped images (--skip-bad-images): one line per file, the first time it is skipped. */
  reportSkipped: (loader: DataLoader) => void;
}

/**
 * The per-epoch schedule: cosine or step, after --warmup-epochs of LinearLR (PyTorch's default
 * start factor 1/3) through SequentialLR, as a PyTorch script chains them.
 */
function makeScheduler(optimizer: optim.Optimizer<{ lr: number }, object>, c: TrainConfig): optim.lrScheduler.LRScheduler | null {
  const { lrScheduler } = optim;
  const main = c.scheduler === 'cosine' ? new lrScheduler.CosineAnnealingLR(optimizer, { tMax: c.tMax })
    : c.scheduler === 'step' ? new lrScheduler.StepLR(optimizer, { stepSize: c.tMax, gamma: 0.1 }) : null;
  if (c.warmupEpochs === 0) return main;
  const warmup = new lrScheduler.LinearLR(optimizer, { totalIters: c.warmupEpochs });
  if (!main) return warmup;
  return new lrScheduler.SequentialLR(optimizer, { schedulers: [warmup, main], milestones: [c.warmupEpochs] });
}

async function trainLoop(run: Run): Promise<TrainResult> {
  const { c, ck, world, isMain, events, log } = run;
  if (c.threads > 0) setNumThreads(c.threads);
  const device = c.device === 'auto' ? (cuda.isAvailable() ? 'cuda' : 'cpu') : c.device;
  const onCuda = device.startsWith('cuda');
  const { trainSet, valSet, meta } = await openDataSets(run);
  const classes = meta.classes;
  manualSeed(c.seed);
  // Resuming loads every weight from the checkpoint: no pretrained weights are read.
  const fresh = () => (c.arch === 'alexnet' ? buildModel(c.head, classes.length) : buildArch(c.arch, classes.length));
  const model = ck ? await nn.init.initDeferred(fresh) : await initialModel(c, classes, run.weightsExplicit, log);
  if (c.freezeFeatures) freezeFeatures(model, c.arch);
  if (device !== 'cpu') await model.to(device as Device);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = c.optimizer === 'adam' ? new optim.Adam(params, { lr: c.lr, weightDecay: c.weightDecay, fused: !c.exact })
    : c.optimizer === 'adamw' ? new optim.AdamW(params, { lr: c.lr, weightDecay: c.weightDecay, fused: !c.exact })
      : new optim.SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay, fused: !c.exact });
  // Whatever happens (an error such as out of memory included), the model and optimizer state
  // are freed here, not left to the garbage collector: a retry must find the memory free.
  let net: nn.Module = model;
  try {
    const scheduler = makeScheduler(optimizer, c);
    // float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
    const scaler = c.amp === 'fp16' ? new GradScaler() : null;
    const sampler = world.size > 1 ? new DistributedSampler(trainSet.length, { shuffle: c.shuffle, seed: c.seed }) : undefined;
    const rng = c.pytorchDataLoader ? 'torch' : 'torchbridge';
    const trainLoader = new DataLoader(trainSet, {
      batchSize: c.batchSize, shuffle: c.shuffle && !sampler, sampler, seed: c.seed, skipBadImages: c.skipBadImages, cache: !c.augment,
      pinMemory: onCuda, rng,
    });
    net = world.size > 1 ? new nn.DistributedDataParallel(model) : model;
    // The seed recipe resizes without cropping, so its images differ in size: it validates one by one.
    const valBatch = c.recipe === 'seed' ? 1 : Math.max(c.batchSize, 32);
    const valLoader = new DataLoader(valSet, {
      batchSize: valBatch, skipBadImages: c.skipBadImages, cache: true, pinMemory: onCuda, rng,
    });
    const state: TrainingState = { model, optimizer, scheduler, scaler };
    const progress: Progress = { stats: { lossSum: 0, correct: 0, seen: 0 }, history: [], best: null, validation: null };
    let start = { epoch: 0, batch: 0, epochSeed: null as number | bigint | null };
    if (ck) {
      const restored = await restoreCheckpoint(ck, state, { config: c, worldSize: world.size, isMain, log });
      Object.assign(progress, restored.progress);
      start = restored;
      refitSchedule(state, c, run.restretch, start.epoch, log);
    }
    const record: RunRecord = { meta, config: c, worldSize: world.size, followsEpochs: run.followsEpochs };
    const reported = new Set<string>();
    const loop: Loop = {
      ...state, run, net, criterion: new nn.CrossEntropyLoss(), device, onCuda, meta, trainLoader, sampler, valLoader, valBatch, progress,
      checkpoint: async (at) => {
        if (isMain) await saveCheckpoint(path.join(c.out, 'last.ckpt'), state, record, progress, { ...at, epochSeed: trainLoader.epochSeed ?? null });
      },
      reportSkipped: (loader) => {
        for (const s of loader.skippedFiles) {
          if (reported.has(s.path)) continue;
          reported.add(s.path);
          log(`warning: skipped unreadable image ${s.path}: ${skipReason(s.reason)}`);
        }
      },
    };

    model.train();
    let interrupted = false;
    let stoppedEarly = false;
    let epochsRun = 0;
    for (let epoch = start.epoch; epoch < c.epochs && !interrupted && !stoppedEarly; epoch++) {
      const epochStart = Date.now();
      const first = epoch === start.epoch ? start.batch : 0;
      const lr = optimizer.paramGroups[0].lr; // the scheduler steps per epoch: every step of this epoch uses it
      const epochSeed = first > 0 && start.epochSeed !== null ? BigInt(start.epochSeed) : undefined;
      if (await trainEpoch(loop, epoch, first, epochSeed)) {
        interrupted = true;
        break;
      }
      if (world.size > 1) progress.stats = await sumAcrossRanks(progress.stats);
      scheduler?.step();
      const evalNow = epoch + 1 === c.epochs || (c.evalEvery > 0 && (epoch + 1) % c.evalEvery === 0);
      const evaluation = evalNow ? await validate(loop, epoch) : null;
      const { stats } = progress;
      const record: EpochEvent = {
        epoch: epoch + 1, trainLoss: stats.lossSum / Math.max(stats.seen, 1), trainAcc: stats.correct / Math.max(stats.seen, 1),
        valLoss: evaluation?.loss ?? null, valAcc: evaluation?.accuracy ?? null,
        lr, nextLr: optimizer.paramGroups[0].lr, seconds: (Date.now() - epochStart) / 1000,
      };
      progress.history.push(record);
      epochsRun++;
      const stopReason = evaluation ? await keepBest(loop, evaluation, epoch) : null;
      stoppedEarly = stopReason !== null;
      await loop.checkpoint({ epoch: epoch + 1, batch: 0, stoppedEarly });
      await writeArtifacts(loop, stoppedEarly);
      if (isMain) events.onEpoch?.(record);
      if (stopReason) log(stopReason); // after the epoch line it explains
      if (await stopRequested(events.signal, world.size) && epoch + 1 < c.epochs && !stoppedEarly) interrupted = true;
    }
    if (isMain && !fs.existsSync(path.join(c.out, 'best.pth'))) await io.save(stateDictWithMeta(model, meta) as unknown as io.PyValue, path.join(c.out, 'best.pth'));
    await writeArtifacts(loop, stoppedEarly);
    return resultOf(run, progress.history, progress.best, { interrupted, stoppedEarly, epochsRun });
  } finally {
    net.dispose();
    optimizer.dispose();
  }
}

/** The train/ and val/ sets and the model's meta; both sets, and a resumed run's model, must have the same classes. */
async function openDataSets({ c, ck }: Run): Promise<{ trainSet: ImageFolder; valSet: ImageFolder; meta: ModelMeta }> {
  const trainSet = await ImageFolder.create(path.join(c.data, 'train'), { transform: trainTransform(c) });
  const valSet = await ImageFolder.create(path.join(c.data, 'val'), { transform: evalTransform(c) });
  if (valSet.classes.join('\n') !== trainSet.classes.join('\n')) {
    throw new TorchError(`train: train/ has classes [${trainSet.classes}] but val/ has [${valSet.classes}]`, 'INVALID_ARGUMENT');
  }
  const classes = trainSet.classes;
  if (ck && ck.meta.classes.join('\n') !== classes.join('\n')) {
    throw new TorchError(`train: --resume ${c.resume} was trained on classes [${ck.meta.classes}], but ${c.data} has [${classes}]`, 'INVALID_ARGUMENT');
  }
  return { trainSet, valSet, meta: { arch: c.arch, head: c.head, classes, recipe: c.recipe, imageSize: c.imageSize, normalize: c.normalize } };
}

/**
 * The steps of one epoch from step `first`. Returns true when a stop was requested mid-epoch
 * (last.ckpt is written then, resumable at the next step).
 */
async function trainEpoch(loop: Loop, epoch: number, first: number, epochSeed: bigint | undefined): Promise<boolean> {
  const { run: { c, world, isMain, events }, optimizer, trainLoader, device, onCuda, progress } = loop;
  trainLoader.setEpoch(epoch);
  loop.sampler?.setEpoch(epoch);
  if (first === 0) progress.stats = { lossSum: 0, correct: 0, seen: 0 };
  if (c.zeroGradPerEpoch && first === 0) optimizer.zeroGrad();
  const stepsPerEpoch = trainLoader.length;
  const bar = new ProgressBar(isMain ? stepsPerEpoch : 0, `epoch ${epoch + 1}/${c.epochs}`);
  const parts = { model: loop.net, optimizer, criterion: loop.criterion, scaler: loop.scaler, amp: c.amp, device, clipGradNorm: c.clipGradNorm };
  let step = first;
  let interrupted = false;
  try {
    for await (const batch of trainLoader.iterate({ startBatch: first, epochSeed })) {
      // Pinned batches copy asynchronously; the loss and accuracy read-backs are the only waits.
      const input = onCuda ? batch.input.to({ device: device as Device, nonBlocking: true }) : batch.input;
      const target = onCuda ? batch.target.to({ device: device as Device, nonBlocking: true }) : batch.target;
      if (!c.zeroGradPerEpoch) optimizer.zeroGrad();
      let out: Tensor;
      let loss: Tensor;
      try {
        ({ out, loss } = await trainStep(parts, input, target));
      } catch (err) {
        [input, target, batch.input, batch.target].forEach((t) => t.dispose());
        throw explainOutOfMemory(err, device, c.batchSize, `training step ${step + 1} of epoch ${epoch + 1}`);
      }
      const lossValue = loss.item();
      const n = batch.indices.length;
      const { stats } = progress;
      stats.lossSum += lossValue * n;
      stats.correct += scope(() => out.argmax(1).eq(target).sum().item()); // frees the metric's temporaries now
      stats.seen += n;
      [out, loss, input, target, batch.input, batch.target].forEach((t) => t.dispose());
      step++;
      if (isMain) events.onStep?.({ epoch: epoch + 1, step, steps: stepsPerEpoch, loss: lossValue, lr: optimizer.paramGroups[0].lr });
      bar.update(step, `loss=${(stats.lossSum / stats.seen).toFixed(4)}, acc=${(stats.correct / stats.seen).toFixed(3)}`);
      if (await stopRequested(events.signal, world.size) && step < stepsPerEpoch) {
        bar.done();
        if (world.size > 1) progress.stats = await sumAcrossRanks(progress.stats);
        await loop.checkpoint({ epoch, batch: step });
        interrupted = true;
        break;
      }
    }
  } catch (err) {
    bar.done();
    throw explainBadImage(err, c.skipBadImages);
  }
  loop.reportSkipped(trainLoader);
  if (!interrupted) bar.done();
  return interrupted;
}

/** Validation after `epoch`, kept as the run's last. */
async function validate(loop: Loop, epoch: number): Promise<Evaluation> {
  const { run: { c, isMain }, valLoader, device } = loop;
  const bar = new ProgressBar(isMain ? valLoader.length : 0, 'validating');
  let evaluation: Evaluation;
  try {
    evaluation = await evaluate(loop.model, valLoader, { device, amp: c.amp, onBatch: (done) => bar.update(done) });
  } catch (err) {
    throw explainBadImage(explainOutOfMemory(err, device, loop.valBatch, `validation after epoch ${epoch + 1}`), c.skipBadImages);
  } finally {
    bar.done();
  }
  loop.reportSkipped(valLoader);
  loop.progress.validation = { epoch: epoch + 1, ...evaluation };
  return evaluation;
}

/** Writes best.pth when `evaluation` beats the best so far. Returns why --patience stops the run here, or null. */
async function keepBest(loop: Loop, evaluation: Evaluation, epoch: number): Promise<string | null> {
  const { run: { c, isMain }, progress } = loop;
  const value = c.keepBestBy === 'val_loss' ? evaluation.loss : evaluation.accuracy;
  if (progress.best === null || (c.keepBestBy === 'val_loss' ? value < progress.best.value : value > progress.best.value)) {
    progress.best = { metric: c.keepBestBy, value, epoch: epoch + 1, valAcc: evaluation.accuracy };
    if (isMain) await io.save(stateDictWithMeta(loop.model, loop.meta) as unknown as io.PyValue, path.join(c.out, 'best.pth'));
  }
  const best = progress.best;
  const since = progress.history.filter((h) => h.epoch > best.epoch && h.valAcc !== null).length;
  if (c.patience > 0 && since >= c.patience && epoch + 1 < c.epochs) {
    return `early stop after epoch ${epoch + 1}: ${c.keepBestBy} has not improved for ${since} validation(s) (--patience ${c.patience}); best ${best.value.toFixed(4)} at epoch ${best.epoch}`;
  }
  return null;
}

/** metrics.jsonl, curves.png and run.json in the output folder (rank 0 only). */
async function writeArtifacts(loop: Loop, stoppedEarly: boolean): Promise<void> {
  const { run, progress: { history, best, validation } } = loop;
  const { c } = run;
  if (!run.isMain) return;
  await fs.promises.writeFile(path.join(c.out, 'metrics.jsonl'), history.map((h) => JSON.stringify(h)).join('\n') + (history.length ? '\n' : ''));
  const title = `AlexNet ${c.recipe} on ${path.basename(path.resolve(c.data))}: loss and accuracy per epoch`;
  await fs.promises.writeFile(path.join(c.out, 'curves.png'), await renderCurves(history, title));
  const classes = loop.meta.classes;
  await writeJson(path.join(c.out, 'run.json'), {
    config: c, device: loop.device, threads: getNumThreads(), torchbridge: require('../../package.json').version, libtorch: buildInfo().torchVersion,
    node: process.version, worldSize: run.world.size, classes, seconds: (Date.now() - run.started) / 1000, epochs: history.length,
    bestValAcc: best?.valAcc ?? null, best, stoppedEarly,
    validation: validation && { ...validation, classes },
  });
}

/** Whether to stop here: any rank's signal stops every rank at the same step. */
async function stopRequested(signal: AbortSignal | undefined, worldSize: number): Promise<boolean> {
  if (worldSize === 1) return signal?.aborted ?? false;
  const flag = tensor([signal?.aborted ? 1 : 0]);
  await dist.allReduce(flag, { op: 'max' });
  const stop = flag.item() === 1;
  flag.dispose();
  return stop;
}

async function sumAcrossRanks(stats: EpochStats): Promise<EpochStats> {
  const t = tensor([stats.lossSum, stats.correct, stats.seen], { dtype: 'float64' });
  await dist.allReduce(t);
  const [lossSum, correct, seen] = Array.from(t.toArray() as Float64Array);
  t.dispose();
  return { lossSum, correct, seen };
}

/** Out of memory in a training or validation step: say which batch size failed and what to try. */
function explainOutOfMemory(err: unknown, device: string, batchSize: number, phase: string): unknown {
  if (!(err instanceof TorchError) || err.code !== 'OUT_OF_MEMORY') return err;
  // Give the failed attempt's cache back so a retry can fit (where this libtorch can).
  if (device.startsWith('cuda')) try { cuda.emptyCache(); } catch { /* NOT_IMPLEMENTED: keep the OOM error */ }
  const smaller = Math.max(1, Math.floor(batchSize / 2));
  return new TorchError(
    `train: out of memory on ${device} during ${phase} at batch size ${batchSize}` +
    (batchSize > 1 ? `; try a smaller batch, e.g. --batch-size ${smaller}` : '; the model does not fit at batch size 1 on this device') +
    ` (${err.message.split('\n')[0]})`,
    'OUT_OF_MEMORY',
  );
}

/** An unreadable image without --skip-bad-images: say which option skips it. */
function explainBadImage(err: unknown, skipping: boolean): unknown {
  if (skipping || !(err instanceof TorchError) || err.code !== 'BAD_FILE' || !/cannot read image/.test(err.message)) return err;
  return new TorchError(`${err.message} (--skip-bad-images skips unreadable images with a warning)`, 'BAD_FILE');
}

/** A skipped file's reason without the path it repeats, on one line. */
function skipReason(reason: string): string {
  const lines = reason.replace(/^data\.ImageFolder: cannot read image .* \(sample \d+\): /, '').split('\n').map((l) => l.trim()).filter(Boolean);
  return [...new Set(lines)].join('; ');
}

/** Removes `dir` and the parents mkdir created with it, up to `created`, if they are still empty. */
function removeIfEmpty(dir: string, created: string): void {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try { fs.rmdirSync(d); } catch { return; }
    if (d === path.resolve(created) || path.dirname(d) === d) return;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await fs.promises.rename(tmp, file);
}
