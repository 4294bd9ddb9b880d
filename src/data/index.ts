export { ImageFolder, ImageFolderOptions, Sample, IMG_EXTENSIONS, prepareImage, imagesToTensor } from './image_folder';
export { DataLoader, DataLoaderOptions, Batch, AnyDataset, BatchOf } from './dataloader';
export * as transforms from './transforms';
export { DistributedSampler, DistributedSamplerOptions, Sampler } from './sampler';
export { Dataset, TensorDataset, Subset, randomSplit, defaultCollate, Collated, isDataset } from './dataset';
