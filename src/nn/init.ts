// torch.nn.init: the bounds are computed exactly as Python computes them (IEEE sqrt and division
// round identically in JS and C), and the sampling uses libtorch's generator, so equal seeds give
// equal weights.
import { native } from '../native';
import { Tensor } from '../tensor';
import { finite, invalid } from '../arguments';

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
  native.fill('uniform', check(where, t)._h(where), finite(where, 'a', a), finite(where, 'b', b));
  return t;
}

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  const where = 'nn.init.normal_';
  native.fill('normal', check(where, t)._h(where), finite(where, 'mean', mean), finite(where, 'std', std, 0));
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  const where = 'nn.init.constant_';
  native.fill('constant', check(where, t)._h(where), finite(where, 'value', value), 0);
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

/** Linear/Conv default initialisation (reset_parameters in PyTorch). */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, Math.sqrt(5));
  if (bias) {
    const [fanIn] = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}
