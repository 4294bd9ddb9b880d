// The no-arguments data set: two visually distinct classes (discs and stripes), drawn as SVG and
// written as real JPEG files, the same every time.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp = require('sharp');
import { Rng } from '../random';

const VERSION = 'synthetic-v1';
const SIZE = 96;

function colour(rng: Rng, lo: number, hi: number): string {
  const c = () => Math.round(rng.uniform(lo, hi));
  return `rgb(${c()},${c()},${c()})`;
}

function disc(rng: Rng): string {
  const r = rng.uniform(14, 34);
  const cx = rng.uniform(r, SIZE - r);
  const cy = rng.uniform(r, SIZE - r);
  return `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r.toFixed(1)}" fill="${colour(rng, 120, 255)}"/>`;
}

function stripes(rng: Rng): string {
  const angle = rng.uniform(0, 180);
  const width = rng.uniform(5, 10);
  const fill = colour(rng, 120, 255);
  const bars = [];
  for (let x = -SIZE; x < 2 * SIZE; x += 2 * width) bars.push(`<rect x="${x.toFixed(1)}" y="${-SIZE}" width="${width.toFixed(1)}" height="${3 * SIZE}" fill="${fill}"/>`);
  return `<g transform="rotate(${angle.toFixed(1)} ${SIZE / 2} ${SIZE / 2})">${bars.join('')}</g>`;
}

/** Where the generated set lives: $TORCHBRIDGE_CACHE or ~/.cache/torchbridge. */
export function syntheticRoot(): string {
  const base = process.env.TORCHBRIDGE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'torchbridge');
  return path.join(base, VERSION);
}

/** Creates (once) train/{discs,stripes} and val/{discs,stripes}; returns the root. */
export async function ensureSyntheticDataset(): Promise<{ root: string; created: boolean }> {
  const root = syntheticRoot();
  if (fs.existsSync(path.join(root, '.complete'))) return { root, created: false };
  const tmp = `${root}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const counts = { train: 64, val: 32 };
  for (const [split, n] of Object.entries(counts)) {
    for (const [k, cls] of ['discs', 'stripes'].entries()) {
      const dir = path.join(tmp, split, cls);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const rng = new Rng(split === 'train' ? 1 : 2, k, i);
        const shape = cls === 'discs' ? disc(rng) : stripes(rng);
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}"><rect width="100%" height="100%" fill="${colour(rng, 0, 90)}"/>${shape}</svg>`;
        await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toFile(path.join(dir, `${String(i).padStart(3, '0')}.jpg`));
      }
    }
  }
  fs.writeFileSync(path.join(tmp, '.complete'), `${VERSION}\n`);
  fs.mkdirSync(path.dirname(root), { recursive: true });
  try {
    fs.renameSync(tmp, root);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another process finished first
  }
  return { root, created: true };
}
