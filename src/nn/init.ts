// torch.nn.init: the bounds are computed exactly as Python computes them (IEEE sqrt and division
// round identically in JS and C), and the sampling uses libtorch's generator, so equal seeds give
// equal weights.
import { native } from '../native';
import { TorchError } from '../errors';
import { Tensor, track } from '../tensor';
import { finite, invalid } from '../arguments';

type Fill = { kind: 'uniform' | 'normal' | 'constant'; tensor: Tensor; a: number; b: number };
let deferred: Fill[] | null = null;

function fill(kind: Fill['kind'], where: string, t: Tensor, a: number, b: number): void {
  if (deferred) deferred.push({ kind, tensor: t, a, b });
  else native.fill(kind, t._h(where), a, b);
}

/**
 * Constructs modules with `build` while recording their initialisation, then runs it off the JS
 * thread, in the same order (so the same weights for the same seed). AlexNet's 61 M draws take
 * about 0.4 s, too long to block the event loop.
 */
export async function initDeferred<M>(build: () => M): Promise<M> {
  if (deferred) throw new TorchError('nn.init.initDeferred: calls cannot nest', 'INVALID_ARGUMENT');
  const queue: Fill[] = [];
  deferred = queue;
  let built: M;
  try {
    built = build();
  } finally {
    deferred = null;
  }
  const handles = queue.map((f) => f.tensor._h('nn.init.initDeferred'));
  await track('nn.init.initDeferred', [], [...new Set(queue.map((f) => f.tensor))], () => native.fillMany(
    queue.map((f) => f.kind), handles, queue.map((f) => f.a), queue.map((f) => f.b),
  ));
  return built;
}

function check(where: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw invalid(where, 'tensor', 'Tensor', t);
  return t;
}

export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const shape = check('nn.init.calculateFanInAndFanOut', t).shape;
  if (shape.length < 2) throw invalid('nn.init.calculateFanInAndFanOut', 'tensor', 'tensor with at least 2 dimensions', t);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [shape[1] * receptive, shape[0] * receptive];
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  const where = 'nn.init.uniform_';
  fill('uniform', where, check(where, t), finite(where, 'a', a), finite(where, 'b', b));
  return t;
}

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  const where = 'nn.init.normal_';
  fill('normal', where, check(where, t), finite(where, 'mean', mean), finite(where, 'std', std, 0));
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  const where = 'nn.init.constant_';
  fill('constant', where, check(where, t), finite(where, 'value', value), 0);
  return t;
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

/** kaiming_uniform_ with mode='fan_in', nonlinearity='leaky_relu' (PyTorch's layer default). */
export function kaimingUniform_(t: Tensor, a = 0): Tensor {
  const where = 'nn.init.kaimingUniform_';
  finite(where, 'a', a);
  const [fanIn] = calculateFanInAndFanOut(check(where, t));
  const gain = Math.sqrt(2.0 / (1 + a * a));
  const std = gain / Math.sqrt(fanIn);
  const bound = Math.sqrt(3.0) * std;
  return uniform_(t, -bound, bound);
}

/**
 * kaiming_normal_: N(0, std) with std = gain / sqrt(fan), gain sqrt(2 / (1 + a^2)) for
 * nonlinearity 'leaky_relu' (slope a) and sqrt(2) for 'relu', as Python computes them.
 */
export function kaimingNormal_(t: Tensor, opts: { a?: number; mode?: 'fan_in' | 'fan_out'; nonlinearity?: 'relu' | 'leaky_relu' } = {}): Tensor {
  const where = 'nn.init.kaimingNormal_';
  const a = finite(where, 'a', opts.a ?? 0);
  const mode = opts.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw invalid(where, 'mode', "'fan_in' or 'fan_out'", mode);
  const nonlinearity = opts.nonlinearity ?? 'leaky_relu';
  if (nonlinearity !== 'relu' && nonlinearity !== 'leaky_relu') throw invalid(where, 'nonlinearity', "'relu' or 'leaky_relu'", nonlinearity);
  const [fanIn, fanOut] = calculateFanInAndFanOut(check(where, t));
  const gain = nonlinearity === 'relu' ? Math.sqrt(2.0) : Math.sqrt(2.0 / (1 + a * a));
  const std = gain / Math.sqrt(mode === 'fan_in' ? fanIn : fanOut);
  return normal_(t, 0, std);
}

/** Linear/Conv default initialisation (reset_parameters in PyTorch). */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, Math.sqrt(5));
  if (bias) {
    const [fanIn] = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}
