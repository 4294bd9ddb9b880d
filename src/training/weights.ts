// Weights from files: a trained model for predict/validate (a run's best.pth or last.ckpt, or a
// PyTorch AlexNet state_dict), and a new run's starting weights (--weights).
import * as fs from 'fs';
import { TorchError } from '../errors';
import * as io from '../io';
import * as models from '../models';
import * as nn from '../nn';
import { Tensor } from '../tensor';
import { Checkpoint, CHECKPOINT_FORMAT, disposeTensors } from './checkpoint';
import { Arch, TrainConfig } from './config';
import { IMAGENET_CLASSES } from './imagenet-classes';
import { buildArch, buildModel, CLASSIFIER, metaOf, ModelMeta } from './recipe';

/** The architecture of a state_dict written before ModelMeta had `arch`, or by PyTorch: by its keys. */
function archOf(sd: Map<string, unknown>): Arch {
  if (sd.has('fc.weight')) return sd.has('layer1.0.conv3.weight') ? 'resnet50' : sd.has('layer1.2.conv1.weight') ? 'resnet34' : 'resnet18';
  if (sd.has('features.1.conv.0.0.weight')) return 'mobilenet_v2';
  if (sd.has('features.1.running_mean')) return 'vgg11_bn';
  if (sd.has('features.28.weight')) return 'vgg16';
  return 'alexnet';
}

/** Loads a model written by train (last.ckpt or best.pth) or by PyTorch (a torchvision AlexNet state_dict with either head). */
export async function loadTrainedModel(file: string): Promise<{ model: nn.Module; meta: ModelMeta; classesKnown: boolean }> {
  const loaded = await io.load<unknown>(file);
  let sd: Map<string, Tensor>;
  let meta: Partial<ModelMeta> | undefined;
  if (loaded instanceof Map) {
    sd = loaded as Map<string, Tensor>;
    meta = metaOf(sd);
  } else if (loaded && typeof loaded === 'object' && (loaded as Record<string, unknown>).format === CHECKPOINT_FORMAT) {
    const ck = loaded as { model: Map<string, Tensor>; meta: ModelMeta };
    sd = ck.model;
    meta = ck.meta;
  } else {
    throw new TorchError(`${file} is neither a state_dict nor a checkpoint written by train`, 'BAD_FILE');
  }
  const arch = meta?.arch ?? archOf(sd);
  if (arch !== 'alexnet') return loadTrainedArch(file, arch, sd, meta);
  const head = sd.has('1.weight') && sd.has('0.classifier.6.weight') ? 'append' : 'replace';
  const headKey = head === 'append' ? '1.weight' : 'classifier.6.weight';
  const headWeight = sd.get(headKey);
  if (!headWeight) {
    throw new TorchError(`${file} does not hold an AlexNet state_dict: no 'classifier.6.weight' (replaced head) or '0.classifier.6.weight' + '1.weight' (appended head)`, 'BAD_FILE');
  }
  const k = headWeight.shape[0];
  const classesKnown = Array.isArray(meta?.classes) && meta!.classes.length === k;
  // A 1000-way head without names of its own is torchvision's ImageNet classifier.
  const fallback = k === 1000 && head === 'replace' ? [...IMAGENET_CLASSES] : Array.from({ length: k }, (_, i) => String(i));
  const full: ModelMeta = {
    head,
    classes: classesKnown ? meta!.classes! : fallback,
    recipe: meta?.recipe ?? (head === 'append' ? 'seed' : 'finetune'),
    imageSize: meta?.imageSize ?? 224,
    normalize: meta?.normalize ?? head === 'replace',
  };
  const model = await nn.init.initDeferred(() => buildModel(head, k));
  await model.loadStateDict(sd);
  for (const t of sd.values()) t.dispose();
  return { model, meta: full, classesKnown };
}

/** loadTrainedModel for the architectures other than AlexNet (their classifier replaced, never appended). */
async function loadTrainedArch(file: string, arch: Exclude<Arch, 'alexnet'>, sd: Map<string, Tensor>, meta: Partial<ModelMeta> | undefined): Promise<{ model: nn.Module; meta: ModelMeta; classesKnown: boolean }> {
  const headWeight = sd.get(`${CLASSIFIER[arch]}.weight`);
  if (!headWeight) throw new TorchError(`${file} does not hold a ${arch} state_dict: no '${CLASSIFIER[arch]}.weight'`, 'BAD_FILE');
  const k = headWeight.shape[0];
  const classesKnown = Array.isArray(meta?.classes) && meta!.classes.length === k;
  const full: ModelMeta = {
    arch,
    head: 'replace',
    classes: classesKnown ? meta!.classes! : k === 1000 ? [...IMAGENET_CLASSES] : Array.from({ length: k }, (_, i) => String(i)),
    recipe: meta?.recipe ?? 'finetune',
    imageSize: meta?.imageSize ?? 224,
    normalize: meta?.normalize ?? true,
  };
  const model = await nn.init.initDeferred(() => buildArch(arch, k));
  try {
    await model.loadStateDict(sd);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    for (const t of sd.values()) t.dispose();
  }
  return { model, meta: full, classesKnown };
}

/**
 * A new run's starting weights for --arch other than AlexNet: torchvision's ImageNet weights
 * (DEFAULT) or a torchvision-layout state_dict, with a new classifier for the classes; or none.
 */
async function initialArchModel(c: TrainConfig, arch: Exclude<Arch, 'alexnet'>, classes: string[], weightsExplicit: boolean, log: (m: string) => void): Promise<nn.Module> {
  const factory = models[arch];
  let file = c.weights === 'DEFAULT' ? factory.defaultWeightsPath() : c.weights;
  if (c.weights === 'DEFAULT' && !fs.existsSync(file) && !weightsExplicit) {
    log(`no pretrained weights at ${file}: training from scratch (to fine-tune, put torchvision's ${factory.weights.file} there or pass --weights PATH)`);
    file = 'none';
  }
  if (file === 'none') return nn.init.initDeferred(() => buildArch(arch, classes.length));
  const n = classes.length;
  const model = await factory.pretrained({ weights: c.weights === 'DEFAULT' ? 'DEFAULT' : file, numClasses: n });
  log(`loaded weights from ${file} ${n === 1000 ? `with its ${CLASSIFIER[arch]}` : `and a new ${CLASSIFIER[arch]} for ${n} classes`}`);
  return model;
}

/** The starting weights of a new run: torchvision's ImageNet AlexNet (DEFAULT), a file, or none. */
export async function initialModel(c: TrainConfig, classes: string[], weightsExplicit: boolean, log: (m: string) => void): Promise<nn.Module> {
  if (c.arch !== 'alexnet') return initialArchModel(c, c.arch, classes, weightsExplicit, log);
  const base = await nn.init.initDeferred(() => models.alexnet());
  let file = c.weights;
  if (c.weights === 'DEFAULT') {
    file = models.alexnet.defaultWeightsPath();
    if (!fs.existsSync(file) && !weightsExplicit) {
      log(`no pretrained weights at ${file}: training from scratch (to fine-tune, put torchvision's ${models.ALEXNET_WEIGHTS.file} there or pass --weights PATH)`);
      file = 'none';
    } else if (!fs.existsSync(file)) {
      await io.downloadUrlToFile(models.ALEXNET_WEIGHTS.url, file, { hashPrefix: models.ALEXNET_WEIGHTS.sha256Prefix });
    }
  }
  if (file === 'none') return nn.init.initDeferred(() => buildModel(c.head, classes.length, base));
  let head: Map<string, Tensor> | null = null;
  try {
    head = await loadBackbone(base, file, c.head, classes, log);
  } catch (err) {
    base.dispose();
    throw err;
  }
  const model = await nn.init.initDeferred(() => buildModel(c.head, classes.length, base));
  if (head) {
    await model.loadStateDict(head, { strict: false });
    head.forEach((t) => t.dispose());
  }
  return model;
}

/**
 * Loads AlexNet weights from `file` (a torchvision state_dict, with either head, or a file written
 * by train) into `base`. Returns the trained head to keep when it was trained on these very
 * classes; a head for other classes is replaced, as a fine-tuning user means.
 */
async function loadBackbone(base: models.AlexNet, file: string, head: TrainConfig['head'], classes: string[], log: (m: string) => void): Promise<Map<string, Tensor> | null> {
  const loaded = await io.load<unknown>(file);
  let sd: Map<string, unknown>;
  let meta: Partial<ModelMeta> | undefined;
  if (loaded instanceof Map) {
    sd = loaded;
    meta = metaOf(loaded);
  } else if (loaded && typeof loaded === 'object' && (loaded as Checkpoint).format === CHECKPOINT_FORMAT) {
    const { model, meta: ckMeta, ...rest } = loaded as Checkpoint;
    disposeTensors(rest);
    sd = model;
    meta = ckMeta;
  } else {
    disposeTensors(loaded);
    throw new TorchError(`train: --weights ${file} holds neither a state_dict nor a checkpoint written by train`, 'BAD_FILE');
  }
  // The appended head's form: the AlexNet under '0.', then Linear(1000, k) as '1.'.
  const appended = sd.has('0.classifier.6.weight') && sd.has('1.weight');
  const backbone = new Map<string, unknown>();
  const appendedHead = new Map<string, unknown>();
  const unexpected: string[] = [];
  for (const [key, v] of sd) {
    if (!appended) backbone.set(key, v);
    else if (key.startsWith('0.')) backbone.set(key.slice(2), v);
    else if (key === '1.weight' || key === '1.bias') appendedHead.set(key, v);
    else unexpected.push(key);
  }
  const expected = new Map(base.namedParameters().map(([key, p]) => [key, p.shape]));
  unexpected.push(...[...backbone.keys()].filter((key) => !expected.has(key)));
  const missing = [...expected.keys()].filter((key) => !backbone.has(key));
  const shapeOf = (v: unknown): number[] | null => (v instanceof Tensor ? v.shape : null);
  const k = shapeOf(backbone.get('classifier.6.weight'))?.[0] ?? 0;
  // classifier.6 may have any number of outputs; everything else must have AlexNet's shapes.
  const wanted = (key: string, shape: number[]) => (key === 'classifier.6.weight' ? [k, 4096] : key === 'classifier.6.bias' ? [k] : shape);
  const reshaped = [...expected].filter(([key, shape]) => backbone.has(key) && shapeOf(backbone.get(key))?.join() !== wanted(key, shape).join());
  if (missing.length || unexpected.length || reshaped.length) {
    disposeTensors(sd);
    const some = (keys: string[]) => `${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''}`;
    const parts = [
      missing.length ? `${missing.length} of AlexNet's ${expected.size} keys are missing (${some(missing)})` : '',
      unexpected.length ? `${unexpected.length} keys are not AlexNet's (${some(unexpected)})` : '',
      reshaped.length ? `${reshaped.length} have other shapes (${reshaped.slice(0, 2).map(([key, shape]) => `${key}: [${shapeOf(backbone.get(key))}] in the file, [${wanted(key, shape)}] in AlexNet`).join('; ')})` : '',
    ].filter(Boolean);
    throw new TorchError(`train: --weights ${file} is not an AlexNet state_dict: ${parts.join('; ')}`, 'BAD_FILE');
  }
  const sameClasses = Array.isArray(meta?.classes) && meta!.classes.join('\n') === classes.join('\n');
  const n = classes.length;
  let kept: Map<string, Tensor> | null = null;
  let loadClassifier = false;
  let note: string;
  if (head === 'append') {
    if (k !== 1000) {
      disposeTensors(sd);
      throw new TorchError(`train: --head append stacks Linear(1000, ${n}) on AlexNet's 1000-way classifier, but --weights ${file} has a ${k}-way classifier.6: use --head replace`, 'INVALID_ARGUMENT');
    }
    loadClassifier = true;
    if (appended && sameClasses && shapeOf(appendedHead.get('1.weight'))?.join() === [n, 1000].join()) {
      kept = appendedHead as Map<string, Tensor>;
      note = `with its appended head trained on [${classes}]`;
    } else {
      note = `and a new appended head for ${n} classes`;
    }
  } else if (!appended && k === n && sameClasses) {
    kept = new Map(['classifier.6.weight', 'classifier.6.bias'].map((key) => [key, backbone.get(key) as Tensor]));
    note = `with its classifier.6 trained on [${classes}]`;
  } else {
    note = `and a new classifier.6 for ${n} classes (the file's has ${k} outputs${appended ? ', under an appended head' : ''})`;
  }
  const keep = new Set<unknown>(kept?.values());
  try {
    await base.loadStateDict(backbone as Map<string, Tensor>, { skip: loadClassifier ? [] : ['classifier.6.weight', 'classifier.6.bias'] });
  } catch (err) {
    keep.clear();
    throw err;
  } finally {
    for (const v of sd.values()) if (!keep.has(v)) disposeTensors(v);
  }
  log(`loaded weights from ${file} ${note}`);
  return kept;
}
