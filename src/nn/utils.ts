// torch.nn.utils' gradient clipping, with the linked PyTorch version's arithmetic (native/nn/utils.cc),
// off the JS thread.
import { native } from '../native';
import { gradsOf, Tensor, track } from '../tensor';
import { bool, finite, invalid, options } from '../arguments';

export interface ClipGradNormOptions {
  /** The p of the p-norm, or Infinity ('inf') for the largest absolute value; default 2. */
  normType?: number | 'inf';
  /** Throw instead of clipping when the total norm is NaN or infinite; default false. */
  errorIfNonfinite?: boolean;
  /** PyTorch 2.x's flag: run the norms and the scaling through the foreach ops (its default on CPU
   * and CUDA; the same numbers on the CPU). Ignored on 1.13, which has no foreach path. */
  foreach?: boolean | null;
}

function parameterList(where: string, parameters: Tensor | Iterable<Tensor>): Tensor[] {
  const list = parameters instanceof Tensor ? [parameters]
    : parameters && typeof (parameters as Iterable<Tensor>)[Symbol.iterator] === 'function' ? [...parameters] : null;
  if (!list) throw invalid(where, 'parameters', 'a Tensor or an iterable of Tensors', parameters);
  list.forEach((p, i) => { if (!(p instanceof Tensor)) throw invalid(where, `parameters[${i}]`, 'Tensor', p); });
  return list;
}

/**
 * Scales the gradients of `parameters` in place so that their total norm (the norm of the
 * per-gradient norms) is at most `maxNorm`: each is multiplied by min(maxNorm / (total + 1e-6), 1).
 * Resolves with the total norm before clipping, a 0-dim float32 Tensor (0 when no gradient).
 */
export async function clipGradNorm_(parameters: Tensor | Iterable<Tensor>, maxNorm: number, opts: ClipGradNormOptions = {}): Promise<Tensor> {
  const where = 'nn.utils.clipGradNorm_';
  const params = parameterList(where, parameters);
  finite(where, 'maxNorm', maxNorm);
  const o = options(where, opts);
  const normType = o.normType === 'inf' ? Infinity : o.normType ?? 2;
  if (typeof normType !== 'number' || Number.isNaN(normType)) throw invalid(where, 'normType', "a number or 'inf'", o.normType);
  const errorIfNonfinite = bool(where, 'errorIfNonfinite', o.errorIfNonfinite ?? false);
  const foreach = bool(where, 'foreach', o.foreach ?? true);
  const handles = params.map((p) => p._h(where, 'parameter', false));
  const total = await track(where, [], [gradsOf(where, params)], () => native.clipGradNorm(handles, { maxNorm, normType, errorIfNonfinite, foreach }));
  return Tensor._wrap(total);
}

/** Clamps the gradients of `parameters` in place to [-clipValue, clipValue]. */
export async function clipGradValue_(parameters: Tensor | Iterable<Tensor>, clipValue: number, opts: { foreach?: boolean | null } = {}): Promise<void> {
  const where = 'nn.utils.clipGradValue_';
  const params = parameterList(where, parameters);
  finite(where, 'clipValue', clipValue);
  const foreach = bool(where, 'foreach', options(where, opts).foreach ?? true);
  const handles = params.map((p) => p._h(where, 'parameter', false));
  await track(where, [], [gradsOf(where, params)], () => native.clipGradValue(handles, clipValue, foreach));
}
