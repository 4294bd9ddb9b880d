export { train, TrainOptions } from './trainer';
export { buildModel, evalTransform, stateDictWithMeta, trainStep, withAmp, ModelMeta, StepEvent, EpochEvent, TrainEvents, TrainResult, BestEpoch, TrainStepParts } from './recipe';
export { evaluate, Evaluation, EvaluateOptions } from './evaluate';
export { loadTrainedModel } from './weights';
export { TrainConfig, Recipe, Head, RECIPES, resolveConfig } from './config';
export { ensureSyntheticDataset, syntheticRoot } from './synthetic';
