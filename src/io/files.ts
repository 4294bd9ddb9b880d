// File helpers shared by every writer: atomic replacement and readable I/O errors.
import { randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { TorchError } from '../errors';

export function ioError(where: string, file: string, err: unknown): TorchError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'ENOENT' ? 'no such file or directory'
    : e.code === 'EACCES' ? 'permission denied'
      : e.code === 'EISDIR' ? 'is a directory'
        : e.code === 'ENOSPC' ? 'no space left on the device' : e.message;
  return new TorchError(`${where}: cannot access ${file}: ${why}`, 'IO_ERROR');
}

export async function readWhole(where: string, file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw ioError(where, file, err);
  }
}

/** A temporary name beside `file` (same directory, so rename is atomic), naming the writing process. */
export function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes the temp files that writers of `file` killed mid-write (SIGKILL, power loss) left
 * beside it: those whose process is gone. A live writer's temp file, ours included, is kept.
 */
export async function removeStaleTemps(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return; // the write itself reports an unreadable directory
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    await fsp.unlink(path.join(dir, name)).catch(() => undefined); // another writer may have removed it first
  }
}

/** Makes `tmp` durable and moves it over `file` (fsync, rename, fsync of the directory). */
export async function commit(tmp: string, file: string): Promise<void> {
  await fsp.rename(tmp, file);
  try {
    const dir = await fsp.open(path.dirname(file), 'r');
    try { await dir.sync(); } finally { await dir.close(); }
  } catch { /* some filesystems cannot fsync a directory; the rename is still atomic */ }
}

/**
 * Writes `chunks` to `file` atomically: a temp file in the same directory, fsync, rename. A crash
 * or kill at any point leaves either the old file or the new one, never a mix; the temp file a
 * kill leaves behind is removed by the next write to `file`.
 */
export async function writeAtomic(where: string, file: string, chunks: Uint8Array[]): Promise<void> {
  await removeStaleTemps(file);
  const tmp = tempBeside(file);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx', 0o644);
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.byteLength;) {
        const { bytesWritten } = await handle.write(chunk, done, Math.min(chunk.byteLength - done, 1 << 30));
        done += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await commit(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw ioError(where, file, err);
  }
}
