// Local multi-process runs without torchrun: launch() starts N workers of a script on loopback
// with torchrun's variables, and a worker stops with its launcher. Nothing here loads libtorch,
// so a launcher stays light (only its workers load it).
import * as net from 'net';
import * as os from 'os';
import { spawn } from 'child_process';

export interface LaunchOptions {
  /** The script each worker runs (with `process.execPath`). */
  script: string;
  args: string[];
  /** Workers: ranks 0 to nproc - 1. */
  nproc: number;
  /** Names the launcher in its messages (`train: rank 1 exited ...`). */
  program: string;
}

/**
 * Runs `nproc` workers of `script` on this machine, each with RANK, LOCAL_RANK, WORLD_SIZE,
 * LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, as torchrun does, and resolves with the exit
 * code for the launcher: 0, 1 when a worker failed (the others are stopped 10 s later unless they
 * stop first), or 130/143 when they were interrupted. SIGINT and SIGTERM are passed on to them.
 */
export async function launch(opts: LaunchOptions): Promise<number> {
  const { script, args, nproc, program } = opts;
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const children = Array.from({ length: nproc }, (_, rank) => spawn(process.execPath, [script, ...args], {
    // The IPC channel is how a worker notices this launcher's death, however it dies (SIGKILL too).
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true, // a terminal's Ctrl-C reaches the launcher only, which passes it on once
    env: { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(nproc), LOCAL_WORLD_SIZE: String(nproc), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
  }));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => children.forEach((c) => c.kill(sig)));
  const codes = await Promise.all(children.map((child, rank) => new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      const status = code ?? 128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0);
      if (status !== 0 && status !== 130 && status !== 143) {
        process.stderr.write(`${program}: rank ${rank} exited with ${code !== null ? `code ${code}` : signal}; stopping the other workers\n`);
        setTimeout(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')), 10000).unref();
      }
      resolve(status);
    });
  })));
  const failed = codes.find((c) => c !== 0 && c !== 130 && c !== 143);
  return failed !== undefined ? 1 : codes.find((c) => c !== 0) ?? 0;
}

/** How long a worker whose launcher died may take to finish its step and checkpoint. */
const ORPHAN_GRACE_MS = 5000;

/**
 * In a worker of launch(): its end of the launcher's IPC channel closes when the launcher exits,
 * even by SIGKILL (on Linux and macOS alike), and then the worker stops too, as torchrun's workers
 * stop with their agent: `controller` is aborted (the training loop then ends its step with a
 * resumable checkpoint, as on SIGTERM), and the process exits after ORPHAN_GRACE_MS regardless (a
 * step, or a collective waiting for a peer, may take longer). Does nothing outside such a worker.
 */
export function stopWithLauncher(controller: AbortController, log: (message: string) => void): void {
  const channel = process.channel;
  if (process.env.RANK === undefined || !channel) return;
  channel.unref(); // the channel alone must not keep a finished worker alive
  process.once('disconnect', () => {
    log(`the launcher is gone: stopping (a resumable checkpoint if the current step ends within ${ORPHAN_GRACE_MS / 1000} s)`);
    controller.abort();
    setTimeout(() => process.exit(143), ORPHAN_GRACE_MS).unref();
  });
}
