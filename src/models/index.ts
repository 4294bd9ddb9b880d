export { AlexNet, AlexNetOptions, alexnet } from './alexnet';
