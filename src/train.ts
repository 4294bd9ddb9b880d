#!/usr/bin/env node
// node dist/train.js: fine-tune (or train) AlexNet on an ImageFolder pair; see --help.
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import yargs from 'yargs';
import * as dist from './distributed';
import { fail, print } from './cli';
import { ensureSyntheticDataset } from './training/synthetic';
import { train } from './training/trainer';
import { TrainConfig } from './training/config';

async function main(): Promise<void> {
  const argv = await yargs(process.argv.slice(2))
    .scriptName('train')
    .usage('$0 [options]\n\nTrains AlexNet on DIR/train and validates on DIR/val. With no options: ./hymenoptera_data if present, otherwise a generated two-class data set.')
    .option('data', { type: 'string', describe: 'Folder with train/ and val/ (default: ./hymenoptera_data, else a generated set)' })
    .option('weights', { type: 'string', describe: "Pretrained weights: DEFAULT (torchvision's, from PyTorch's cache), a .pth path, or none", default: 'DEFAULT' })
    .option('head', { choices: ['replace', 'append'], describe: 'replace classifier.6, or append Linear(1000,k)+Softmax (recipe default: finetune replace, seed append)' })
    .option('recipe', { choices: ['seed', 'finetune'], default: 'finetune', describe: "seed: the article's exact recipe; finetune: a practitioner's default" })
    .option('epochs', { type: 'number', describe: 'Epochs (recipe default: finetune 5, seed 700)' })
    .option('batch-size', { type: 'number', describe: 'Batch size (recipe default: finetune 32, seed 1)' })
    .option('lr', { type: 'number', describe: 'Learning rate (recipe default: finetune 1e-4, seed 1e-8)' })
    .option('optimizer', { choices: ['adam', 'sgd'], describe: 'Optimizer (recipe default: adam)' })
    .option('momentum', { type: 'number', describe: 'SGD momentum (default 0.9)' })
    .option('weight-decay', { type: 'number', describe: 'L2 weight decay (default 0)' })
    .option('scheduler', { choices: ['cosine', 'step', 'none'], describe: 'LR schedule, stepped per epoch (default cosine)' })
    .option('t-max', { type: 'number', describe: 'Cosine period / StepLR step in epochs (default: finetune the epochs, seed 50)' })
    .option('freeze-features', { type: 'boolean', default: false, describe: 'Train only the classifier (needs pretrained weights and --head replace)' })
    .option('exact', { type: 'boolean', default: false, describe: "PyTorch's op-by-op optimizer arithmetic (bitwise PyTorch) instead of the fused native step" })
    .option('amp', { choices: ['off', 'bf16', 'fp16'], default: 'off', describe: 'Mixed precision: autocast to bfloat16 (CPU or CUDA) or float16 with loss scaling (CUDA)' })
    .option('image-size', { type: 'number', describe: 'Crop/resize size, at least 63 for AlexNet (default 224; 64 for the generated set)' })
    .option('device', { type: 'string', default: 'auto', describe: 'auto, cpu, cuda or cuda:N' })
    .option('threads', { type: 'number', default: 0, describe: 'Intra-op threads (0: all cores)' })
    .option('seed', { type: 'number', default: 0, describe: 'Seeds initialisation, shuffling, augmentation and dropout' })
    .option('out', { type: 'string', describe: 'Output folder (default: runs/train-<date>-<time>)' })
    .option('resume', { type: 'string', describe: 'Continue from a last.ckpt (interrupted or finished)' })
    .option('eval-every', { type: 'number', default: 1, describe: 'Validate every N epochs (0: only at the end)' })
    .option('skip-bad-images', { type: 'boolean', default: false, describe: 'Skip unreadable images with a warning instead of failing' })
    .option('nproc-per-node', { type: 'number', default: 1, describe: 'Start N local worker processes training together (DDP over loopback), splitting the threads' })
    .option('dist-timeout', { type: 'number', default: 1800, describe: 'Seconds a worker waits for the others (rendezvous and each collective)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per event' })
    .strict()
    .help()
      .fail((msg: string, err: Error | undefined) => fail('train', err ?? new Error(`${msg} (see --help)`)))
    .parse();

  const nproc = argv['nproc-per-node'];
  if (!Number.isInteger(nproc) || nproc < 1) throw new Error(`Expected positive integer for nproc-per-node but received ${nproc}`);
  if (!Number.isFinite(argv['dist-timeout']) || argv['dist-timeout'] <= 0) throw new Error(`Expected positive number for dist-timeout but received ${argv['dist-timeout']}`);
  if (nproc > 1 && process.env.RANK === undefined) return launch(nproc, argv.threads, argv.out ?? defaultOut());
  // Under torchrun (or --nproc-per-node's workers) the variables say which rank this is.
  if (Number(process.env.WORLD_SIZE ?? 1) > 1) await dist.initProcessGroup({ timeoutMs: Math.round(argv['dist-timeout'] * 1000) });
  const isMain = !dist.isInitialized() || dist.getRank() === 0;
  const json = argv.json;
  const log = (message: string) => { if (isMain) print(json, { event: 'log', message }, message); };
  let data = argv.data;
  let imageSize = argv['image-size'];
  if (data === undefined) {
    if (fs.existsSync('hymenoptera_data')) {
      data = 'hymenoptera_data';
      log('using ./hymenoptera_data');
    } else {
      const generated = await ensureSyntheticDataset();
      data = generated.root;
      imageSize ??= 64;
      log(`no ./hymenoptera_data here: ${generated.created ? 'generated' : 'using'} a two-class data set (discs vs stripes, real JPEG files) at ${data}`);
    }
  }
  const out = argv.out ?? defaultOut(); // workers get the launcher's --out
  const config: Partial<TrainConfig> & { data: string; out: string; weightsExplicit: boolean } = {
    data, out, weights: argv.weights, head: argv.head as TrainConfig['head'], recipe: argv.recipe as TrainConfig['recipe'],
    epochs: argv.epochs, batchSize: argv['batch-size'], lr: argv.lr, optimizer: argv.optimizer as TrainConfig['optimizer'],
    momentum: argv.momentum, weightDecay: argv['weight-decay'], scheduler: argv.scheduler as TrainConfig['scheduler'], tMax: argv['t-max'],
    freezeFeatures: argv['freeze-features'], exact: argv.exact, amp: argv.amp as TrainConfig['amp'], imageSize, device: argv.device as TrainConfig['device'], threads: argv.threads, seed: argv.seed,
    resume: argv.resume, evalEvery: argv['eval-every'], skipBadImages: argv['skip-bad-images'], json,
    weightsExplicit: process.argv.some((a) => a === '--weights' || a.startsWith('--weights=')),
  };

  const controller = new AbortController();
  let signalName: NodeJS.Signals | null = null;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (signalName) process.exit(sig === 'SIGINT' ? 130 : 143); // a second signal: stop now
      signalName = sig;
      log(`${sig}: finishing the current step and writing a resumable checkpoint (again to quit at once)`);
      controller.abort();
    });
  }
  if (process.env.RANK !== undefined && process.channel) stopWithLauncher(controller, log);
  let epochs = 0;
  const result = await train(config, {
    signal: controller.signal,
    onLog: log,
    onConfig: (c) => {
      epochs = c.epochs;
      const shown = Object.entries(c).filter(([k]) => k !== 'json').map(([k, v]) => `${k}=${v}`).join(' ');
      print(json, { event: 'config', config: c }, `config: ${shown}`);
    },
    onStep: json ? (e) => print(true, { event: 'step', ...e }, '') : undefined,
    onEpoch: (e) => print(json, { event: 'epoch', ...e },
      `epoch ${e.epoch}/${epochs}  train loss ${e.trainLoss.toFixed(4)}  train acc ${e.trainAcc.toFixed(4)}  ` +
      `val acc ${e.valAcc === null ? '-' : e.valAcc.toFixed(4)}  lr ${e.lr.toPrecision(4)}  ${e.seconds.toFixed(1)}s`),
  });
  const c = result.config;
  if (result.interrupted) {
    log(`interrupted: resume with  node dist/train.js --resume ${path.join(c.out, 'last.ckpt')} --out ${c.out}${process.argv.slice(2).filter((a) => !a.startsWith('--out') && !a.startsWith('--resume')).map((a) => ` ${a}`).join('')}`);
    process.exit(signalName === 'SIGTERM' ? 143 : 130);
  }
  dist.destroyProcessGroup();
  if (isMain) log(`results in ${path.resolve(c.out)}: metrics.jsonl, curves.png, last.ckpt, best.pth (val acc ${result.bestValAcc === null ? '-' : result.bestValAcc.toFixed(4)}), run.json`);
}

// --nproc-per-node N: N workers of this same command on loopback, with torchrun's variables; the
// threads are split between them and rank 0 prints. A worker that fails stops the run.
function defaultOut(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('runs', `train-${stamp}`);
}

async function launch(nproc: number, threads: number, out: string): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (!fs.existsSync('hymenoptera_data')) await ensureSyntheticDataset(); // generated once, before the workers look for it
  const perWorker = threads > 0 ? threads : Math.max(1, Math.floor(cores / nproc));
  const args = withoutOptions(process.argv.slice(2), ['--nproc-per-node', '--threads', '--out']);
  args.push('--threads', String(perWorker), '--out', out);
  const children = Array.from({ length: nproc }, (_, rank) => spawn(process.execPath, [__filename, ...args], {
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
        process.stderr.write(`train: rank ${rank} exited with ${code !== null ? `code ${code}` : signal}; stopping the other workers\n`);
        setTimeout(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')), 10000).unref();
      }
      resolve(status);
    });
  })));
  const failed = codes.find((c) => c !== 0 && c !== 130 && c !== 143);
  process.exit(failed !== undefined ? 1 : codes.find((c) => c !== 0) ?? 0);
}

/** How long a worker whose launcher died may take to finish its step and checkpoint. */
const ORPHAN_GRACE_MS = 5000;

// A worker of --nproc-per-node: its end of the launcher's IPC channel closes when the launcher
// exits, even by SIGKILL (on Linux and macOS alike), and then the worker stops too, as torchrun's
// workers stop with their agent: at the end of the current step with a resumable checkpoint, as
// on SIGTERM, or at once after ORPHAN_GRACE_MS (a step, or a collective waiting for a peer, may
// take longer).
function stopWithLauncher(controller: AbortController, log: (message: string) => void): void {
  const channel = process.channel!;
  channel.unref(); // the channel alone must not keep a finished worker alive
  process.once('disconnect', () => {
    log(`the launcher is gone: stopping (a resumable checkpoint if the current step ends within ${ORPHAN_GRACE_MS / 1000} s)`);
    controller.abort();
    setTimeout(() => process.exit(143), ORPHAN_GRACE_MS).unref();
  });
}

// argv without the given options (as `--name value` or `--name=value`).
function withoutOptions(argv: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].split('=')[0];
    if (!names.includes(name)) out.push(argv[i]);
    else if (!argv[i].includes('=')) i++;
  }
  return out;
}

main().catch((err) => fail('train', err));
