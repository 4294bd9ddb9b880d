export { train, evaluate, buildModel, loadTrainedModel, evalTransform, stateDictWithMeta, ModelMeta, StepEvent, EpochEvent, TrainEvents, TrainResult, Evaluation } from './trainer';
export { TrainConfig, Recipe, Head, RECIPES, resolveConfig } from './config';
export { ensureSyntheticDataset, syntheticRoot } from './synthetic';
