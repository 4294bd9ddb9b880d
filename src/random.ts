// The default CPU generator's state, like torch.get_rng_state / torch.set_rng_state: a uint8
// tensor that a checkpoint can hold so that a resumed run draws the same dropout masks.
import { native } from './native';
import { Tensor } from './tensor';
import { invalid } from './arguments';

export function getRngState(): Tensor {
  return Tensor._wrap(native.getRngState());
}

export function setRngState(state: Tensor): void {
  if (!(state instanceof Tensor)) throw invalid('setRngState', 'state', 'uint8 Tensor from getRngState()', state);
  if (state.dtype !== 'uint8') throw invalid('setRngState', 'state', 'uint8 Tensor from getRngState()', `${state.dtype} tensor`);
  native.setRngState(state._h('setRngState', 'state'));
}
