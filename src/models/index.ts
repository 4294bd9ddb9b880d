export { AlexNet, AlexNetOptions, alexnet, ALEXNET_WEIGHTS, PretrainedOptions } from './alexnet';
