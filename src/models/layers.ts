// What the torchvision architectures share: running a list of layers and their weight init.
import { BatchNorm2d, Conv2d, Linear, Module } from '../nn';
import { constant_, kaimingNormal_, normal_ } from '../nn/init';
import { Tensor } from '../tensor';

/** Feeds `input` through `layers` in order, freeing the intermediate handles (not `input`). */
export async function runLayers(input: Tensor, layers: Module[]): Promise<Tensor> {
  let x = input;
  for (const m of layers) {
    const next = await m.forward(x);
    if (x !== input && next !== x) x.dispose();
    x = next;
  }
  return x;
}

/** torchvision's classification tail: features, pool, flatten(1), classifier, freeing what it made. */
export async function classify(x: Tensor, features: Module, pool: (t: Tensor) => Promise<Tensor>, classifier: Module): Promise<Tensor> {
  const f = await features.forward(x);
  const pooled = await pool(f);
  f.dispose();
  const flat = pooled.flatten(1);
  pooled.dispose();
  const out = await classifier.forward(flat);
  flat.dispose();
  return out;
}

/**
 * The loop at the end of torchvision's ResNet/VGG/MobileNetV2 constructors, over modules() in
 * order: convolutions kaiming_normal_(fan_out) with zero bias, batch norms 1 and 0, and, with
 * `linear` (VGG, MobileNetV2), linear layers N(0, 0.01) with zero bias.
 */
export function torchvisionInit(model: Module, opts: { linear: boolean }): void {
  for (const m of model.modules()) {
    if (m instanceof Conv2d) {
      kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      if (m.bias) constant_(m.bias, 0);
    } else if (m instanceof BatchNorm2d) {
      if (m.weight) constant_(m.weight, 1);
      if (m.bias) constant_(m.bias, 0);
    } else if (opts.linear && m instanceof Linear) {
      normal_(m.weight, 0, 0.01);
      if (m.bias) constant_(m.bias, 0);
    }
  }
}
