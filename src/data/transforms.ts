// torchvision.transforms for ImageFolder images, on sharp (libvips). Geometric transforms build a
// plan that runs in as few libvips passes as possible; ToTensor and Normalize are fused into the
// native copy into the batch tensor.
import { promises as fsp } from 'fs';
import sharp = require('sharp');
import { TorchError } from '../errors';
import { finite, int, intTuple, invalid } from '../arguments';
import { native } from '../native';

sharp.concurrency(1); // parallelism comes from decoding several images at once
sharp.cache(false);

// Where random transforms draw from: src/random.ts (re-exported here, where users find them).
export { RandomSource, Rng, TorchRng } from '../random';
import type { RandomSource } from '../random';

type PlanOp =
  | { kind: 'extract'; left: number; top: number; width: number; height: number }
  | { kind: 'resize'; width: number; height: number }
  | { kind: 'pad'; left: number; top: number; right: number; bottom: number };

/** An image as the transforms see it: its current size and the plan that produces it. */
export class ImagePlan {
  readonly ops: PlanOp[] = [];
  /** A horizontal flip, applied last (in the copy into the tensor): flips commute with the rest. */
  flipped = false;

  constructor(public width: number, public height: number) {}

  extract(left: number, top: number, width: number, height: number): void {
    const l = this.flipped ? this.width - left - width : left;
    this.ops.push({ kind: 'extract', left: l, top, width, height });
    this.width = width;
    this.height = height;
  }

  resize(width: number, height: number): void {
    if (width === this.width && height === this.height) return; // torchvision returns the image untouched
    this.ops.push({ kind: 'resize', width, height });
    this.width = width;
    this.height = height;
  }

  pad(left: number, top: number, right: number, bottom: number): void {
    const [l, r] = this.flipped ? [right, left] : [left, right];
    this.ops.push({ kind: 'pad', left: l, top, right: r, bottom });
    this.width += left + right;
    this.height += top + bottom;
  }
}

export interface Transform {
  readonly name: string;
  /** Whether it draws random numbers (random transforms are never cached). */
  readonly random: boolean;
  apply(img: ImagePlan, rng: RandomSource): void;
}

export interface TensorStep {
  readonly name: 'toTensor' | 'normalize';
  readonly mean?: number[];
  readonly std?: number[];
}

export type Step = Transform | TensorStep;

function isTransform(s: Step): s is Transform {
  return typeof (s as Transform).apply === 'function';
}

function sizePair(where: string, size: unknown): [number, number] {
  return intTuple(where, 'size', size, 2, 1) as [number, number];
}

/** Resize(size): an int resizes the shorter side to `size` (the longer to int(size*long/short)); [h, w] is exact. Antialiased bilinear, like PIL. */
export function resize(size: number | [number, number]): Transform {
  const where = 'transforms.resize';
  const exact = Array.isArray(size) ? sizePair(where, size) : null;
  if (!exact) int(where, 'size', size, 1);
  return {
    name: `resize(${JSON.stringify(size)})`,
    random: false,
    apply(img) {
      if (exact) { img.resize(exact[1], exact[0]); return; }
      const s = size as number;
      const { width: w, height: h } = img;
      const [short, long] = w <= h ? [w, h] : [h, w];
      const newLong = Math.trunc((s * long) / short);
      if (w <= h) img.resize(s, newLong); else img.resize(newLong, s);
    },
  };
}

// Python's round(): halves go to the even neighbour.
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** CenterCrop(size): pads with zeros first when the image is smaller, as torchvision does. */
export function centerCrop(size: number | [number, number]): Transform {
  const [ch, cw] = sizePair('transforms.centerCrop', size);
  return {
    name: `centerCrop(${JSON.stringify(size)})`,
    random: false,
    apply(img) {
      if (cw > img.width || ch > img.height) {
        const padW = Math.max(cw - img.width, 0);
        const padH = Math.max(ch - img.height, 0);
        img.pad(padW >> 1, padH >> 1, (padW + 1) >> 1, (padH + 1) >> 1);
      }
      const top = pyRound((img.height - ch) / 2);
      const left = pyRound((img.width - cw) / 2);
      if (cw !== img.width || ch !== img.height) img.extract(left, top, cw, ch);
    },
  };
}

export interface RandomResizedCropOptions {
  scale?: [number, number];
  ratio?: [number, number];
}

/** RandomResizedCrop(size, scale, ratio): torchvision's get_params (10 tries, then a central crop). */
export function randomResizedCrop(size: number | [number, number], opts: RandomResizedCropOptions = {}): Transform {
  const where = 'transforms.randomResizedCrop';
  const [oh, ow] = sizePair(where, size);
  const scale = opts.scale ?? [0.08, 1.0];
  const ratio = opts.ratio ?? [3 / 4, 4 / 3];
  for (const [name, v] of [['scale', scale], ['ratio', ratio]] as const) {
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && x > 0 && Number.isFinite(x)) || v[0] > v[1]) {
      throw invalid(where, name, '[min, max] of positive numbers with min <= max', v);
    }
  }
  // torchvision takes torch.log of a float32 tensor of the ratios.
  const logRatio = ratio.map((r) => Math.fround(Math.log(Math.fround(r))));
  return {
    name: `randomResizedCrop(${JSON.stringify(size)})`,
    random: true,
    apply(img, rng) {
      const { width, height } = img;
      const area = width * height;
      let crop: [number, number, number, number] | null = null;
      for (let attempt = 0; attempt < 10 && !crop; attempt++) {
        const targetArea = area * rng.uniform(scale[0], scale[1]);
        const aspect = rng.expUniform(logRatio[0], logRatio[1]);
        const w = pyRound(Math.sqrt(targetArea * aspect));
        const h = pyRound(Math.sqrt(targetArea / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
          const top = rng.randint(0, height - h + 1); // torchvision draws the row first
          crop = [rng.randint(0, width - w + 1), top, w, h];
        }
      }
      if (!crop) {
        const inRatio = width / height;
        let w = width;
        let h = height;
        if (inRatio < Math.min(...ratio)) h = pyRound(w / Math.min(...ratio));
        else if (inRatio > Math.max(...ratio)) w = pyRound(h * Math.max(...ratio));
        crop = [(width - w) >> 1, (height - h) >> 1, w, h];
      }
      img.extract(...crop);
      img.resize(ow, oh);
    },
  };
}

export function randomHorizontalFlip(p = 0.5): Transform {
  finite('transforms.randomHorizontalFlip', 'p', p, 0, 1);
  return {
    name: `randomHorizontalFlip(${p})`,
    random: true,
    apply(img, rng) {
      if (rng.next() < p) img.flipped = !img.flipped;
    },
  };
}

/** ToTensor(): uint8 HWC in [0, 255] to float32 CHW in [0, 1]. */
export function toTensor(): TensorStep {
  return { name: 'toTensor' };
}

/** Normalize(mean, std) per channel, after toTensor. */
export function normalize(mean: number[], std: number[]): TensorStep {
  const where = 'transforms.normalize';
  if (!Array.isArray(mean) || mean.length !== 3 || !mean.every((m) => typeof m === 'number' && Number.isFinite(m))) throw invalid(where, 'mean', 'array of 3 numbers', mean);
  if (!Array.isArray(std) || std.length !== 3 || !std.every((s) => typeof s === 'number' && s > 0 && Number.isFinite(s))) throw invalid(where, 'std', 'array of 3 positive numbers', std);
  return { name: 'normalize', mean: [...mean], std: [...std] };
}

/** A composed pipeline: geometric transforms, then toTensor, then an optional normalize. */
export class Compose {
  readonly transforms: Transform[];
  readonly normalization: { mean: number[]; std: number[] } | null;
  /** The deterministic transforms before the first random one: their output can be cached. */
  readonly cacheable: number;

  constructor(steps: Step[]) {
    const where = 'transforms.compose';
    if (!Array.isArray(steps)) throw invalid(where, 'transforms', 'array of transforms', steps);
    const geometric: Transform[] = [];
    let tensorAt = -1;
    let norm: { mean: number[]; std: number[] } | null = null;
    steps.forEach((s, i) => {
      if (!s || typeof s !== 'object' || typeof s.name !== 'string') throw invalid(where, `transforms[${i}]`, 'a transform from data.transforms', s);
      if (isTransform(s)) {
        if (tensorAt >= 0) throw new TorchError(`${where}: ${s.name} comes after toTensor(); image transforms must come first`, 'INVALID_ARGUMENT');
        geometric.push(s);
      } else if (s.name === 'toTensor') {
        if (tensorAt >= 0) throw new TorchError(`${where}: toTensor() appears twice`, 'INVALID_ARGUMENT');
        tensorAt = i;
      } else {
        if (tensorAt < 0) throw new TorchError(`${where}: normalize() needs a tensor: put it after toTensor()`, 'INVALID_ARGUMENT');
        if (norm) throw new TorchError(`${where}: normalize() appears twice`, 'INVALID_ARGUMENT');
        norm = { mean: s.mean!, std: s.std! };
      }
    });
    this.transforms = geometric;
    this.normalization = norm;
    const firstRandom = geometric.findIndex((t) => t.random);
    this.cacheable = firstRandom < 0 ? geometric.length : firstRandom;
  }

  get random(): boolean {
    return this.cacheable < this.transforms.length;
  }
}

export function compose(steps: Step[]): Compose {
  return new Compose(steps);
}

// ---- running a plan with sharp ------------------------------------------------------------------

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Apply EXIF orientation (torchvision does not). */
  exifRotate?: boolean;
}

// A crop, a resize, a crop of its result (only after a resize) and a pad, each optional.
type Segment = { pre?: PlanOp & { kind: 'extract' }; resize?: PlanOp & { kind: 'resize' }; post?: PlanOp & { kind: 'extract' }; pad?: PlanOp & { kind: 'pad' } };

function segments(ops: PlanOp[]): Segment[] {
  const out: Segment[] = [];
  let cur: Segment = {};
  const flush = () => { if (Object.keys(cur).length) out.push(cur); cur = {}; };
  for (const op of ops) {
    if (op.kind === 'extract') {
      if (!cur.resize && !cur.post && !cur.pad) {
        // Consecutive crops compose into one.
        cur.pre = cur.pre ? { ...op, left: cur.pre.left + op.left, top: cur.pre.top + op.top } : op;
      } else if (cur.resize && !cur.post && !cur.pad) cur.post = op;
      else { flush(); cur.pre = op; }
    } else if (op.kind === 'resize') {
      if (cur.resize || cur.post || cur.pad) flush();
      cur.resize = op;
    } else {
      if (cur.pad) flush();
      cur.pad = op;
    }
  }
  flush();
  return out;
}

function toRgb(pipeline: sharp.Sharp): sharp.Sharp {
  // PIL's convert('RGB'): alpha dropped (not composited), grey replicated, palette expanded, and
  // embedded ICC profiles ignored (converting with them was also 3.6x slower here).
  return pipeline.removeAlpha().toColourspace('srgb').keepIccProfile();
}

async function run(pipeline: sharp.Sharp): Promise<RawImage> {
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
  return { data, width: info.width, height: info.height };
}

/**
 * How a file becomes PIL's convert('RGB') (ImageFolder's loader). 'vips': libvips' own conversion
 * in the same pass as the first transforms; 'alpha': the same, but the whole image first (alpha
 * must go before resampling, as PIL converts first). The others are where libvips differs from PIL:
 * - 'cmyk': PIL applies its plain formula and ignores ICC profiles; libvips colour-manages;
 * - 'clip16': 16-bit grey opens in PIL as mode I, whose RGB clips at 255; libvips rescales;
 * - 'gif': PIL shows the transparent index's palette colour; libvips blanks those pixels.
 */
export type Conversion =
  | { kind: 'vips' | 'alpha' | 'cmyk' | 'clip16' }
  | { kind: 'gif'; background: { r: number; g: number; b: number } };

export interface SourceInfo {
  width: number;
  height: number;
  conversion: Conversion;
}

// The first `bytes` bytes of a file.
async function head(file: string, bytes: number): Promise<Buffer> {
  const fd = await fsp.open(file, 'r');
  try {
    const { buffer, bytesRead } = await fd.read(Buffer.alloc(bytes), 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fd.close();
  }
}

/** The palette colour of the first frame's transparent index, or null when there is none. */
function gifTransparentColour(gif: Buffer): { r: number; g: number; b: number } | null {
  if (gif.length < 13 || gif.toString('latin1', 0, 3) !== 'GIF') return null;
  const tableAt = (flags: number, at: number) => ((flags & 0x80) ? { at, entries: 2 << (flags & 7) } : null);
  let table = tableAt(gif[10], 13);
  let pos = 13 + (table ? 3 * table.entries : 0);
  let transparent = -1;
  while (pos < gif.length) {
    if (gif[pos] === 0x21) { // an extension: a graphic control one holds the transparent index
      if (gif[pos + 1] === 0xf9 && gif[pos + 2] >= 4) transparent = (gif[pos + 3] & 1) ? gif[pos + 6] : -1;
      pos += 2;
      while (pos < gif.length && gif[pos] !== 0) pos += gif[pos] + 1; // its data sub-blocks
      pos++;
    } else if (gif[pos] === 0x2c) { // the first image: its own colour table replaces the global one
      table = tableAt(gif[pos + 9], pos + 10) ?? table;
      break;
    } else {
      return null;
    }
  }
  if (transparent < 0 || !table || transparent >= table.entries) return null;
  const o = table.at + 3 * transparent;
  return { r: gif[o], g: gif[o + 1], b: gif[o + 2] };
}

async function conversionOf(file: string, meta: sharp.Metadata): Promise<Conversion> {
  if (meta.space === 'cmyk') return { kind: 'cmyk' };
  if (meta.depth === 'ushort' && meta.space === 'grey16') {
    // PNG colour type 0 is grey (a tRNS chunk adds libvips' alpha; PIL still opens it as mode I);
    // type 4 is grey + alpha, which PIL opens as 8-bit LA (the high bytes), as libvips converts it.
    const greyOnly = meta.format === 'png' ? (await head(file, 26))[25] === 0 : meta.channels === 1;
    if (greyOnly) return { kind: 'clip16' };
  }
  if (meta.format === 'gif' && meta.hasAlpha) {
    const background = gifTransparentColour(await fsp.readFile(file));
    if (background) return { kind: 'gif', background };
  }
  return { kind: meta.hasAlpha ? 'alpha' : 'vips' };
}

// sharp reports every file it cannot open as "Input file is missing"; the OS says why.
const OPEN_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ELOOP: 'too many levels of symbolic links',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
};

async function whyUnreadable(file: string): Promise<Error | null> {
  try {
    await (await fsp.open(file, 'r')).close();
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return new Error(code && OPEN_ERRORS[code] ? `${OPEN_ERRORS[code]} (${code})` : (err as Error).message);
  }
}

/** Reads an image's size (after EXIF rotation when asked) and how to convert it to RGB. */
export async function probe(file: string, opts: DecodeOptions = {}): Promise<SourceInfo> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(file, { failOn: 'truncated' }).metadata();
  } catch (err) {
    throw (await whyUnreadable(file)) ?? err;
  }
  if (!meta.width || !meta.height) throw new Error('the image has no size');
  const rotated = opts.exifRotate && (meta.orientation ?? 1) >= 5;
  return { width: rotated ? meta.height : meta.width, height: rotated ? meta.width : meta.height, conversion: await conversionOf(file, meta) };
}

/** The whole image as PIL's convert('RGB') gives it (after EXIF rotation when asked). */
async function decodeRgb(file: string, conversion: Conversion, exifRotate: boolean): Promise<RawImage> {
  const opened = sharp(file, { failOn: 'truncated' });
  const image = exifRotate ? opened.rotate() : opened;
  switch (conversion.kind) {
    case 'cmyk': {
      // Kept in CMYK: sharp would otherwise colour-manage it into sRGB.
      const { data, info } = await image.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 4) throw new Error(`decoded CMYK to ${info.channels} channels instead of 4`);
      return { data: await native.cmykToRgb(data), width: info.width, height: info.height };
    }
    case 'clip16': {
      // Kept 16-bit grey, then cast to 8 bits, which clips at 255 as PIL does.
      const { data, info } = await image.removeAlpha().toColourspace('grey16').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      return run(sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } }).toColourspace('srgb'));
    }
    case 'gif':
      // GIF alpha is 0 or 255, so flattening onto the colour sets exactly the transparent pixels.
      return run(image.flatten({ background: conversion.background }).toColourspace('srgb'));
    default:
      return run(toRgb(image));
  }
}

/** Decodes `source` (a file, probed for its `conversion`) to RGB and runs `plan` on it. */
export async function render(source: string | RawImage, plan: ImagePlan, opts: DecodeOptions & { conversion?: Conversion } = {}): Promise<RawImage> {
  let input: string | RawImage = source;
  const open = (src: string | RawImage) => (typeof src === 'string'
    ? sharp(src, { failOn: 'truncated' })
    : sharp(src.data, { raw: { width: src.width, height: src.height, channels: 3 } }));
  const segs = segments(plan.ops);
  const conversion = opts.conversion ?? { kind: 'vips' };
  if (typeof input === 'string' && (conversion.kind !== 'vips' || opts.exifRotate || segs.length === 0)) {
    input = await decodeRgb(input, conversion, Boolean(opts.exifRotate));
  }
  if (segs.length === 0 && typeof input !== 'string') return input;
  for (const seg of segs) {
    let p = open(input);
    if (seg.pre) p = p.extract({ left: seg.pre.left, top: seg.pre.top, width: seg.pre.width, height: seg.pre.height });
    if (seg.resize) {
      // Decode and crop with sharp, then resample natively with PIL's arithmetic, computing only
      // the pixels of the crop after it (Resize then CenterCrop): the image comes back once.
      const decoded = await run(toRgb(p));
      const { width: outWidth, height: outHeight } = seg.resize;
      const crop = seg.post && { left: seg.post.left, top: seg.post.top, width: seg.post.width, height: seg.post.height };
      const data = await native.resample(decoded.data, { width: decoded.width, height: decoded.height, outWidth, outHeight, crop });
      input = { data, width: crop ? crop.width : outWidth, height: crop ? crop.height : outHeight };
      if (!seg.pad) continue;
      p = open(input);
    }
    if (seg.pad) p = p.extend({ ...seg.pad, background: { r: 0, g: 0, b: 0 } });
    input = await run(toRgb(p));
  }
  return input as RawImage;
}
