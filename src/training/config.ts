// The main job's configuration: the seed's recipe, the fine-tuning default, and validation.
import * as fs from 'fs';
import * as path from 'path';
import { TorchError } from '../errors';
import { checkDevice, cuda, Device } from '../runtime';
import { bool, finite, int, invalid, oneOf } from '../arguments';

export type Recipe = 'seed' | 'finetune';
export type Head = 'replace' | 'append';
export type Arch = 'alexnet' | 'resnet18' | 'resnet34' | 'resnet50' | 'vgg11_bn' | 'vgg16' | 'mobilenet_v2';
export const ARCHS: readonly Arch[] = ['alexnet', 'resnet18', 'resnet34', 'resnet50', 'vgg11_bn', 'vgg16', 'mobilenet_v2'];

export interface TrainConfig {
  /** Folder with train/ and val/ ImageFolder trees. */
  data: string;
  /** 'DEFAULT' (torchvision's ImageNet weights), a path, or 'none' (train from scratch). */
  weights: string;
  /** The torchvision architecture trained (AlexNet unless --arch says otherwise). */
  arch: Arch;
  head: Head;
  recipe: Recipe;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: 'adam' | 'adamw' | 'sgd';
  momentum: number;
  weightDecay: number;
  scheduler: 'cosine' | 'step' | 'none';
  /** Cosine period (default: the epochs after the warm-up) or StepLR step size. */
  tMax: number;
  /** Epochs of LinearLR warm-up (PyTorch's start factor 1/3) before the schedule, through SequentialLR (0: none). */
  warmupEpochs: number;
  /** Clip the gradients' total 2-norm to this before each optimizer step (0: no clipping). */
  clipGradNorm: number;
  freezeFeatures: boolean;
  /** PyTorch's op-by-op optimizer arithmetic instead of the fused native step. */
  exact: boolean;
  /** Mixed precision: autocast to bfloat16 or float16 (with loss scaling), or off. */
  amp: 'off' | 'bf16' | 'fp16';
  device: 'auto' | Device;
  threads: number;
  seed: number;
  out: string;
  resume?: string;
  evalEvery: number;
  skipBadImages: boolean;
  /** Side of the square crops (224 for AlexNet as published; smaller is faster). */
  imageSize: number;
  /** Print one JSON object per event instead of text. */
  json: boolean;
  /** The validation metric best.pth keeps the best of, and early stopping watches. */
  keepBestBy: 'val_acc' | 'val_loss';
  /** Stop after this many validations without improvement of keepBestBy (0: never). */
  patience: number;
}

/** What each recipe fixes beyond the options (the seed's quirks live here). */
export interface RecipeDetails {
  normalize: boolean;
  augment: boolean;
  shuffle: boolean;
  /** The seed zeroes gradients once per epoch, so they accumulate over its steps. */
  zeroGradPerEpoch: boolean;
  /**
   * Load data as a PyTorch script's DataLoader would, drawing shuffles and random transforms from
   * torch's generator in its order (DataLoader rng 'torch'), so the same seed gives PyTorch's
   * run. The seed indexes its data set directly (no DataLoader, no draws).
   */
  pytorchDataLoader: boolean;
}

export const RECIPES: Record<Recipe, Omit<TrainConfig, 'data' | 'weights' | 'device' | 'threads' | 'seed' | 'out' | 'resume' | 'evalEvery' | 'skipBadImages' | 'json' | 'imageSize' | 'exact' | 'amp' | 'keepBestBy' | 'patience' | 'arch' | 'warmupEpochs' | 'clipGradNorm'> & RecipeDetails> = {
  seed: {
    recipe: 'seed', head: 'append', epochs: 700, batchSize: 1, lr: 1e-8, optimizer: 'adam', momentum: 0, weightDecay: 0,
    scheduler: 'cosine', tMax: 50, freezeFeatures: false,
    normalize: false, augment: false, shuffle: false, zeroGradPerEpoch: true, pytorchDataLoader: false,
  },
  finetune: {
    recipe: 'finetune', head: 'replace', epochs: 5, batchSize: 32, lr: 1e-4, optimizer: 'adam', momentum: 0.9, weightDecay: 0,
    scheduler: 'cosine', tMax: 0, freezeFeatures: false,
    normalize: true, augment: true, shuffle: true, zeroGradPerEpoch: false, pytorchDataLoader: true,
  },
};

export const DEFAULTS = {
  arch: 'alexnet' as const, warmupEpochs: 0, clipGradNorm: 0,
  weights: 'DEFAULT', device: 'auto' as const, threads: 0, seed: 0, evalEvery: 1, skipBadImages: false, json: false, imageSize: 224, exact: false, amp: 'off' as const,
  keepBestBy: 'val_acc' as const, patience: 0,
};

/**
 * The smallest side AlexNet takes: conv1 (kernel 11, stride 4, padding 2) turns s into
 * floor((s - 7) / 4) + 1, and each 3x3 max-pool of stride 2 turns n into floor((n - 3) / 2) + 1
 * (the convolutions between them keep the size). The last pool needs 3, so the second 7 and the
 * first 15: floor((s - 7) / 4) >= 14, s >= 63.
 */
export const ALEXNET_MIN_IMAGE_SIZE = 63;

/** The smallest side the other architectures take: VGG's five 2x2 pools (ResNet and MobileNetV2 halve five times too). */
export const MIN_IMAGE_SIZE = 32;

/** Fills a partial config from its recipe and validates everything, naming the option at fault. */
export function resolveConfig(partial: Partial<TrainConfig> & { data: string; out: string }): TrainConfig & RecipeDetails {
  const where = 'train';
  const recipe = oneOf(where, 'recipe', partial.recipe ?? 'finetune', ['seed', 'finetune'] as const);
  const r = RECIPES[recipe];
  const c = { ...DEFAULTS, ...r, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as TrainConfig & RecipeDetails;
  if (typeof c.data !== 'string' || !c.data) throw invalid(where, 'data', 'a folder with train/ and val/', c.data);
  for (const split of ['train', 'val']) {
    const dir = path.join(c.data, split);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new TorchError(`${where}: --data ${c.data} has no ${split}/ folder (expected ${dir})`, 'INVALID_ARGUMENT');
    }
  }
  if (typeof c.weights !== 'string' || !c.weights) throw invalid(where, 'weights', "'DEFAULT', 'none' or a path", c.weights);
  if (!['DEFAULT', 'none'].includes(c.weights) && !fs.existsSync(c.weights) && c.resume === undefined) { // resuming does not read them
    throw new TorchError(`${where}: --weights ${c.weights} does not exist`, 'INVALID_ARGUMENT');
  }
  oneOf(where, 'arch', c.arch, ARCHS);
  oneOf(where, 'head', c.head, ['replace', 'append'] as const);
  if (c.arch !== 'alexnet' && c.head === 'append') {
    throw new TorchError(`${where}: --head append is AlexNet's seed recipe; --arch ${c.arch} replaces its classifier (--head replace)`, 'INVALID_ARGUMENT');
  }
  int(where, 'epochs', c.epochs, 1);
  int(where, 'batchSize', c.batchSize, 1);
  finite(where, 'lr', c.lr, 0);
  oneOf(where, 'optimizer', c.optimizer, ['adam', 'adamw', 'sgd'] as const);
  finite(where, 'momentum', c.momentum, 0);
  finite(where, 'weightDecay', c.weightDecay, 0);
  oneOf(where, 'scheduler', c.scheduler, ['cosine', 'step', 'none'] as const);
  int(where, 'tMax', c.tMax, 0);
  int(where, 'warmupEpochs', c.warmupEpochs, 0);
  if (c.warmupEpochs >= c.epochs) throw invalid(where, 'warmupEpochs', `fewer than the epochs (${c.epochs})`, c.warmupEpochs);
  finite(where, 'clipGradNorm', c.clipGradNorm, 0);
  const scheduled = c.epochs - c.warmupEpochs; // the schedule starts after the warm-up
  if (c.tMax === 0) c.tMax = c.scheduler === 'step' ? Math.max(1, Math.floor(scheduled / 3)) : scheduled;
  bool(where, 'freezeFeatures', c.freezeFeatures);
  bool(where, 'exact', c.exact);
  oneOf(where, 'amp', c.amp, ['off', 'bf16', 'fp16'] as const);
  if (c.device !== 'auto') checkDevice(where, 'device', c.device);
  int(where, 'threads', c.threads, 0);
  int(where, 'seed', c.seed, 0);
  int(where, 'evalEvery', c.evalEvery, 0);
  if (c.arch === 'alexnet' && (!Number.isInteger(c.imageSize) || c.imageSize < ALEXNET_MIN_IMAGE_SIZE)) {
    throw invalid(where, 'imageSize', `integer >= ${ALEXNET_MIN_IMAGE_SIZE} (AlexNet's smallest input: smaller ones shrink to nothing before its last max-pool)`, c.imageSize);
  }
  if (c.arch !== 'alexnet' && (!Number.isInteger(c.imageSize) || c.imageSize < MIN_IMAGE_SIZE)) {
    throw invalid(where, 'imageSize', `integer >= ${MIN_IMAGE_SIZE} (${c.arch}'s smallest input)`, c.imageSize);
  }
  bool(where, 'skipBadImages', c.skipBadImages);
  oneOf(where, 'keepBestBy', c.keepBestBy, ['val_acc', 'val_loss'] as const);
  int(where, 'patience', c.patience, 0);
  if (c.resume !== undefined && !fs.existsSync(c.resume)) throw new TorchError(`${where}: --resume ${c.resume} does not exist`, 'INVALID_ARGUMENT');
  if (c.freezeFeatures && c.head === 'append') {
    throw new TorchError(`${where}: --freeze-features trains only the classifier, which needs --head replace (the append head keeps a frozen 1000-way classifier)`, 'INVALID_ARGUMENT');
  }
  if (c.freezeFeatures && c.weights === 'none') {
    throw new TorchError(`${where}: --freeze-features with --weights none would train a classifier on random features`, 'INVALID_ARGUMENT');
  }
  if (c.amp === 'fp16' && !(c.device === 'auto' ? cuda.isAvailable() : c.device.startsWith('cuda'))) {
    throw new TorchError(`${where}: --amp fp16 needs a CUDA device (CPU autocast runs bfloat16: use --amp bf16)`, 'INVALID_ARGUMENT');
  }
  if (c.amp === 'fp16' && c.zeroGradPerEpoch) {
    throw new TorchError(`${where}: --amp fp16 unscales gradients every step, so it cannot accumulate them over an epoch as the seed recipe does; use --amp bf16`, 'INVALID_ARGUMENT');
  }
  if (c.batchSize > 1 && !c.augment && c.recipe === 'seed') {
    throw new TorchError(`${where}: the seed recipe resizes without cropping, so images differ in size; --batch-size ${c.batchSize} needs --recipe finetune (which crops)`, 'INVALID_ARGUMENT');
  }
  return c;
}
