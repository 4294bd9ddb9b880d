// Pretrained weights in PyTorch's cache ($TORCH_HOME/hub/checkpoints), downloaded when missing.
import { createHash } from 'crypto';
import { createWriteStream, promises as fsp } from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { TorchError } from '../errors';
import { invalid } from '../arguments';
import { commit, removeStaleTemps, tempBeside } from './files';

/** $TORCH_HOME, or $XDG_CACHE_HOME/torch, or ~/.cache/torch, as in PyTorch. */
export function torchHome(): string {
  if (process.env.TORCH_HOME) return process.env.TORCH_HOME;
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'torch');
}

export function checkpointsDir(): string {
  return path.join(torchHome(), 'hub', 'checkpoints');
}

export interface DownloadOptions {
  /** The SHA-256 of the file must start with this (torchvision names files by it). */
  hashPrefix?: string;
  /** Progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  timeoutMs?: number;
}

function get(url: string, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : url.startsWith('http:') ? http : null;
    if (!lib) { reject(new Error(`unsupported URL scheme in ${url}`)); return; }
    const req = lib.get(url, { timeout: timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        resolve(get(new URL(res.headers.location, url).toString(), timeoutMs, redirects - 1));
      } else if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status}`));
      } else {
        resolve(res);
      }
    });
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function bar(done: number, total: number, started: number): string {
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  const rate = done / 2 ** 20 / Math.max((Date.now() - started) / 1000, 1e-3);
  if (!total) return `\r${mb(done)} MB ${rate.toFixed(1)} MB/s`;
  const frac = done / total;
  const width = 30;
  return `\r${(frac * 100).toFixed(0).padStart(3)}%|${'#'.repeat(Math.round(frac * width)).padEnd(width)}| ${mb(done)}/${mb(total)} MB ${rate.toFixed(1)} MB/s`;
}

/**
 * Downloads `url` to `dst` like torch.hub.download_url_to_file: into a temp file beside `dst`,
 * checking the SHA-256 prefix, then renamed into place, so `dst` is never left half-written.
 */
export async function downloadUrlToFile(url: string, dst: string, opts: DownloadOptions = {}): Promise<void> {
  const where = 'io.downloadUrlToFile';
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw invalid(where, 'url', 'http(s) URL', url);
  if (typeof dst !== 'string' || dst === '') throw invalid(where, 'dst', 'non-empty path', dst);
  if (opts.hashPrefix !== undefined && !/^[0-9a-f]+$/.test(opts.hashPrefix)) throw invalid(where, 'hashPrefix', 'lowercase hex string', opts.hashPrefix);
  const progress = opts.progress ?? Boolean(process.stderr.isTTY);
  const fail = (why: string) => new TorchError(
    `${where}: could not download ${url}: ${why}. Without network access, copy the file from a machine that has it to ${dst}`,
    'IO_ERROR',
  );
  await fsp.mkdir(path.dirname(dst), { recursive: true }).catch((e) => { throw fail((e as Error).message); });
  await removeStaleTemps(dst);
  const tmp = tempBeside(dst);
  try {
    const res = await get(url, opts.timeoutMs ?? 30000);
    const total = Number(res.headers['content-length'] ?? 0);
    const hash = createHash('sha256');
    const out = createWriteStream(tmp, { flags: 'wx' });
    let done = 0;
    const started = Date.now();
    let last = 0;
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        done += chunk.length;
        if (progress && Date.now() - last > 100) { last = Date.now(); process.stderr.write(bar(done, total, started)); }
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('connection closed early')));
      out.on('error', reject);
      out.on('finish', resolve);
      res.pipe(out);
    });
    if (progress) process.stderr.write(`${bar(done, total, started)}\n`);
    if (total && done !== total) throw new Error(`received ${done} of ${total} bytes`);
    const digest = hash.digest('hex');
    if (opts.hashPrefix && !digest.startsWith(opts.hashPrefix)) {
      throw new Error(`SHA-256 ${digest} does not start with the expected ${opts.hashPrefix} (corrupt or wrong file)`);
    }
    const fh = await fsp.open(tmp, 'r+');
    try { await fh.sync(); } finally { await fh.close(); }
    await commit(tmp, dst);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw err instanceof TorchError ? err : fail((err as Error).message);
  }
}
