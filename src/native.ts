// The single typed boundary to the C++ addon (native/addon.cc). Nothing else loads the binary.
import * as path from 'path';
import { TorchError } from './errors';

/** Opaque native tensor handle (native/tensor.h). */
export interface TensorHandle {
  readonly __brand: 'TensorHandle';
}
type H = TensorHandle;
type OptH = TensorHandle | undefined;

export type NativeDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The op families of native/tensor.cc, by name. */
export type UnaryOp = 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'relu' | 'sigmoid' | 'tanh' | 'isnan' | 'detach' | 'clone' | 'contiguous';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'maximum' | 'minimum';
export type ReduceOp = 'sum' | 'mean' | 'amax' | 'amin' | 'max' | 'min';
export type ShapeOp = 'reshape' | 'view' | 'unsqueeze' | 'squeeze' | 'flatten' | 'transpose' | 'permute' | 'expand' | 'narrow' | 'select' | 'slice';
export type SplitOp = 'split' | 'splitWithSizes' | 'chunk' | 'unbind';
export type IndexOp = 'indexSelect' | 'maskedSelect' | 'index';
export type MatmulOp = 'matmul' | 'mm' | 'bmm';
export type FactoryKind = 'zeros' | 'ones' | 'full' | 'rand' | 'randn' | 'empty';

export interface QuantizedGeometry {
  size: number[];
  stride: number[];
  offset: number;
}

export interface QuantizedParams<H> {
  dtype: 'qint8' | 'quint8' | 'qint32';
  qscheme: 'per_tensor_affine' | 'per_channel_affine' | 'per_channel_affine_float_qparams';
  /** per_tensor_affine */
  scale?: number;
  zeroPoint?: number;
  /** per_channel_*: float64 (float32 for float qparams) scales and int64 (float) zero points along `axis`. */
  scales?: H;
  zeroPoints?: H;
  axis?: number;
}

export interface TensorMeta {
  shape: number[];
  dtype: NativeDtype;
  device: string;
  requiresGrad: boolean;
  isLeaf: boolean;
  isPinned: boolean;
}

/** The CUDA caching allocator's counters for one device (torch.cuda.memory_stats' aggregate figures). */
export interface CudaMemoryStats {
  allocatedBytes: number;
  peakAllocatedBytes: number;
  reservedBytes: number;
  peakReservedBytes: number;
  allocRetries: number;
  ooms: number;
}

/** A new tensor's dtype and device (at::TensorOptions), as the factory calls take them. */
export interface NewTensorOptions {
  dtype: NativeDtype;
  device: string;
}

/** native/optim/adam.cc's state lists, one entry per parameter (undefined: not created yet). */
export interface AdamStepState {
  expAvgs: OptH[];
  expAvgSqs: OptH[];
  maxExpAvgSqs: OptH[];
  /** The step count of each parameter, this step included. */
  steps: number[];
}
export interface AdamStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  decoupledWeightDecay: boolean;
  fused: boolean;
}
/** native/optim/sgd.cc's state list, one entry per parameter (undefined: not created yet). */
export interface SgdStepState {
  momentumBuffers: OptH[];
}
export interface SgdStepOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
  fused: boolean;
}
/** native/optim/rmsprop.cc's state lists, one entry per parameter (undefined: not created yet). */
export interface RmspropStepState {
  squareAvgs: OptH[];
  gradAvgs: OptH[];
  momentumBuffers: OptH[];
}
export interface RmspropStepOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
  fused: boolean;
}
/** One param group of an optimizer's native step: every parameter, stepped or not. */
export interface StepGroup<S, O> {
  params: H[];
  state: S;
  options: O;
}
/**
 * Called by a native step, before it queues any work, with the parameters it will update (those
 * with a gradient): a boolean per parameter per group. Throwing (BUSY) cancels the step.
 */
export type AdmitStep = (plan: boolean[][]) => void;

/** native/data/transforms.cc: resize width x height to outWidth x outHeight, then keep `crop`. */
export interface ResampleOptions {
  width: number;
  height: number;
  outWidth: number;
  outHeight: number;
  crop?: { left: number; top: number; width: number; height: number };
}

/**
 * What the addon exports, each member under a comment naming the native file that registers it
 * (test/native-boundary.test.js checks both: the keys against the loaded addon, the files by
 * their exports.Set calls).
 */
export interface NativeAddon {
  // errors.cc
  setErrorClass(cls: typeof TorchError): void;
  // tensor.cc
  /** The handle class: native code makes its instances, JS never constructs one. */
  TensorHandle: unknown;
  fromData(data: Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | BigInt64Array | Uint8Array, shape: number[], dtype: NativeDtype, device: string): H;
  toBuffer(t: H): ArrayBuffer;
  item(t: H): number;
  meta(t: H): TensorMeta;
  setRequiresGrad(t: H, flag: boolean): void;
  release(t: H): void;
  busyKeys(tensors: H[], part: 'data' | 'slot' | 'grad'): number[];
  to(t: H, opts: { device: string; dtype: NativeDtype | null; nonBlocking: boolean }, mode: number): H;
  unary(op: UnaryOp, t: H, mode: number): H;
  binary(op: BinaryOp, a: H, b: H | number, mode: number): H;
  reduce(op: ReduceOp, t: H, opts: { dims: number[] | null; keepdim: boolean }, mode: number): H;
  argmax(t: H, dim: number | null, keepdim: boolean): H;
  shapeOp(op: ShapeOp, t: H, args: number[], mode: number): H;
  factory(kind: FactoryKind, shape: number[], value: number, opts: NewTensorOptions): H;
  zerosLike(t: H): H;
  arange(start: number, end: number, step: number, opts: NewTensorOptions): H;
  fill(kind: 'uniform' | 'normal' | 'constant', t: H, a: number, b: number): void;
  fillMany(kinds: ('uniform' | 'normal' | 'constant')[], tensors: H[], a: number[], b: number[]): Promise<void>;
  copyInto(dst: H[], src: H[]): Promise<void>;
  moveData(params: H[], device: string): Promise<void>;
  splitOp(op: SplitOp, t: H, opts: { sizes: number[]; dim: number }, mode: number): H[];
  combine(op: 'cat' | 'stack', tensors: H[], dim: number, mode: number): H;
  indexOp(op: IndexOp, t: H, opts: { index: H; dim: number }, mode: number): H;
  matmul(op: MatmulOp, a: H, b: H, mode: number): Promise<H>;
  where(cond: H, a: H | number, b: H | number, mode: number): H;
  clamp(t: H, min: number | null, max: number | null, mode: number): H;
  stat(op: 'std' | 'var', t: H, opts: { dims: number[] | null; correction: number; keepdim: boolean }, mode: number): H;
  norm(t: H, opts: { p: number; dims: number[] | null; keepdim: boolean }, mode: number): H;
  reduceWithIndices(op: 'max' | 'min', t: H, opts: { dim: number; keepdim: boolean }, mode: number): [H, H];
  randint(low: number, high: number, shape: number[], opts: NewTensorOptions): H;
  linspace(start: number, end: number, steps: number, opts: NewTensorOptions): H;
  randpermTensor(n: number, seed: number | null, opts: NewTensorOptions): H;
  factoryLike(kind: FactoryKind, t: H, value: number, dtype: NativeDtype | null): H;
  // autograd.cc
  graphLeaves(root: H): H[];
  backward(loss: H, gradient: OptH, retainGraph: boolean): Promise<void>;
  grad(t: H): OptH;
  setGrad(param: H, grad: OptH): void;
  zeroGrad(params: H[], setToNone: boolean): void;
  // random.cc
  manualSeed(seed: number | bigint): void;
  getRngState(): H;
  setRngState(state: H): void;
  randperm(n: number, seed: number | bigint): number[];
  generatorDraw(kind: 'seed', state: null, seed: number | bigint): [undefined, H];
  generatorDraw(kind: 'int64', state: H, unused: 0): [bigint, H];
  generatorDraw(kind: 'randperm', state: H, n: number): [number[], H];
  torchDraw(kind: 'uniform' | 'expUniform' | 'randint' | 'rand', a?: number, b?: number): number;
  torchDraw(kind: 'int64'): bigint;
  // runtime.cc
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaDeviceCount(): number;
  cudaEmptyCache(): boolean;
  cudaSynchronize(device: number): Promise<void>;
  cudaMemoryStats(device: number): CudaMemoryStats | null;
  memory(): { tensors: number; bytes: number };
  buildInfo(): { torchVersion: string; headerVersion: string; libraryPath: string; cudaCompiled: boolean; parallelInfo: string };
  // nn/functional.cc
  linear(x: H, w: H, b: OptH, mode: number): Promise<H>;
  conv2d(x: H, w: H, b: OptH, opts: { stride: number[]; padding: number[]; dilation: number[]; groups: number }, mode: number): Promise<H>;
  relu(x: H, inplace: boolean, mode: number): Promise<H>;
  maxPool2d(x: H, opts: { kernel: number[]; stride: number[]; padding: number[]; dilation: number[]; ceilMode: boolean }, mode: number): Promise<H>;
  adaptiveAvgPool2d(x: H, size: number[], mode: number): Promise<H>;
  dropout(x: H, p: number, training: boolean, mode: number): Promise<H>;
  softmax(x: H, dim: number, log: boolean, mode: number): Promise<H>;
  crossEntropy(input: H, target: H, weight: OptH, opts: { reduction: string; ignoreIndex: number; labelSmoothing: number }, mode: number): Promise<H>;
  hardtanh(x: H, opts: { minVal: number; maxVal: number; inplace: boolean }, mode: number): Promise<H>;
  /** x += other in place; resolves with a new handle to x. */
  add_(x: H, other: H, mode: number): Promise<H>;
  // nn/batchnorm.cc: momentum NaN stands for None (cumulative average)
  batchNorm(x: H, state: [weight: OptH, bias: OptH, runningMean: OptH, runningVar: OptH, numBatchesTracked: OptH], opts: { training: boolean; momentum: number; eps: number }, mode: number): Promise<H>;
  // nn/utils.cc
  clipGradNorm(params: H[], opts: { maxNorm: number; normType: number; errorIfNonfinite: boolean; foreach: boolean }): Promise<H>;
  clipGradValue(params: H[], clipValue: number, foreach: boolean): Promise<void>;
  // optim/adam.cc, optim/sgd.cc, optim/rmsprop.cc (optim/step.h): one call per step() over every
  // group; resolves, per group, with the state tensors it created (3 per parameter for Adam and
  // RMSprop, 1 for SGD; undefined where they existed or the parameter had no gradient)
  adamStep(groups: StepGroup<AdamStepState, AdamStepOptions>[], admit: AdmitStep): Promise<OptH[][]>;
  sgdStep(groups: StepGroup<SgdStepState, SgdStepOptions>[], admit: AdmitStep): Promise<OptH[][]>;
  rmspropStep(groups: StepGroup<RmspropStepState, RmspropStepOptions>[], admit: AdmitStep): Promise<OptH[][]>;
  // optim/lr_scheduler.cc
  cosineAnnealing(form: 'recursive' | 'resumed' | 'closed', opts: { epoch: number; tMax: number; etaMin: number; baseLr: number; lastLr: number }): number;
  libm(fn: 'cos', x: number): number;
  libm(fn: 'pow', x: number, y: number): number;
  // distributed.cc (present when the build found c10d's Gloo)
  distAvailable: boolean;
  initProcessGroup(opts: { masterAddr: string; masterPort: number; rank: number; worldSize: number; timeoutMs: number; isServer: boolean; storePrefix: string }): Promise<void>;
  destroyProcessGroup(): void;
  allReduce(tensor: H, op: string): Promise<void>;
  broadcast(tensors: H[], root: number): Promise<void>;
  barrier(): Promise<void>;
  averageGradients(params: H[], bucketBytes: number): Promise<void>;
  // amp.cc
  ampUnscale(params: H[], scale: H, foundInf: H): Promise<void>;
  ampUpdateScale(scale: H, growthTracker: H, foundInf: H, opts: { growthFactor: number; backoffFactor: number; growthInterval: number }): Promise<void>;
  // io/serialization.cc
  tensorsFromBytes(buffers: Uint8Array[], dtypes: NativeDtype[]): Promise<H[]>;
  tensorBytes(tensors: H[]): Promise<ArrayBuffer[]>;
  crc32(buffers: Uint8Array[]): Promise<number[]>;
  asStrided(storage: H, size: number[], stride: number[], offset: number): H;
  /** A quantized tensor over an int8/uint8/int32 storage, as _rebuild_qtensor builds it. */
  makeQuantized(storage: H, opts: QuantizedGeometry & ({ qscheme: 'per_tensor_affine'; scale: number; zeroPoint: number } | { qscheme: 'per_channel_affine'; channelParams: H[]; axis: number })): H;
  /** A quantized tensor's dtype and quantizer, or null for any other tensor. */
  quantizedParams(t: H): QuantizedParams<H> | null;
  quantizedOp(op: 'intRepr' | 'dequantize', t: H): H;
  // data/dataloader.cc
  imagesToBatch(images: Uint8Array[], opts: { height: number; width: number; flips: boolean[]; mean: number[] | null; std: number[] | null; batched: boolean; pinned: boolean }): Promise<H>;
  // data/transforms.cc
  resample(pixels: Uint8Array, opts: ResampleOptions): Promise<Buffer>;
  cmykToRgb(pixels: Uint8Array): Promise<Buffer>;
}

const ROOT = path.join(__dirname, '..');

function loadFailure(cause: Error): TorchError {
  const msg = cause.message || String(cause);
  const remedies: string[] = [];
  // In a user's project the package is rebuilt with npm; in torchbridge's own checkout, by script.
  const rebuild = '`npm rebuild torchbridge` in your project (in a torchbridge checkout: `npm run build:native`)';
  if (/No native build was found|Cannot find module/.test(msg)) {
    remedies.push(`The addon is not built yet: run ${rebuild}. It needs a libtorch: a pip PyTorch (\`python3 -c "import torch"\` works, or PYTHON=/path/to/venv/bin/python), LIBTORCH=/path/to/libtorch, or Debian's libtorch-dev.`);
  } else if (/libtorch|libc10|libtorch_cpu|cannot open shared object/.test(msg)) {
    remedies.push(`A libtorch library could not be loaded: the libtorch the addon was built against moved or was removed. Rebuild: ${rebuild}.`);
  } else if (/NODE_MODULE_VERSION|was compiled against a different Node\.js version|undefined symbol/.test(msg)) {
    remedies.push(`The addon was built for another Node.js or libtorch; rebuild it with this Node (${process.version}): ${rebuild}.`);
  } else {
    remedies.push(`Rebuild the addon: ${rebuild}.`);
  }
  return new TorchError(
    ['torchbridge: could not load the native addon.', `Cause: ${msg}`, 'Possible solutions:', ...remedies.map((r) => `- ${r}`)].join('\n'),
    'NATIVE_LOAD_FAILED',
  );
}

/**
 * @internal Loads the addon built under `root` (build/Release, or a prebuild) via node-gyp-build,
 * or the addon file `file` when given (TORCHBRIDGE_ADDON: the test suite's libtorch 1.13 lane).
 */
export function loadAddon(root: string, file?: string): NativeAddon {
  let addon: NativeAddon;
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    addon = (file ? require(path.resolve(file)) : nodeGypBuild(root)) as NativeAddon;
  } catch (err) {
    throw loadFailure(err as Error);
  }
  addon.setErrorClass(TorchError);
  return addon;
}

export const native: NativeAddon = loadAddon(ROOT, process.env.TORCHBRIDGE_ADDON || undefined);
