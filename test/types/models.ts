// Type-level checks of the torchvision architectures and their layers (compiled, never run).
import { models, nn, Tensor } from 'torchbridge';

export async function modelTypes(x: Tensor): Promise<void> {
  const r18: models.ResNet = models.resnet18({ numClasses: 2 });
  r18.fc = new nn.Linear(512, 3);
  const r50 = await models.resnet50.pretrained({ weights: 'DEFAULT', numClasses: 5 });
  const fc: nn.Module = r50.fc;
  const vgg: models.VGG = await models.vgg16.pretrained({ weights: 'vgg16.pth' });
  const last: nn.Module = vgg.classifier.at(6);
  const mobile: models.MobileNetV2 = models.mobilenet_v2({ numClasses: 10, dropout: 0.1 });
  const path: string = models.vgg11_bn.defaultWeightsPath();
  const prefix: string = models.resnet34.weights.sha256Prefix;
  const bn = new nn.BatchNorm2d(8, { momentum: null, eps: 1e-3, affine: false, trackRunningStats: true });
  const stats: Tensor | null = bn.runningMean;
  const y: Tensor = await nn.functional.relu6(await nn.functional.add_(await bn.forward(x), x), true);
  const act = new nn.ReLU6({ inplace: true });
  void [fc, last, mobile, path, prefix, stats, y, act];
}
