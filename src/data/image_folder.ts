// torchvision.datasets.ImageFolder: classes from sub-folders, samples in torchvision's order.
import { promises as fsp } from 'fs';
import * as path from 'path';
import { TorchError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, int, invalid, options } from '../arguments';
import { Compose, compose, ImagePlan, probe, RandomSource, RawImage, render, Rng, toTensor } from './transforms';

export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

export interface ImageFolderOptions {
  transform?: Compose;
  /** Lower-case extensions to accept (default torchvision's IMG_EXTENSIONS). */
  extensions?: string[];
  /** Apply EXIF orientation (torchvision does not; off by default). */
  exifRotate?: boolean;
}

export interface Sample {
  input: Tensor;
  target: number;
  path: string;
}

/** A decoded, transformed image before the copy into a tensor. */
export interface PreparedImage extends RawImage {
  flipped: boolean;
}

// Python's sorted() on str compares code points.
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}

async function isDir(p: string): Promise<boolean> {
  try { return (await fsp.stat(p)).isDirectory(); } catch { return false; }
}

/** os.walk(dir, followlinks=True), sorted like torchvision: (folder, files) with folders in path order. */
async function walk(root: string): Promise<[string, string[]][]> {
  const out: [string, string[]][] = [];
  const seen = new Set<string>();
  const visit = async (dir: string): Promise<void> => {
    const real = await fsp.realpath(dir);
    if (seen.has(real)) return; // a symlink cycle
    seen.add(real);
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    const files: string[] = [];
    const dirs: string[] = [];
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && await isDir(full))) dirs.push(full);
      else files.push(e.name);
    }
    out.push([dir, files]);
    for (const d of dirs) await visit(d);
  };
  await visit(root);
  return out.sort((a, b) => byCodePoint(a[0], b[0]));
}

/** Runs `draw` when the images before this one have drawn their random numbers (a shared generator). */
export type DrawInTurn = <T>(draw: () => T) => Promise<T>;

export interface PrepareOptions {
  exifRotate?: boolean;
  /** Start at this transform, on `source` (the cached output of the ones before). */
  from?: number;
  source?: RawImage;
  drawInTurn?: DrawInTurn;
}

/** Decodes one image file and runs a composed pipeline's image transforms on it. */
export async function prepareImage(file: string, transform: Compose, rng: RandomSource, opts: PrepareOptions = {}): Promise<PreparedImage> {
  const from = opts.from ?? 0;
  const probed = opts.source ? null : await probe(file, { exifRotate: opts.exifRotate });
  const info = opts.source ?? probed!;
  const makePlan = () => {
    const p = new ImagePlan(info.width, info.height);
    for (const tr of transform.transforms.slice(from)) tr.apply(p, rng);
    return p;
  };
  const plan = opts.drawInTurn ? await opts.drawInTurn(makePlan) : makePlan();
  const raw = probed
    ? await render(file, plan, { conversion: probed.conversion, exifRotate: opts.exifRotate })
    : await render(opts.source!, plan);
  return { ...raw, flipped: plan.flipped };
}

/**
 * Copies prepared images into one float32 tensor ([B,3,H,W], or [3,H,W] unbatched), applying
 * ToTensor and Normalize; `pinned` allocates page-locked memory for fast, asynchronous copies to a GPU.
 */
export function imagesToTensor(images: PreparedImage[], transform: Compose, batched: boolean, pinned = false): Promise<Tensor> {
  const { width, height } = images[0];
  const n = transform.normalization;
  const flips = images.map((im) => im.flipped);
  return native.imagesToBatch(images.map((im) => im.data), { height, width, flips, mean: n?.mean ?? null, std: n?.std ?? null, batched, pinned })
    .then((h) => Tensor._wrap(h));
}

export class ImageFolder {
  readonly root: string;
  readonly classes: string[];
  readonly classToIdx: Record<string, number>;
  readonly samples: [string, number][];
  readonly transform: Compose;
  readonly exifRotate: boolean;

  private constructor(root: string, classes: string[], samples: [string, number][], transform: Compose, exifRotate: boolean) {
    this.root = root;
    this.classes = classes;
    this.classToIdx = Object.fromEntries(classes.map((c, i) => [c, i]));
    this.samples = samples;
    this.transform = transform;
    this.exifRotate = exifRotate;
  }

  /** Scans `root`/<class>/**: classes are the sorted sub-folders; files are kept by extension. */
  static async create(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolder> {
    const where = 'data.ImageFolder';
    if (typeof root !== 'string' || root === '') throw invalid(where, 'root', 'path to a folder', root);
    const o = options(where, opts);
    if (o.transform !== undefined && !(o.transform instanceof Compose)) throw invalid(where, 'transform', 'transforms.compose([...])', o.transform);
    const extensions = (o.extensions ?? IMG_EXTENSIONS).map((e) => e.toLowerCase());
    const exifRotate = o.exifRotate === undefined ? false : bool(where, 'exifRotate', o.exifRotate);
    let entries;
    try {
      entries = await fsp.readdir(root, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TorchError(`${where}: cannot read the root folder ${root}: ${code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'not a directory' : (err as Error).message}`, 'IO_ERROR');
    }
    const classes: string[] = [];
    for (const e of entries) {
      if (e.isDirectory() || (e.isSymbolicLink() && await isDir(path.join(root, e.name)))) classes.push(e.name);
    }
    classes.sort(byCodePoint);
    if (classes.length === 0) throw new TorchError(`${where}: couldn't find any class folder in ${root}`, 'BAD_FILE');
    const samples: [string, number][] = [];
    const empty: string[] = [];
    for (const [idx, cls] of classes.entries()) {
      let found = 0;
      for (const [dir, files] of await walk(path.join(root, cls))) {
        for (const name of [...files].sort(byCodePoint)) {
          if (extensions.some((ext) => name.toLowerCase().endsWith(ext))) {
            samples.push([path.join(dir, name), idx]);
            found++;
          }
        }
      }
      if (!found) empty.push(cls);
    }
    if (empty.length) {
      throw new TorchError(`${where}: found no valid file for the classes ${empty.join(', ')} in ${root}. Supported extensions are: ${extensions.join(', ')}`, 'BAD_FILE');
    }
    return new ImageFolder(root, classes, samples, o.transform ?? compose([toTensor()]), exifRotate);
  }

  get length(): number {
    return this.samples.length;
  }

  private sample(i: number): [string, number] {
    int('data.ImageFolder.get', 'index', i);
    if (i < 0 || i >= this.samples.length) {
      throw new TorchError(`data.ImageFolder.get: index ${i} is out of range for ${this.samples.length} samples`, 'INDEX_ERROR');
    }
    return this.samples[i];
  }

  /** @internal Decodes and transforms sample i to raw RGB (cached prefix optional). */
  async prepare(i: number, rng: RandomSource, cache?: Map<number, RawImage>, drawInTurn?: DrawInTurn): Promise<PreparedImage> {
    const [file] = this.sample(i);
    try {
      if (!cache) return await prepareImage(file, this.transform, rng, { exifRotate: this.exifRotate, drawInTurn });
      let source = cache.get(i);
      if (!source) {
        // The deterministic prefix of the pipeline, rendered once and kept.
        const prefix = compose(this.transform.transforms.slice(0, this.transform.cacheable));
        const prefixed = await prepareImage(file, prefix, rng, { exifRotate: this.exifRotate });
        source = { data: prefixed.data, width: prefixed.width, height: prefixed.height };
        cache.set(i, source);
      }
      return await prepareImage(file, this.transform, rng, { from: this.transform.cacheable, source, drawInTurn });
    } catch (err) {
      if (err instanceof TorchError) throw err;
      throw new TorchError(`data.ImageFolder: cannot read image ${file} (sample ${i}): ${(err as Error).message}`, 'BAD_FILE');
    }
  }

  /** @internal Copies prepared images into one tensor ([B,3,H,W], or [3,H,W] for one sample). */
  toTensor(images: PreparedImage[], batched: boolean, pinned = false): Promise<Tensor> {
    return imagesToTensor(images, this.transform, batched, pinned);
  }

  /** Sample i: { input: Tensor [3, H, W] float32, target, path }. Random transforms draw from `seed`. */
  async get(i: number, opts: { seed?: number } = {}): Promise<Sample> {
    const [file, target] = this.sample(i);
    const image = await this.prepare(i, new Rng(opts.seed ?? Math.floor(Math.random() * 2 ** 32), 0, i));
    return { input: await this.toTensor([image], false), target, path: file };
  }
}
