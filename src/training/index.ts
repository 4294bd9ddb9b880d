export { train, evaluate, buildModel, loadTrainedModel, evalTransform, stateDictWithMeta, ModelMeta, StepEvent, EpochEvent, TrainEvents, TrainOptions, TrainResult, BestEpoch, Evaluation, EvaluateOptions } from './trainer';
export { TrainConfig, Recipe, Head, RECIPES, resolveConfig } from './config';
export { ensureSyntheticDataset, syntheticRoot } from './synthetic';
