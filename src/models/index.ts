export { AlexNet, AlexNetOptions, alexnet, ALEXNET_WEIGHTS, PretrainedOptions } from './alexnet';
export { ResNet, ResNetOptions, BasicBlock, Bottleneck, resnet18, resnet34, resnet50 } from './resnet';
export { VGG, VGGOptions, vgg11_bn, vgg16 } from './vgg';
export { MobileNetV2, MobileNetV2Options, InvertedResidual, mobilenet_v2 } from './mobilenet';
export { ModelPretrainedOptions, WeightsFile } from './weights';
