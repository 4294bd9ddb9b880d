export { Optimizer, ParamGroup, ParamGroupInput, OptimizerStateDict, ScheduledGroupValues } from './optimizer';
export { Adam, AdamOptions, AdamW, AdamWOptions } from './adam';
export { SGD, SGDOptions } from './sgd';
export { RMSprop, RMSpropOptions } from './rmsprop';
export * as lrScheduler from './lr_scheduler';
