// The main job as a library: train(config, events) and evaluate(model, loader). The CLIs
// (src/train.ts, validate.ts, predict.ts) are thin over these.
import * as fs from 'fs';
import * as path from 'path';
import { TorchError } from '../errors';
import { DataLoader, DistributedSampler, ImageFolder, transforms as T } from '../data';
import * as dist from '../distributed';
import { Compose } from '../data/transforms';
import { noGrad } from '../autograd';
import { autocast, GradScaler, GradScalerStateDict } from '../amp';
import { scope } from '../memory';
import * as io from '../io';
import * as models from '../models';
import * as nn from '../nn';
import * as optim from '../optim';
import { getRngState, setRngState } from '../random';
import { buildInfo, cuda, Device, getNumThreads, manualSeed, setNumThreads } from '../runtime';
import { pythonState } from '../io/pickle';
import { initDeferred } from '../nn/init';
import { tensor, Tensor } from '../tensor';
import { RecipeDetails, resolveConfig, TrainConfig } from './config';
import { EpochPoint, renderCurves } from './plot';
import { ProgressBar } from './progress';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const CHECKPOINT_FORMAT = 'torchbridge-train-v1';

/** What predict/validate need to rebuild a trained model and its preprocessing. */
export interface ModelMeta {
  head: 'replace' | 'append';
  classes: string[];
  recipe: 'seed' | 'finetune';
  imageSize: number;
  normalize: boolean;
}

export interface StepEvent { epoch: number; step: number; steps: number; loss: number; lr: number }
export interface EpochEvent extends EpochPoint { lr: number; seconds: number }
export interface TrainEvents {
  onStep?: (e: StepEvent) => void;
  onEpoch?: (e: EpochEvent) => void;
  /** Human-readable notices (data set generated, weights missing, results written). */
  onLog?: (message: string) => void;
  /** The effective configuration, once resolved from the recipe and the options. */
  onConfig?: (config: TrainConfig & RecipeDetails) => void;
  /** Aborting finishes the current step, writes a resumable last.ckpt and returns. */
  signal?: AbortSignal;
}
export interface TrainResult {
  outDir: string;
  history: EpochEvent[];
  bestValAcc: number | null;
  interrupted: boolean;
  config: TrainConfig;
}

export function evalTransform(meta: Pick<ModelMeta, 'recipe' | 'imageSize' | 'normalize'>): Compose {
  const norm = meta.normalize ? [T.normalize(IMAGENET_MEAN, IMAGENET_STD)] : [];
  if (meta.recipe === 'seed') return T.compose([T.resize(meta.imageSize), T.toTensor(), ...norm]);
  return T.compose([T.resize(Math.round((meta.imageSize * 256) / 224)), T.centerCrop(meta.imageSize), T.toTensor(), ...norm]);
}

function trainTransform(c: TrainConfig & RecipeDetails): Compose {
  if (!c.augment) return evalTransform({ recipe: c.recipe, imageSize: c.imageSize, normalize: c.normalize });
  const norm = c.normalize ? [T.normalize(IMAGENET_MEAN, IMAGENET_STD)] : [];
  return T.compose([T.randomResizedCrop(c.imageSize), T.randomHorizontalFlip(), T.toTensor(), ...norm]);
}

/** Runs `fn` under autocast for --amp bf16/fp16 on the device's type. */
function withAmp<T>(amp: TrainConfig['amp'], device: string, fn: () => Promise<T>): Promise<T> {
  if (amp === 'off') return fn();
  return autocast({ deviceType: device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: amp === 'bf16' ? 'bfloat16' : 'float16' }, fn);
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

/** AlexNet with the head for `classes` classes: classifier.6 replaced, or Linear(1000, k) + Softmax appended. */
export function buildModel(head: 'replace' | 'append', classes: number, base = models.alexnet()): nn.Module {
  if (head === 'replace') {
    base.classifier.set(6, new nn.Linear(4096, classes));
    return base;
  }
  return new nn.Sequential(base, new nn.Linear(1000, classes), new nn.Softmax({ dim: 1 }));
}

/** The AlexNet inside a model built by buildModel. */
function alexnetOf(model: nn.Module): models.AlexNet {
  return (model instanceof models.AlexNet ? model : (model as nn.Sequential).at(0)) as models.AlexNet;
}

/** A state_dict that PyTorch loads, carrying the preprocessing in its _metadata (ignored by PyTorch). */
export function stateDictWithMeta(model: nn.Module, meta: ModelMeta): Map<string, Tensor> {
  const sd = model.stateDict();
  pythonState.set(sd, { _metadata: new Map([['torchbridge', { ...meta }]]) });
  return sd;
}

function metaOf(sd: Map<string, unknown>): Partial<ModelMeta> | undefined {
  const state = pythonState.get(sd) as { _metadata?: Map<string, unknown> } | undefined;
  return state?._metadata?.get('torchbridge') as Partial<ModelMeta> | undefined;
}

/** Loads a model written by train (last.ckpt or best.pth) or by PyTorch (a torchvision AlexNet state_dict with either head). */
export async function loadTrainedModel(file: string): Promise<{ model: nn.Module; meta: ModelMeta; classesKnown: boolean }> {
  const loaded = await io.load<unknown>(file);
  let sd: Map<string, Tensor>;
  let meta: Partial<ModelMeta> | undefined;
  if (loaded instanceof Map) {
    sd = loaded as Map<string, Tensor>;
    meta = metaOf(sd);
  } else if (loaded && typeof loaded === 'object' && (loaded as Record<string, unknown>).format === CHECKPOINT_FORMAT) {
    const ck = loaded as { model: Map<string, Tensor>; meta: ModelMeta };
    sd = ck.model;
    meta = ck.meta;
  } else {
    throw new TorchError(`${file} is neither a state_dict nor a checkpoint written by train`, 'BAD_FILE');
  }
  const head = sd.has('1.weight') && sd.has('0.classifier.6.weight') ? 'append' : 'replace';
  const headKey = head === 'append' ? '1.weight' : 'classifier.6.weight';
  const headWeight = sd.get(headKey);
  if (!headWeight) {
    throw new TorchError(`${file} does not hold an AlexNet state_dict: no 'classifier.6.weight' (replaced head) or '0.classifier.6.weight' + '1.weight' (appended head)`, 'BAD_FILE');
  }
  const k = headWeight.shape[0];
  const classesKnown = Array.isArray(meta?.classes) && meta!.classes.length === k;
  const full: ModelMeta = {
    head,
    classes: classesKnown ? meta!.classes! : Array.from({ length: k }, (_, i) => String(i)),
    recipe: meta?.recipe ?? (head === 'append' ? 'seed' : 'finetune'),
    imageSize: meta?.imageSize ?? 224,
    normalize: meta?.normalize ?? head === 'replace',
  };
  const model = await initDeferred(() => buildModel(head, k));
  await model.loadStateDict(sd);
  for (const t of sd.values()) t.dispose();
  return { model, meta: full, classesKnown };
}

export interface Evaluation {
  accuracy: number;
  perClass: { class: string; accuracy: number; count: number }[];
  /** confusion[true][predicted] */
  confusion: number[][];
  count: number;
}

/** Accuracy, per-class accuracy and the confusion matrix, in eval mode without autograd. */
export async function evaluate(model: nn.Module, loader: DataLoader, opts: { device?: string; classes?: string[]; amp?: TrainConfig['amp'] } = {}): Promise<Evaluation> {
  const classes = opts.classes ?? loader.dataset.classes;
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => Array<number>(k).fill(0));
  const wasTraining = model.training;
  model.eval();
  try {
    for await (const batch of loader) {
      const input = opts.device && opts.device !== 'cpu' ? batch.input.to({ device: opts.device as Device, nonBlocking: true }) : batch.input;
      const out = await noGrad(() => withAmp(opts.amp ?? 'off', opts.device ?? 'cpu', async () => model.forward(input)));
      const pred = scope(() => out.argmax(1).toArray()) as BigInt64Array;
      const truth = batch.target.toArray() as BigInt64Array;
      pred.forEach((p, i) => { confusion[Number(truth[i])][Math.min(Number(p), k - 1)]++; });
      [out, batch.input, batch.target, input].forEach((t) => t.dispose());
    }
  } finally {
    model.train(wasTraining);
  }
  const count = confusion.flat().reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((a, row, i) => a + row[i], 0);
  return {
    accuracy: count ? correct / count : 0,
    perClass: classes.map((c, i) => {
      const n = confusion[i].reduce((a, b) => a + b, 0);
      return { class: c, accuracy: n ? confusion[i][i] / n : 0, count: n };
    }),
    confusion,
    count,
  };
}

interface Checkpoint {
  format: string;
  model: Map<string, Tensor>;
  optimizer: optim.OptimizerStateDict;
  scheduler: Record<string, unknown> | null;
  /** GradScaler state under --amp fp16 (absent in checkpoints from before mixed precision). */
  scaler?: GradScalerStateDict | null;
  epoch: number;
  batch: number;
  stats: { lossSum: number; correct: number; seen: number };
  rng_state: Tensor;
  grads: Map<string, Tensor> | null;
  history: EpochEvent[];
  best: number | null;
  meta: ModelMeta;
  config: Record<string, unknown>;
  /** The world size the batch index counts in. */
  world_size?: number;
  /** Mid-epoch with PyTorch's loading: the shuffle seed the epoch drew. */
  epoch_seed?: number | bigint | null;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await fs.promises.rename(tmp, file);
}

/** Trains AlexNet on an ImageFolder pair (train/, val/) with the seed's recipe or the fine-tuning default. */
export async function train(config: Partial<TrainConfig> & { data: string; out: string; weightsExplicit?: boolean }, events: TrainEvents = {}): Promise<TrainResult> {
  // weightsExplicit: the CLI's note that --weights DEFAULT was asked for (so a missing file is downloaded).
  const { weightsExplicit, ...options } = config;
  const c = resolveConfig(options);
  // Under an initialised process group every rank trains its share of each epoch through DDP;
  // rank 0 alone reports and writes files.
  const world = dist.isInitialized() ? { rank: dist.getRank(), size: dist.getWorldSize() } : { rank: 0, size: 1 };
  const isMain = world.rank === 0;
  if (isMain) events.onConfig?.(c);
  const log = (isMain && events.onLog) || (() => undefined);
  const started = Date.now();
  if (c.threads > 0) setNumThreads(c.threads);
  const device = c.device === 'auto' ? (cuda.isAvailable() ? 'cuda' : 'cpu') : c.device;
  const onCuda = device.startsWith('cuda');
  if (isMain) fs.mkdirSync(c.out, { recursive: true });

  const trainSet = await ImageFolder.create(path.join(c.data, 'train'), { transform: trainTransform(c) });
  const valSet = await ImageFolder.create(path.join(c.data, 'val'), { transform: evalTransform(c) });
  if (valSet.classes.join('\n') !== trainSet.classes.join('\n')) {
    throw new TorchError(`train: train/ has classes [${trainSet.classes}] but val/ has [${valSet.classes}]`, 'INVALID_ARGUMENT');
  }
  const classes = trainSet.classes;
  const meta: ModelMeta = { head: c.head, classes, recipe: c.recipe, imageSize: c.imageSize, normalize: c.normalize };

  manualSeed(c.seed);
  let base = await initDeferred(() => models.alexnet());
  if (c.weights !== 'none') {
    const file = c.weights === 'DEFAULT' ? models.alexnet.defaultWeightsPath() : c.weights;
    if (c.weights === 'DEFAULT' && !fs.existsSync(file) && !weightsExplicit) {
      log(`no pretrained weights at ${file}: training from scratch (to fine-tune, put torchvision's alexnet-owt-7be5be79.pth there or pass --weights PATH)`);
    } else {
      base.dispose();
      base = await models.alexnet.pretrained({ weights: c.weights });
      log(`loaded pretrained weights from ${c.weights === 'DEFAULT' ? file : c.weights}`);
    }
  }
  const model = await initDeferred(() => buildModel(c.head, classes.length, base));
  if (c.freezeFeatures) for (const p of alexnetOf(model).features.parameters()) p.requiresGrad_(false);
  if (device !== 'cpu') await model.to(device as Device);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const opt = c.optimizer === 'adam'
    ? new optim.Adam(params, { lr: c.lr, weightDecay: c.weightDecay, fused: !c.exact })
    : new optim.SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay, fused: !c.exact });
  // Whatever happens (an error such as out of memory included), the model and optimizer state
  // are freed here, not left to the garbage collector: a retry must find the memory free.
  let net: nn.Module = model;
  try {
    const scheduler = c.scheduler === 'cosine' ? new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: c.tMax })
      : c.scheduler === 'step' ? new optim.lrScheduler.StepLR(opt, { stepSize: c.tMax, gamma: 0.1 }) : null;
    const criterion = new nn.CrossEntropyLoss();
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

    let startEpoch = 0;
    let startBatch = 0;
    let resumedEpochSeed: number | bigint | null = null;
    let stats = { lossSum: 0, correct: 0, seen: 0 };
    let history: EpochEvent[] = [];
    let best: number | null = null;
    if (c.resume) {
      const ck = await io.load<Checkpoint>(c.resume);
      if (!ck || ck.format !== CHECKPOINT_FORMAT) throw new TorchError(`train: --resume ${c.resume} is not a checkpoint written by train (last.ckpt)`, 'BAD_FILE');
      if (ck.meta.head !== c.head || ck.meta.classes.join('\n') !== classes.join('\n')) {
        throw new TorchError(`train: --resume ${c.resume} was trained with head '${ck.meta.head}' on classes [${ck.meta.classes}], not '${c.head}' on [${classes}]`, 'INVALID_ARGUMENT');
      }
      await model.loadStateDict(ck.model);
      opt.loadStateDict(ck.optimizer);
      if (scheduler && ck.scheduler) scheduler.loadStateDict(ck.scheduler);
      if (scaler && ck.scaler) scaler.loadStateDict(ck.scaler);
      if (ck.grads) {
        const named = new Map(model.namedParameters());
        for (const [k, g] of ck.grads) {
          const p = named.get(k);
          if (p) p.grad = g;
          g.dispose();
        }
      }
      setRngState(ck.rng_state);
      startEpoch = ck.epoch;
      startBatch = ck.batch;
      resumedEpochSeed = ck.epoch_seed ?? null;
      if ((ck.world_size ?? 1) !== world.size && startBatch > 0) {
        log(`the checkpoint stopped mid-epoch with ${ck.world_size ?? 1} process(es), this run has ${world.size}: epoch ${startEpoch + 1} starts over`);
        startBatch = 0;
      }
      stats = isMain ? ck.stats : { lossSum: 0, correct: 0, seen: 0 }; // saved summed over ranks: counted once
      history = ck.history;
      best = ck.best;
      log(`resumed from ${c.resume} at epoch ${startEpoch + 1}, step ${startBatch}`);
    }

    const saveCheckpoint = async (epoch: number, batch: number): Promise<void> => {
      if (!isMain) return;
      const grads = c.zeroGradPerEpoch && batch > 0 ? new Map(model.namedParameters().map(([k, p]) => [k, p.grad]).filter((e): e is [string, Tensor] => e[1] !== null)) : null;
      const ck: Checkpoint = {
        format: CHECKPOINT_FORMAT, model: model.stateDict(), optimizer: opt.stateDict(), scheduler: scheduler?.stateDict() ?? null,
        scaler: scaler ? scaler.stateDict() as GradScalerStateDict : null,
        epoch, batch, stats, rng_state: getRngState(), grads, history, best, meta, config: { ...c }, world_size: world.size,
        epoch_seed: batch > 0 ? trainLoader.epochSeed ?? null : null,
      };
      await io.save(ck as unknown as io.PyValue, path.join(c.out, 'last.ckpt'));
      for (const v of [...ck.model.values(), ...(grads?.values() ?? []), ck.rng_state]) v.dispose();
    };

    const writeArtifacts = async (): Promise<void> => {
      if (!isMain) return;
      await fs.promises.writeFile(path.join(c.out, 'metrics.jsonl'), history.map((h) => JSON.stringify(h)).join('\n') + (history.length ? '\n' : ''));
      const title = `AlexNet ${c.recipe} on ${path.basename(path.resolve(c.data))}: loss and accuracy per epoch`;
      await fs.promises.writeFile(path.join(c.out, 'curves.png'), await renderCurves(history, title));
      await writeJson(path.join(c.out, 'run.json'), {
        config: c, device, threads: getNumThreads(), torchbridge: require('../../package.json').version, libtorch: buildInfo().torchVersion,
        node: process.version, worldSize: world.size, classes, seconds: (Date.now() - started) / 1000, epochs: history.length, bestValAcc: best,
      });
    };

    model.train();
    const stepsPerEpoch = trainLoader.length;
    let interrupted = false;
    for (let epoch = startEpoch; epoch < c.epochs && !interrupted; epoch++) {
      const epochStart = Date.now();
      trainLoader.setEpoch(epoch);
      sampler?.setEpoch(epoch);
      const first = epoch === startEpoch ? startBatch : 0;
      if (first === 0) stats = { lossSum: 0, correct: 0, seen: 0 };
      if (c.zeroGradPerEpoch && first === 0) opt.zeroGrad();
      const bar = new ProgressBar(isMain ? stepsPerEpoch : 0, `epoch ${epoch + 1}/${c.epochs}`);
      let step = first;
      const epochSeed = first > 0 && resumedEpochSeed !== null ? BigInt(resumedEpochSeed) : undefined;
      for await (const batch of trainLoader.iterate({ startBatch: first, epochSeed })) {
        // Pinned batches copy asynchronously; the loss and accuracy read-backs are the only waits.
        const input = onCuda ? batch.input.to({ device: device as Device, nonBlocking: true }) : batch.input;
        const target = onCuda ? batch.target.to({ device: device as Device, nonBlocking: true }) : batch.target;
        if (!c.zeroGradPerEpoch) opt.zeroGrad();
        let out: Tensor;
        let loss: Tensor;
        try {
          ({ out, loss } = await withAmp(c.amp, device, async () => {
            const o = await net.forward(input);
            return { out: o, loss: await criterion.forward(o, target) };
          }));
          if (scaler) {
            const scaled = scaler.scale(loss);
            await scaled.backward();
            scaled.dispose();
            await scaler.step(opt);
            await scaler.update();
          } else {
            await loss.backward();
            await opt.step();
          }
        } catch (err) {
          [input, target, batch.input, batch.target].forEach((t) => t.dispose());
          throw explainOutOfMemory(err, device, c.batchSize, `training step ${step + 1} of epoch ${epoch + 1}`);
        }
        const lossValue = loss.item();
        const n = batch.indices.length;
        stats.lossSum += lossValue * n;
        stats.correct += scope(() => out.argmax(1).eq(target).sum().item()); // frees the metric's temporaries now
        stats.seen += n;
        [out, loss, input, target, batch.input, batch.target].forEach((t) => t.dispose());
        step++;
        const lr = opt.paramGroups[0].lr;
        if (isMain) events.onStep?.({ epoch: epoch + 1, step, steps: stepsPerEpoch, loss: lossValue, lr });
        bar.update(step, `loss=${(stats.lossSum / stats.seen).toFixed(4)}, acc=${(stats.correct / stats.seen).toFixed(3)}`);
        if (await stopRequested(events.signal, world.size) && step < stepsPerEpoch) {
          bar.done();
          if (world.size > 1) stats = await sumAcrossRanks(stats);
          await saveCheckpoint(epoch, step);
          interrupted = true;
          break;
        }
      }
      if (interrupted) break;
      bar.done();
      if (world.size > 1) stats = await sumAcrossRanks(stats);
      scheduler?.step();
      const evalNow = c.evalEvery > 0 && ((epoch + 1) % c.evalEvery === 0 || epoch + 1 === c.epochs);
      let valAcc: number | null = null;
      try {
        if (evalNow) valAcc = (await evaluate(model, valLoader, { device, amp: c.amp })).accuracy;
      } catch (err) {
        throw explainOutOfMemory(err, device, valBatch, `validation after epoch ${epoch + 1}`);
      }
      const record: EpochEvent = {
        epoch: epoch + 1, trainLoss: stats.lossSum / Math.max(stats.seen, 1), trainAcc: stats.correct / Math.max(stats.seen, 1), valAcc,
        lr: opt.paramGroups[0].lr, seconds: (Date.now() - epochStart) / 1000,
      };
      history.push(record);
      if (valAcc !== null && (best === null || valAcc > best)) {
        best = valAcc;
        if (isMain) await io.save(stateDictWithMeta(model, meta) as unknown as io.PyValue, path.join(c.out, 'best.pth'));
      }
      await saveCheckpoint(epoch + 1, 0);
      await writeArtifacts();
      if (isMain) events.onEpoch?.(record);
      if (await stopRequested(events.signal, world.size) && epoch + 1 < c.epochs) interrupted = true;
    }
    if (isMain && !fs.existsSync(path.join(c.out, 'best.pth'))) await io.save(stateDictWithMeta(model, meta) as unknown as io.PyValue, path.join(c.out, 'best.pth'));
    await writeArtifacts();
    return { outDir: c.out, history, bestValAcc: best, interrupted, config: c };
  } finally {
    net.dispose();
    opt.dispose();
  }
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

async function sumAcrossRanks(stats: { lossSum: number; correct: number; seen: number }): Promise<typeof stats> {
  const t = tensor([stats.lossSum, stats.correct, stats.seen], { dtype: 'float64' });
  await dist.allReduce(t);
  const [lossSum, correct, seen] = Array.from(t.toArray() as Float64Array);
  t.dispose();
  return { lossSum, correct, seen };
}
