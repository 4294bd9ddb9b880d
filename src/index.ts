// torchbridge: PyTorch-style training for Node.js on libtorch.
export { TorchError, TorchErrorCode } from './errors';
export { Tensor, tensor, zeros, ones, empty, full, rand, randn, arange, Dtype, TensorData, TensorOptions, DTYPES } from './tensor';
export {
  cat, stack, where, matmul, randint, randperm, linspace, zerosLike, onesLike, fullLike, emptyLike, randLike, randnLike,
  LikeOptions, StatOptions, ValuesIndices,
} from './tensor';
export { noGrad, enableGrad, isGradEnabled } from './autograd';
export { autocast, isAutocastEnabled } from './amp';
export * as amp from './amp';
export { memory, scope } from './memory';
export { manualSeed, setNumThreads, getNumThreads, cuda, buildInfo, Device } from './runtime';
export type { CudaMemoryStats } from './native';
export { getRngState, setRngState, Generator } from './random';
export * as nn from './nn';
export * as optim from './optim';
export * as models from './models';
export * as io from './io';
export * as data from './data';
export * as training from './training';
export * as dist from './distributed';
export { train, evaluate } from './training';
