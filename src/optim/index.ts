export { Optimizer, ParamGroup, ParamGroupInput, OptimizerStateDict } from './optimizer';
export { Adam, AdamOptions } from './adam';
export { SGD, SGDOptions } from './sgd';
export * as lrScheduler from './lr_scheduler';
