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
import { RecipeDetails, RECIPES, resolveConfig, TrainConfig } from './config';
import { IMAGENET_CLASSES } from './imagenet-classes';
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
export interface EpochEvent extends EpochPoint {
  /** The learning rate every step of this epoch used. */
  lr: number;
  /** The learning rate the scheduler set for the next epoch. */
  nextLr: number;
  seconds: number;
}
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
  /** Validation accuracy of the epoch best.pth holds (the best by config.keepBestBy). */
  bestValAcc: number | null;
  best: BestEpoch | null;
  interrupted: boolean;
  /** Stopped by --patience before config.epochs. */
  stoppedEarly: boolean;
  /** Epochs trained by this call (0 when a resumed run had nothing left to do). */
  epochsRun: number;
  config: TrainConfig;
}

/** The epoch best.pth was written at, by the keepBestBy metric. */
export interface BestEpoch {
  metric: TrainConfig['keepBestBy'];
  value: number;
  epoch: number;
  valAcc: number;
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
  // A 1000-way head without names of its own is torchvision's ImageNet classifier.
  const fallback = k === 1000 && head === 'replace' ? [...IMAGENET_CLASSES] : Array.from({ length: k }, (_, i) => String(i));
  const full: ModelMeta = {
    head,
    classes: classesKnown ? meta!.classes! : fallback,
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
  /** Mean cross-entropy of the model's outputs (on the appended head's probabilities, as its training loss is). */
  loss: number;
  perClass: { class: string; accuracy: number; count: number }[];
  /** confusion[true][predicted] */
  confusion: number[][];
  count: number;
}

export interface EvaluateOptions {
  device?: string;
  classes?: string[];
  amp?: TrainConfig['amp'];
  /** Called after each batch with the batches done and their number. */
  onBatch?: (done: number, total: number) => void;
}

/** Accuracy, loss, per-class accuracy and the confusion matrix, in eval mode without autograd. */
export async function evaluate(model: nn.Module, loader: DataLoader, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const classes = opts.classes ?? loader.dataset.classes;
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => Array<number>(k).fill(0));
  const device = opts.device ?? 'cpu';
  const wasTraining = model.training;
  let lossSum = 0;
  let batches = 0;
  model.eval();
  try {
    for await (const batch of loader) {
      const onDevice = device !== 'cpu';
      const input = onDevice ? batch.input.to({ device: device as Device, nonBlocking: true }) : batch.input;
      const target = onDevice ? batch.target.to({ device: device as Device, nonBlocking: true }) : batch.target;
      const { out, loss } = await noGrad(() => withAmp(opts.amp ?? 'off', device, async () => {
        const o = await model.forward(input);
        return { out: o, loss: await nn.functional.crossEntropy(o, target, { reduction: 'sum' }) };
      }));
      lossSum += loss.item();
      const pred = scope(() => out.argmax(1).toArray()) as BigInt64Array;
      const truth = batch.target.toArray() as BigInt64Array;
      pred.forEach((p, i) => { confusion[Number(truth[i])][Math.min(Number(p), k - 1)]++; });
      [out, loss, batch.input, batch.target, input, target].forEach((t) => t.dispose());
      opts.onBatch?.(++batches, loader.length);
    }
  } finally {
    model.train(wasTraining);
  }
  const count = confusion.flat().reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((a, row, i) => a + row[i], 0);
  return {
    accuracy: count ? correct / count : 0,
    loss: count ? lossSum / count : 0,
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

function disposeTensors(value: unknown): void {
  if (value instanceof Tensor) value.dispose();
  else if (value instanceof Map) value.forEach(disposeTensors);
  else if (Array.isArray(value)) value.forEach(disposeTensors);
  else if (value && typeof value === 'object') Object.values(value).forEach(disposeTensors);
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await fs.promises.rename(tmp, file);
}

/** The option a config key is given with on the command line (`batchSize` -> `--batch-size`). */
function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;
}

function formatLr(lr: number): string {
  return lr === 0 ? '0' : String(Number(lr.toPrecision(4)));
}

async function openCheckpoint(file: string): Promise<Checkpoint> {
  if (!fs.existsSync(file)) throw new TorchError(`train: --resume ${file} does not exist`, 'INVALID_ARGUMENT');
  const ck = await io.load<Checkpoint>(file);
  if (!ck || typeof ck !== 'object' || ck.format !== CHECKPOINT_FORMAT) {
    disposeTensors(ck);
    throw new TorchError(`train: --resume ${file} is not a checkpoint written by train (last.ckpt)`, 'BAD_FILE');
  }
  return ck;
}

// What a resumed run may change. The rest defines the run (model, preprocessing, optimizer,
// schedule, random state): changing it mid-run would silently make it another run.
const RESUMABLE_CHANGES = new Set(['epochs', 'data', 'device', 'threads', 'evalEvery', 'skipBadImages', 'exact', 'amp', 'patience']);
const RECIPE_DETAILS = new Set(['normalize', 'augment', 'shuffle', 'zeroGradPerEpoch', 'pytorchDataLoader']);

/** A setting a resumed run changes. */
interface Change { key: string; before: unknown; after: unknown }

/**
 * The settings of a resumed run: the checkpoint's own, then the options given now, each change
 * listed. Options that would change the run itself are refused with the way to do it instead.
 */
function resumeSettings(ck: Checkpoint, file: string, given: Partial<TrainConfig>): { settings: Partial<TrainConfig> & { data: string; out: string }; changes: Change[]; restretch: boolean } {
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

/** The starting weights of a new run: torchvision's ImageNet AlexNet (DEFAULT), a file, or none. */
async function initialModel(c: TrainConfig, classes: string[], weightsExplicit: boolean, log: (m: string) => void): Promise<nn.Module> {
  const base = await initDeferred(() => models.alexnet());
  let file = c.weights;
  if (c.weights === 'DEFAULT') {
    file = models.alexnet.defaultWeightsPath();
    if (!fs.existsSync(file) && !weightsExplicit) {
      log(`no pretrained weights at ${file}: training from scratch (to fine-tune, put torchvision's ${models.ALEXNET_WEIGHTS.file} there or pass --weights PATH)`);
      file = 'none';
    } else if (!fs.existsSync(file)) {
      await io.downloadUrlToFile(models.ALEXNET_WEIGHTS.url, file, { hashPrefix: models.ALEXNET_WEIGHTS.sha256Prefix });
    }
  }
  if (file === 'none') return initDeferred(() => buildModel(c.head, classes.length, base));
  let head: Map<string, Tensor> | null = null;
  try {
    head = await loadBackbone(base, file, c.head, classes, log);
  } catch (err) {
    base.dispose();
    throw err;
  }
  const model = await initDeferred(() => buildModel(c.head, classes.length, base));
  if (head) {
    await model.loadStateDict(head, { strict: false });
    head.forEach((t) => t.dispose());
  }
  return model;
}

/**
 * Loads AlexNet weights from `file` (a torchvision state_dict, with either head, or a file written
 * by train) into `base`. Returns the trained head to keep when it was trained on these very
 * classes; a head for other classes is replaced, as a fine-tuning user means.
 */
async function loadBackbone(base: models.AlexNet, file: string, head: TrainConfig['head'], classes: string[], log: (m: string) => void): Promise<Map<string, Tensor> | null> {
  const loaded = await io.load<unknown>(file);
  let sd: Map<string, unknown>;
  let meta: Partial<ModelMeta> | undefined;
  if (loaded instanceof Map) {
    sd = loaded;
    meta = metaOf(loaded);
  } else if (loaded && typeof loaded === 'object' && (loaded as Checkpoint).format === CHECKPOINT_FORMAT) {
    const { model, meta: ckMeta, ...rest } = loaded as Checkpoint;
    disposeTensors(rest);
    sd = model;
    meta = ckMeta;
  } else {
    disposeTensors(loaded);
    throw new TorchError(`train: --weights ${file} holds neither a state_dict nor a checkpoint written by train`, 'BAD_FILE');
  }
  // The appended head's form: the AlexNet under '0.', then Linear(1000, k) as '1.'.
  const appended = sd.has('0.classifier.6.weight') && sd.has('1.weight');
  const backbone = new Map<string, unknown>();
  const appendedHead = new Map<string, unknown>();
  const unexpected: string[] = [];
  for (const [key, v] of sd) {
    if (!appended) backbone.set(key, v);
    else if (key.startsWith('0.')) backbone.set(key.slice(2), v);
    else if (key === '1.weight' || key === '1.bias') appendedHead.set(key, v);
    else unexpected.push(key);
  }
  const expected = new Map(base.namedParameters().map(([key, p]) => [key, p.shape]));
  unexpected.push(...[...backbone.keys()].filter((key) => !expected.has(key)));
  const missing = [...expected.keys()].filter((key) => !backbone.has(key));
  const shapeOf = (v: unknown): number[] | null => (v instanceof Tensor ? v.shape : null);
  const k = shapeOf(backbone.get('classifier.6.weight'))?.[0] ?? 0;
  // classifier.6 may have any number of outputs; everything else must have AlexNet's shapes.
  const wanted = (key: string, shape: number[]) => (key === 'classifier.6.weight' ? [k, 4096] : key === 'classifier.6.bias' ? [k] : shape);
  const reshaped = [...expected].filter(([key, shape]) => backbone.has(key) && shapeOf(backbone.get(key))?.join() !== wanted(key, shape).join());
  if (missing.length || unexpected.length || reshaped.length) {
    disposeTensors(sd);
    const some = (keys: string[]) => `${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''}`;
    const parts = [
      missing.length ? `${missing.length} of AlexNet's ${expected.size} keys are missing (${some(missing)})` : '',
      unexpected.length ? `${unexpected.length} keys are not AlexNet's (${some(unexpected)})` : '',
      reshaped.length ? `${reshaped.length} have other shapes (${reshaped.slice(0, 2).map(([key, shape]) => `${key}: [${shapeOf(backbone.get(key))}] in the file, [${wanted(key, shape)}] in AlexNet`).join('; ')})` : '',
    ].filter(Boolean);
    throw new TorchError(`train: --weights ${file} is not an AlexNet state_dict: ${parts.join('; ')}`, 'BAD_FILE');
  }
  const sameClasses = Array.isArray(meta?.classes) && meta!.classes.join('\n') === classes.join('\n');
  const n = classes.length;
  let kept: Map<string, Tensor> | null = null;
  let loadClassifier = false;
  let note: string;
  if (head === 'append') {
    if (k !== 1000) {
      disposeTensors(sd);
      throw new TorchError(`train: --head append stacks Linear(1000, ${n}) on AlexNet's 1000-way classifier, but --weights ${file} has a ${k}-way classifier.6: use --head replace`, 'INVALID_ARGUMENT');
    }
    loadClassifier = true;
    if (appended && sameClasses && shapeOf(appendedHead.get('1.weight'))?.join() === [n, 1000].join()) {
      kept = appendedHead as Map<string, Tensor>;
      note = `with its appended head trained on [${classes}]`;
    } else {
      note = `and a new appended head for ${n} classes`;
    }
  } else if (!appended && k === n && sameClasses) {
    kept = new Map(['classifier.6.weight', 'classifier.6.bias'].map((key) => [key, backbone.get(key) as Tensor]));
    note = `with its classifier.6 trained on [${classes}]`;
  } else {
    note = `and a new classifier.6 for ${n} classes (the file's has ${k} outputs${appended ? ', under an appended head' : ''})`;
  }
  const keep = new Set<unknown>(kept?.values());
  try {
    await base.loadStateDict(backbone as Map<string, Tensor>, { skip: loadClassifier ? [] : ['classifier.6.weight', 'classifier.6.bias'] });
  } catch (err) {
    keep.clear();
    throw err;
  } finally {
    for (const v of sd.values()) if (!keep.has(v)) disposeTensors(v);
  }
  log(`loaded weights from ${file} ${note}`);
  return kept;
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
  // Under an initialised process group every rank trains its share of each epoch through DDP;
  // rank 0 alone reports and writes files.
  const world = dist.isInitialized() ? { rank: dist.getRank(), size: dist.getWorldSize() } : { rank: 0, size: 1 };
  const isMain = world.rank === 0;
  const log = (isMain && events.onLog) || (() => undefined);
  const ck = options.resume !== undefined ? await openCheckpoint(options.resume) : null;
  try {
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
    if (ck && resumed) {
      if (ck.stopped_early && !resumed.changes.some((ch) => ch.key === 'patience')) {
        log(`nothing to train: ${c.resume} stopped early at epoch ${ck.epoch} (--patience ${c.patience} on ${c.keepBestBy}); resume with a larger --patience, or --patience 0 (off), to train on`);
        return resultOf(run, ck.history, bestOf(ck, c));
      }
      if (ck.epoch >= c.epochs && ck.batch === 0) {
        log(`nothing to train: ${c.resume} finished its ${ck.epoch} epochs; resume with --epochs N (N > ${ck.epoch}) to train on`);
        return resultOf(run, ck.history, bestOf(ck, c));
      }
      const changed = resumed.changes.map((ch) => `${flagOf(ch.key)} ${ch.before} -> ${ch.after}`).join(', ');
      log(`resuming ${c.resume} at epoch ${ck.epoch + 1}${ck.batch > 0 ? `, step ${ck.batch}` : ''} with ${changed ? `its settings but ${changed}` : 'its own settings'}`);
    }
    // A run that fails before writing anything leaves no empty folder behind.
    const createdOut = isMain ? fs.mkdirSync(c.out, { recursive: true }) : undefined;
    try {
      return await trainLoop(run);
    } catch (err) {
      if (createdOut) removeIfEmpty(c.out, createdOut);
      throw err;
    }
  } finally {
    if (ck) disposeTensors(ck);
  }
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

function bestOf(ck: Checkpoint, c: TrainConfig): BestEpoch | null {
  if (ck.best === null) return null;
  const epoch = ck.best_epoch ?? ck.history.find((h) => h.valAcc === ck.best)?.epoch ?? 0;
  const valAcc = ck.history.find((h) => h.epoch === epoch)?.valAcc ?? ck.best;
  return { metric: c.keepBestBy, value: ck.best, epoch, valAcc };
}

async function trainLoop(run: Run): Promise<TrainResult> {
  const { c, ck, world, isMain, events, log } = run;
  if (c.threads > 0) setNumThreads(c.threads);
  const device = c.device === 'auto' ? (cuda.isAvailable() ? 'cuda' : 'cpu') : c.device;
  const onCuda = device.startsWith('cuda');
  const trainSet = await ImageFolder.create(path.join(c.data, 'train'), { transform: trainTransform(c) });
  const valSet = await ImageFolder.create(path.join(c.data, 'val'), { transform: evalTransform(c) });
  if (valSet.classes.join('\n') !== trainSet.classes.join('\n')) {
    throw new TorchError(`train: train/ has classes [${trainSet.classes}] but val/ has [${valSet.classes}]`, 'INVALID_ARGUMENT');
  }
  const classes = trainSet.classes;
  const meta: ModelMeta = { head: c.head, classes, recipe: c.recipe, imageSize: c.imageSize, normalize: c.normalize };
  if (ck && ck.meta.classes.join('\n') !== classes.join('\n')) {
    throw new TorchError(`train: --resume ${c.resume} was trained on classes [${ck.meta.classes}], but ${c.data} has [${classes}]`, 'INVALID_ARGUMENT');
  }

  manualSeed(c.seed);
  // Resuming loads every weight from the checkpoint: no pretrained weights are read.
  const model = ck ? await initDeferred(() => buildModel(c.head, classes.length)) : await initialModel(c, classes, run.weightsExplicit, log);
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
    let best: BestEpoch | null = null;
    let validation: (Evaluation & { epoch: number }) | null = null;
    if (ck) {
      await model.loadStateDict(ck.model);
      opt.loadStateDict(ck.optimizer);
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
      startEpoch = ck.epoch;
      startBatch = ck.batch;
      resumedEpochSeed = ck.epoch_seed ?? null;
      if ((ck.world_size ?? 1) !== world.size && startBatch > 0) {
        log(`the checkpoint stopped mid-epoch with ${ck.world_size ?? 1} process(es), this run has ${world.size}: epoch ${startEpoch + 1} starts over`);
        startBatch = 0;
      }
      stats = isMain ? ck.stats : { lossSum: 0, correct: 0, seen: 0 }; // saved summed over ranks: counted once
      history = ck.history;
      best = bestOf(ck, c);
      validation = ck.validation ?? null;
      if (run.restretch && scheduler) {
        // The schedule followed the old epochs: it now runs over the new ones, from this epoch on.
        const before = opt.paramGroups[0].lr;
        if (scheduler instanceof optim.lrScheduler.CosineAnnealingLR) scheduler.tMax = c.tMax;
        else (scheduler as optim.lrScheduler.StepLR).stepSize = c.tMax;
        scheduler.step(scheduler.lastEpoch); // the closed form at this epoch, with the new period
        log(`the ${c.scheduler} schedule followed the epochs, so it now runs over ${c.epochs} (--t-max ${c.tMax}): epoch ${startEpoch + 1} runs at lr ${formatLr(opt.paramGroups[0].lr)} instead of ${formatLr(before)}`);
      } else if (scheduler && scheduler.lastEpoch >= c.tMax && c.scheduler === 'cosine') {
        log(`the cosine schedule keeps --t-max ${c.tMax}; past it the lr rises again (PyTorch's cosine is periodic): epoch ${startEpoch + 1} runs at lr ${formatLr(opt.paramGroups[0].lr)}`);
      }
    }

    const saveCheckpoint = async (epoch: number, batch: number, stoppedEarly = false): Promise<void> => {
      if (!isMain) return;
      const grads = c.zeroGradPerEpoch && batch > 0 ? new Map(model.namedParameters().map(([k, p]) => [k, p.grad]).filter((e): e is [string, Tensor] => e[1] !== null)) : null;
      const checkpoint: Checkpoint = {
        format: CHECKPOINT_FORMAT, model: model.stateDict(), optimizer: opt.stateDict(), scheduler: scheduler?.stateDict() ?? null,
        scaler: scaler ? scaler.stateDict() as GradScalerStateDict : null,
        epoch, batch, stats, rng_state: getRngState(), grads, history, best: best?.value ?? null, best_epoch: best?.epoch ?? null, meta,
        config: { ...c, data: path.resolve(c.data) }, world_size: world.size,
        epoch_seed: batch > 0 ? trainLoader.epochSeed ?? null : null,
        schedule_follows_epochs: run.followsEpochs, stopped_early: stoppedEarly, validation,
      };
      await io.save(checkpoint as unknown as io.PyValue, path.join(c.out, 'last.ckpt'));
      for (const v of [...checkpoint.model.values(), ...(grads?.values() ?? []), checkpoint.rng_state]) v.dispose();
    };

    const writeArtifacts = async (stoppedEarly: boolean): Promise<void> => {
      if (!isMain) return;
      await fs.promises.writeFile(path.join(c.out, 'metrics.jsonl'), history.map((h) => JSON.stringify(h)).join('\n') + (history.length ? '\n' : ''));
      const title = `AlexNet ${c.recipe} on ${path.basename(path.resolve(c.data))}: loss and accuracy per epoch`;
      await fs.promises.writeFile(path.join(c.out, 'curves.png'), await renderCurves(history, title));
      await writeJson(path.join(c.out, 'run.json'), {
        config: c, device, threads: getNumThreads(), torchbridge: require('../../package.json').version, libtorch: buildInfo().torchVersion,
        node: process.version, worldSize: world.size, classes, seconds: (Date.now() - run.started) / 1000, epochs: history.length,
        bestValAcc: best?.valAcc ?? null, best, stoppedEarly,
        validation: validation && { ...validation, classes },
      });
    };

    // Skipped images (--skip-bad-images): one line per file, the first time it is skipped.
    const reported = new Set<string>();
    const reportSkipped = (loader: DataLoader) => {
      for (const s of loader.skippedFiles) {
        if (reported.has(s.path)) continue;
        reported.add(s.path);
        log(`warning: skipped unreadable image ${s.path}: ${skipReason(s.reason)}`);
      }
    };

    model.train();
    const stepsPerEpoch = trainLoader.length;
    let interrupted = false;
    let stoppedEarly = false;
    let epochsRun = 0;
    for (let epoch = startEpoch; epoch < c.epochs && !interrupted && !stoppedEarly; epoch++) {
      const epochStart = Date.now();
      trainLoader.setEpoch(epoch);
      sampler?.setEpoch(epoch);
      const first = epoch === startEpoch ? startBatch : 0;
      if (first === 0) stats = { lossSum: 0, correct: 0, seen: 0 };
      if (c.zeroGradPerEpoch && first === 0) opt.zeroGrad();
      const lr = opt.paramGroups[0].lr; // the scheduler steps per epoch: every step of this epoch uses it
      const bar = new ProgressBar(isMain ? stepsPerEpoch : 0, `epoch ${epoch + 1}/${c.epochs}`);
      let step = first;
      const epochSeed = first > 0 && resumedEpochSeed !== null ? BigInt(resumedEpochSeed) : undefined;
      try {
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
          if (isMain) events.onStep?.({ epoch: epoch + 1, step, steps: stepsPerEpoch, loss: lossValue, lr: opt.paramGroups[0].lr });
          bar.update(step, `loss=${(stats.lossSum / stats.seen).toFixed(4)}, acc=${(stats.correct / stats.seen).toFixed(3)}`);
          if (await stopRequested(events.signal, world.size) && step < stepsPerEpoch) {
            bar.done();
            if (world.size > 1) stats = await sumAcrossRanks(stats);
            await saveCheckpoint(epoch, step);
            interrupted = true;
            break;
          }
        }
      } catch (err) {
        bar.done();
        throw explainBadImage(err, c.skipBadImages);
      }
      reportSkipped(trainLoader);
      if (interrupted) break;
      bar.done();
      if (world.size > 1) stats = await sumAcrossRanks(stats);
      scheduler?.step();
      const evalNow = epoch + 1 === c.epochs || (c.evalEvery > 0 && (epoch + 1) % c.evalEvery === 0);
      let evaluation: Evaluation | null = null;
      if (evalNow) {
        const vbar = new ProgressBar(isMain ? valLoader.length : 0, 'validating');
        try {
          evaluation = await evaluate(model, valLoader, { device, amp: c.amp, onBatch: (done) => vbar.update(done) });
        } catch (err) {
          throw explainBadImage(explainOutOfMemory(err, device, valBatch, `validation after epoch ${epoch + 1}`), c.skipBadImages);
        } finally {
          vbar.done();
        }
        reportSkipped(valLoader);
        validation = { epoch: epoch + 1, ...evaluation };
      }
      const record: EpochEvent = {
        epoch: epoch + 1, trainLoss: stats.lossSum / Math.max(stats.seen, 1), trainAcc: stats.correct / Math.max(stats.seen, 1),
        valLoss: evaluation?.loss ?? null, valAcc: evaluation?.accuracy ?? null,
        lr, nextLr: opt.paramGroups[0].lr, seconds: (Date.now() - epochStart) / 1000,
      };
      history.push(record);
      epochsRun++;
      if (evaluation) {
        const value = c.keepBestBy === 'val_loss' ? evaluation.loss : evaluation.accuracy;
        if (best === null || (c.keepBestBy === 'val_loss' ? value < best.value : value > best.value)) {
          best = { metric: c.keepBestBy, value, epoch: epoch + 1, valAcc: evaluation.accuracy };
          if (isMain) await io.save(stateDictWithMeta(model, meta) as unknown as io.PyValue, path.join(c.out, 'best.pth'));
        }
        const since = history.filter((h) => h.epoch > (best as BestEpoch).epoch && h.valAcc !== null).length;
        if (c.patience > 0 && since >= c.patience && epoch + 1 < c.epochs) {
          stoppedEarly = true;
          log(`early stop after epoch ${epoch + 1}: ${c.keepBestBy} has not improved for ${since} validation(s) (--patience ${c.patience}); best ${best.value.toFixed(4)} at epoch ${best.epoch}`);
        }
      }
      await saveCheckpoint(epoch + 1, 0, stoppedEarly);
      await writeArtifacts(stoppedEarly);
      if (isMain) events.onEpoch?.(record);
      if (await stopRequested(events.signal, world.size) && epoch + 1 < c.epochs && !stoppedEarly) interrupted = true;
    }
    if (isMain && !fs.existsSync(path.join(c.out, 'best.pth'))) await io.save(stateDictWithMeta(model, meta) as unknown as io.PyValue, path.join(c.out, 'best.pth'));
    await writeArtifacts(stoppedEarly);
    return resultOf(run, history, best, { interrupted, stoppedEarly, epochsRun });
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
