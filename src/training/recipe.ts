// The recipe's parts that train, evaluate, predict and the bench share: the model (AlexNet with
// its head), the two preprocessing pipelines, autocast around a forward pass, one optimisation
// step, and the types train() reports with.
import { autocast, GradScaler } from '../amp';
import { transforms as T } from '../data';
import { pythonState } from '../io';
import * as models from '../models';
import * as nn from '../nn';
import * as optim from '../optim';
import { Tensor } from '../tensor';
import { Arch, RecipeDetails, TrainConfig } from './config';
import { EpochPoint } from './plot';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** What predict/validate need to rebuild a trained model and its preprocessing. */
export interface ModelMeta {
  /** Absent in files from before --arch: AlexNet. */
  arch?: Arch;
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

export function evalTransform(meta: Pick<ModelMeta, 'recipe' | 'imageSize' | 'normalize'>): T.Compose {
  const norm = meta.normalize ? [T.normalize(IMAGENET_MEAN, IMAGENET_STD)] : [];
  if (meta.recipe === 'seed') return T.compose([T.resize(meta.imageSize), T.toTensor(), ...norm]);
  return T.compose([T.resize(Math.round((meta.imageSize * 256) / 224)), T.centerCrop(meta.imageSize), T.toTensor(), ...norm]);
}

export function trainTransform(c: TrainConfig & RecipeDetails): T.Compose {
  if (!c.augment) return evalTransform({ recipe: c.recipe, imageSize: c.imageSize, normalize: c.normalize });
  const norm = c.normalize ? [T.normalize(IMAGENET_MEAN, IMAGENET_STD)] : [];
  return T.compose([T.randomResizedCrop(c.imageSize), T.randomHorizontalFlip(), T.toTensor(), ...norm]);
}

/** Runs `fn` under autocast for --amp bf16/fp16 on the device's type. */
export function withAmp<R>(amp: TrainConfig['amp'], device: string, fn: () => Promise<R>): Promise<R> {
  if (amp === 'off') return fn();
  return autocast({ deviceType: device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: amp === 'bf16' ? 'bfloat16' : 'float16' }, fn);
}

/** AlexNet with the head for `classes` classes: classifier.6 replaced, or Linear(1000, k) + Softmax appended. */
export function buildModel(head: 'replace' | 'append', classes: number, base = models.alexnet()): nn.Module {
  if (head === 'replace') {
    base.classifier.set(6, new nn.Linear(4096, classes));
    return base;
  }
  return new nn.Sequential(base, new nn.Linear(1000, classes), new nn.Softmax({ dim: 1 }));
}

/** Each architecture's own classifier, the layer --head replace replaces (torchvision's names). */
export const CLASSIFIER: Record<Arch, string> = {
  alexnet: 'classifier.6', resnet18: 'fc', resnet34: 'fc', resnet50: 'fc', vgg11_bn: 'classifier.6', vgg16: 'classifier.6', mobilenet_v2: 'classifier.1',
};

/**
 * A torchvision architecture other than AlexNet with `classes` outputs: its classifier is built
 * for them, which is what replacing it does (--head replace).
 */
export function buildArch(arch: Exclude<Arch, 'alexnet'>, classes: number): nn.Module {
  return models[arch]({ numClasses: classes });
}

/**
 * --freeze-features: AlexNet's features stop learning (its classifier trains); the other
 * architectures train their classifier only.
 */
export function freezeFeatures(model: nn.Module, arch: Arch): void {
  if (arch === 'alexnet') {
    for (const p of alexnetOf(model).features.parameters()) p.requiresGrad_(false);
    return;
  }
  const head = `${CLASSIFIER[arch]}.`;
  for (const [name, p] of model.namedParameters()) if (!name.startsWith(head)) p.requiresGrad_(false);
}

/** The AlexNet inside a model built by buildModel. */
export function alexnetOf(model: nn.Module): models.AlexNet {
  return (model instanceof models.AlexNet ? model : (model as nn.Sequential).at(0)) as models.AlexNet;
}

/** A state_dict that PyTorch loads, carrying the preprocessing in its _metadata (ignored by PyTorch). */
export function stateDictWithMeta(model: nn.Module, meta: ModelMeta): Map<string, Tensor> {
  const sd = model.stateDict();
  pythonState.set(sd, { _metadata: new Map([['torchbridge', { ...meta }]]) });
  return sd;
}

/** The preprocessing a state_dict written by stateDictWithMeta carries. */
export function metaOf(sd: Map<string, unknown>): Partial<ModelMeta> | undefined {
  const state = pythonState.get(sd) as { _metadata?: Map<string, unknown> } | undefined;
  return state?._metadata?.get('torchbridge') as Partial<ModelMeta> | undefined;
}

/** What one optimisation step works with. */
export interface TrainStepParts {
  model: nn.Module;
  optimizer: optim.Optimizer<{ lr: number }, object>;
  criterion: nn.Module;
  /** Loss scaling under --amp fp16 (float16 gradients underflow without it). */
  scaler?: GradScaler | null;
  amp?: TrainConfig['amp'];
  /** Clip the gradients' total 2-norm to this before the step (unscaled first under fp16). */
  clipGradNorm?: number;
  device?: string;
}

/**
 * One optimisation step as the recipe takes it: forward and loss under autocast (with --amp),
 * backward, then the optimizer's step (through the GradScaler under fp16). Gradients are not
 * zeroed here: the seed recipe accumulates them over an epoch. Returns the output and the loss,
 * which the caller disposes.
 */
export async function trainStep(parts: TrainStepParts, input: Tensor, target: Tensor): Promise<{ out: Tensor; loss: Tensor }> {
  const { model, optimizer, criterion, scaler } = parts;
  const { out, loss } = await withAmp(parts.amp ?? 'off', parts.device ?? 'cpu', async () => {
    const o = await model.forward(input);
    return { out: o, loss: await criterion.forward(o, target) };
  });
  const clip = parts.clipGradNorm ?? 0;
  const clipGradients = async () => {
    if (clip > 0) (await nn.utils.clipGradNorm_(model.parameters().filter((p) => p.requiresGrad), clip)).dispose();
  };
  if (scaler) {
    const scaled = scaler.scale(loss);
    await scaled.backward();
    scaled.dispose();
    if (clip > 0) await scaler.unscale_(optimizer);
    await clipGradients();
    await scaler.step(optimizer);
    await scaler.update();
  } else {
    await loss.backward();
    await clipGradients();
    await optimizer.step();
  }
  return { out, loss };
}
