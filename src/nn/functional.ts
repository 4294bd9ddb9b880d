// Functional forms of the layers (torch.nn.functional). Each runs off the JS thread and records
// autograd history unless called under noGrad().
import { execMode } from '../autograd';
import { native, TensorHandle } from '../native';
import { Tensor, track } from '../tensor';
import { bool, finite, int, intTuple, invalid, oneOf } from '../arguments';

function tensorArg(where: string, param: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) throw invalid(where, param, 'Tensor', v);
  return v;
}

function optionalTensorArg(where: string, param: string, v: unknown): Tensor | undefined {
  return v === undefined || v === null ? undefined : tensorArg(where, param, v);
}

async function op(where: string, inputs: (Tensor | undefined)[], start: (h: (TensorHandle | undefined)[]) => Promise<TensorHandle>, writes: Tensor[] = []): Promise<Tensor> {
  const handles = inputs.map((t, i) => t?._h(where, `input ${i}`));
  const present = inputs.filter((t): t is Tensor => t !== undefined);
  const handle = await track(where, present, writes, () => start(handles));
  return Tensor._wrap(handle);
}

export function linear(input: Tensor, weight: Tensor, bias?: Tensor): Promise<Tensor> {
  const w = 'nn.functional.linear';
  const inputs = [tensorArg(w, 'input', input), tensorArg(w, 'weight', weight), optionalTensorArg(w, 'bias', bias)];
  const mode = execMode();
  return op(w, inputs, ([x, wt, b]) => native.linear(x!, wt!, b, mode));
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor, opts: Conv2dOptions = {}): Promise<Tensor> {
  const w = 'nn.functional.conv2d';
  const inputs = [tensorArg(w, 'input', input), tensorArg(w, 'weight', weight), optionalTensorArg(w, 'bias', bias)];
  const stride = intTuple(w, 'stride', opts.stride ?? 1, 2, 1);
  const padding = intTuple(w, 'padding', opts.padding ?? 0, 2, 0);
  const dilation = intTuple(w, 'dilation', opts.dilation ?? 1, 2, 1);
  const groups = int(w, 'groups', opts.groups ?? 1, 1);
  const mode = execMode();
  return op(w, inputs, ([x, wt, b]) => native.conv2d(x!, wt!, b, { stride, padding, dilation, groups }, mode));
}

export function relu(input: Tensor, inplace = false): Promise<Tensor> {
  const w = 'nn.functional.relu';
  const x = tensorArg(w, 'input', input);
  const mode = execMode();
  const ip = bool(w, 'inplace', inplace);
  const h = x._h(w, 'input');
  return op(w, ip ? [] : [x], () => native.relu(h, ip, mode), ip ? [x] : []);
}

export function hardtanh(input: Tensor, minVal = -1, maxVal = 1, inplace = false): Promise<Tensor> {
  return hardtanhOp('nn.functional.hardtanh', input, minVal, maxVal, inplace);
}

/** min(max(0, x), 6): PyTorch's relu6, which is hardtanh(x, 0, 6). */
export function relu6(input: Tensor, inplace = false): Promise<Tensor> {
  return hardtanhOp('nn.functional.relu6', input, 0, 6, inplace);
}

function hardtanhOp(w: string, input: Tensor, minVal: number, maxVal: number, inplace: boolean): Promise<Tensor> {
  const x = tensorArg(w, 'input', input);
  const lo = finite(w, 'minVal', minVal);
  const hi = finite(w, 'maxVal', maxVal, lo);
  const ip = bool(w, 'inplace', inplace);
  const mode = execMode();
  const h = x._h(w, 'input');
  return op(w, ip ? [] : [x], () => native.hardtanh(h, { minVal: lo, maxVal: hi, inplace: ip }, mode), ip ? [x] : []);
}

/**
 * `input += other` in place (broadcasting `other`), recorded by autograd: the residual add of
 * torchvision's blocks (`out += identity`). Resolves with a new handle to `input`'s tensor.
 */
export function add_(input: Tensor, other: Tensor): Promise<Tensor> {
  const w = 'nn.functional.add_';
  const x = tensorArg(w, 'input', input);
  const o = tensorArg(w, 'other', other);
  const mode = execMode();
  const hx = x._h(w, 'input');
  const ho = o._h(w, 'other');
  return op(w, [o], () => native.add_(hx, ho, mode), [x]);
}

export interface MaxPool2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  ceilMode?: boolean;
}

export function maxPool2d(input: Tensor, kernelSize: number | [number, number], opts: MaxPool2dOptions = {}): Promise<Tensor> {
  const w = 'nn.functional.maxPool2d';
  const x = tensorArg(w, 'input', input);
  const kernel = intTuple(w, 'kernelSize', kernelSize, 2, 1);
  const stride = intTuple(w, 'stride', opts.stride ?? kernel, 2, 1);
  const padding = intTuple(w, 'padding', opts.padding ?? 0, 2, 0);
  const dilation = intTuple(w, 'dilation', opts.dilation ?? 1, 2, 1);
  const ceilMode = bool(w, 'ceilMode', opts.ceilMode ?? false);
  const mode = execMode();
  return op(w, [x], ([h]) => native.maxPool2d(h!, { kernel, stride, padding, dilation, ceilMode }, mode));
}

export function adaptiveAvgPool2d(input: Tensor, outputSize: number | [number, number]): Promise<Tensor> {
  const w = 'nn.functional.adaptiveAvgPool2d';
  const x = tensorArg(w, 'input', input);
  const size = intTuple(w, 'outputSize', outputSize, 2, 1);
  const mode = execMode();
  return op(w, [x], ([h]) => native.adaptiveAvgPool2d(h!, size, mode));
}

export function dropout(input: Tensor, p = 0.5, training = true): Promise<Tensor> {
  const w = 'nn.functional.dropout';
  const x = tensorArg(w, 'input', input);
  const prob = finite(w, 'p', p, 0, 1);
  const train = bool(w, 'training', training);
  const mode = execMode();
  return op(w, [x], ([h]) => native.dropout(h!, prob, train, mode));
}

function softmaxOp(w: string, input: Tensor, dim: number, log: boolean): Promise<Tensor> {
  const x = tensorArg(w, 'input', input);
  const d = int(w, 'dim', dim);
  const mode = execMode();
  return op(w, [x], ([h]) => native.softmax(h!, d, log, mode));
}

export function softmax(input: Tensor, dim: number): Promise<Tensor> {
  return softmaxOp('nn.functional.softmax', input, dim, false);
}

export function logSoftmax(input: Tensor, dim: number): Promise<Tensor> {
  return softmaxOp('nn.functional.logSoftmax', input, dim, true);
}

export type Reduction = 'mean' | 'sum' | 'none';
export const REDUCTIONS: readonly Reduction[] = ['mean', 'sum', 'none'];

export interface CrossEntropyOptions {
  weight?: Tensor;
  ignoreIndex?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
}

export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Promise<Tensor> {
  const w = 'nn.functional.crossEntropy';
  const inputs = [tensorArg(w, 'input', input), tensorArg(w, 'target', target), optionalTensorArg(w, 'weight', opts.weight)];
  const reduction = oneOf(w, 'reduction', opts.reduction ?? 'mean', REDUCTIONS);
  const ignoreIndex = int(w, 'ignoreIndex', opts.ignoreIndex ?? -100);
  const smoothing = finite(w, 'labelSmoothing', opts.labelSmoothing ?? 0, 0, 1);
  const mode = execMode();
  return op(w, inputs, ([x, t, wt]) => native.crossEntropy(x!, t!, wt, { reduction, ignoreIndex, labelSmoothing: smoothing }, mode));
}
