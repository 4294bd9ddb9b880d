#!/usr/bin/env node
// torchbridge-train (node dist/bin/train.js, or node dist/train.js): fine-tune (or train) AlexNet
// on an ImageFolder pair; see --help.
// Options are parsed before libtorch loads (imported below, once needed), so --help and option
// errors answer at once.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { choiceOption, deviceOption, fail, freshLine, givenOptions, invocation, numberOption, optionError, PARSER_CONFIGURATION, print, printWarnings, shellQuote } from './cli';
import { launch, stopWithLauncher } from '../distributed/launch';
import type { TrainConfig } from '../training/config';

// The options that are the run's settings (TrainConfig's fields, in kebab case).
const SETTINGS = ['data', 'weights', 'arch', 'head', 'recipe', 'epochs', 'batch-size', 'lr', 'optimizer', 'momentum', 'weight-decay', 'scheduler', 't-max', 'warmup-epochs', 'clip-grad-norm',
  'freeze-features', 'exact', 'amp', 'image-size', 'device', 'threads', 'seed', 'out', 'resume', 'eval-every', 'skip-bad-images', 'keep-best-by', 'patience'];

async function main(): Promise<void> {
  // No yargs defaults for the settings: what the user did not give comes from the recipe, or from
  // the checkpoint with --resume. The help still shows the defaults.
  const argv = await yargs(process.argv.slice(2))
    .scriptName('torchbridge-train')
    .parserConfiguration(PARSER_CONFIGURATION)
    .usage('$0 [options]\n\nTrains AlexNet (or --arch) on DIR/train and validates on DIR/val. With no options: ./hymenoptera_data if present, otherwise a generated two-class data set.\n' +
      'With --resume RUN/last.ckpt alone, continues that run with its own settings; options given with it change them (the run says which).')
    .option('data', { type: 'string', requiresArg: true, describe: 'Folder with train/ and val/ (default: ./hymenoptera_data, else a generated set)' })
    .option('weights', { type: 'string', requiresArg: true, defaultDescription: '"DEFAULT"', describe: "Starting weights: DEFAULT (torchvision's, from PyTorch's cache), a .pth or a run's last.ckpt (another head's classifier is replaced), or none" })
    .option('arch', choiceOption('arch', ['alexnet', 'resnet18', 'resnet34', 'resnet50', 'vgg11_bn', 'vgg16', 'mobilenet_v2'], "torchvision architecture, with torchvision's state_dict layout and DEFAULT weights", '"alexnet"'))
    .option('head', choiceOption('head', ['replace', 'append'],  "replace the classifier (alexnet/vgg classifier.6, resnet fc, mobilenet_v2 classifier.1), or append Linear(1000,k)+Softmax (AlexNet only; recipe default: finetune replace, seed append)"))
    .option('recipe', choiceOption('recipe', ['seed', 'finetune'], "seed: the article's exact recipe; finetune: a practitioner's default", '"finetune"'))
    .option('epochs', numberOption('epochs', 'positive integer', 'Epochs (recipe default: finetune 5, seed 700)'))
    .option('batch-size', numberOption('batch-size', 'positive integer', 'Batch size (recipe default: finetune 32, seed 1)'))
    .option('lr', numberOption('lr', 'non-negative number', 'Learning rate (recipe default: finetune 1e-4, seed 1e-8)'))
    .option('optimizer', choiceOption('optimizer', ['adam', 'adamw', 'sgd'], 'Optimizer (recipe default: adam; adamw decays by --weight-decay, default 0)'))
    .option('momentum', numberOption('momentum', 'non-negative number', 'SGD momentum (default 0.9)'))
    .option('weight-decay', numberOption('weight-decay', 'non-negative number', 'L2 weight decay (default 0)'))
    .option('scheduler', choiceOption('scheduler', ['cosine', 'step', 'none'], 'LR schedule, stepped per epoch (default cosine)'))
    .option('t-max', numberOption('t-max', 'positive integer', 'Cosine period / StepLR step in epochs (default: finetune the epochs, seed 50)'))
    .option('warmup-epochs', numberOption('warmup-epochs', 'non-negative integer', 'Epochs of LinearLR warm-up (start factor 1/3) before the schedule, through SequentialLR', '0'))
    .option('clip-grad-norm', numberOption('clip-grad-norm', 'non-negative number', "Clip the gradients' total 2-norm to this before each step (0: off)", '0'))
    .option('freeze-features', { type: 'boolean', defaultDescription: 'false', describe: "AlexNet: freeze its features; other --arch: train only the classifier (needs pretrained weights and --head replace)" })
    .option('exact', { type: 'boolean', defaultDescription: 'false', describe: "PyTorch's op-by-op optimizer arithmetic (bitwise PyTorch) instead of the fused native step" })
    .option('amp', choiceOption('amp', ['off', 'bf16', 'fp16'], 'Mixed precision: autocast to bfloat16 (CPU or CUDA) or float16 with loss scaling (CUDA)', '"off"'))
    .option('image-size', numberOption('image-size', 'positive integer', 'Crop/resize size, at least 63 for AlexNet, 32 for the others (default 224; 64 for the generated set)'))
    .option('device', deviceOption('auto (CUDA when available), cpu, cuda or cuda:N', '"auto"'))
    .option('threads', numberOption('threads', 'non-negative integer', 'Intra-op threads (0: all cores)', '0'))
    .option('seed', numberOption('seed', 'non-negative integer', 'Seeds initialisation, shuffling, augmentation and dropout', '0'))
    .option('out', { type: 'string', requiresArg: true, describe: 'Output folder (default: runs/train-<date>-<time>; with --resume, the checkpoint\'s folder)' })
    .option('resume', { type: 'string', requiresArg: true, describe: 'Continue the run of a last.ckpt (interrupted, finished, or to train longer with --epochs)' })
    .option('eval-every', numberOption('eval-every', 'non-negative integer', 'Validate every N epochs (0: only at the end)', '1'))
    .option('keep-best-by', choiceOption('keep-best-by', ['val_acc', 'val_loss'], 'The validation metric best.pth keeps the best of (and --patience watches)', '"val_acc"'))
    .option('patience', numberOption('patience', 'non-negative integer', 'Stop after N validations without improvement of --keep-best-by (0: never)', '0'))
    .option('skip-bad-images', { type: 'boolean', defaultDescription: 'false', describe: 'Skip unreadable images with a warning instead of failing' })
    .option('nproc-per-node', numberOption('nproc-per-node', 'positive integer', 'Start N local worker processes training together (DDP over loopback), splitting the threads', '1'))
    .option('dist-timeout', numberOption('dist-timeout', 'positive number', 'Seconds a worker waits for the others (rendezvous and each collective)', '1800'))
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per event' })
    .strict()
    .help()
    .fail(optionError('train'))
    .parse();

  const nproc = argv['nproc-per-node'] ?? 1;
  const out = argv.out ?? (argv.resume !== undefined ? path.dirname(argv.resume) : defaultOut()); // workers get the launcher's --out
  if (nproc > 1 && process.env.RANK === undefined) return launchWorkers(nproc, argv.threads ?? 0, out);
  printWarnings('train', (w) => w.message.startsWith('data.DataLoader skipped ')); // the trainer names each skipped file
  // Required here, not imported above: these load libtorch.
  const dist = require('../distributed') as typeof import('../distributed');
  const { train } = require('../training') as typeof import('../training');
  // Under torchrun (or --nproc-per-node's workers) the variables say which rank this is.
  if (Number(process.env.WORLD_SIZE ?? 1) > 1) await dist.initProcessGroup({ timeoutMs: Math.round((argv['dist-timeout'] ?? 1800) * 1000) });
  const isMain = !dist.isInitialized() || dist.getRank() === 0;
  const json = argv.json;
  const log = (message: string) => { if (isMain) print(json, { event: 'log', message }, message); };
  const given = givenOptions(argv, SETTINGS) as Partial<TrainConfig>;
  if (argv.resume === undefined) {
    given.out = out;
    if (given.data === undefined) {
      if (fs.existsSync('hymenoptera_data')) {
        given.data = 'hymenoptera_data';
        log('using ./hymenoptera_data');
      } else {
        const { ensureSyntheticDataset } = require('../training/synthetic') as typeof import('../training/synthetic');
        const generated = await ensureSyntheticDataset();
        given.data = generated.root;
        given.imageSize ??= 64;
        log(`no ./hymenoptera_data here: ${generated.created ? 'generated' : 'using'} a two-class data set (discs vs stripes, real JPEG files) at ${given.data}`);
      }
    }
  }

  const controller = new AbortController();
  let signalName: NodeJS.Signals | null = null;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (signalName) process.exit(sig === 'SIGINT' ? 130 : 143); // a second signal: stop now
      signalName = sig;
      if (isMain) freshLine(); // after the terminal's ^C and any progress bar
      log(`${sig}: finishing the current step and writing a resumable checkpoint (again to quit at once)`);
      controller.abort();
    });
  }
  stopWithLauncher(controller, log);
  let epochs = 0;
  const result = await train({ ...given, weightsExplicit: argv.weights !== undefined }, {
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
      `val loss ${e.valLoss === null ? '-' : e.valLoss.toFixed(4)}  val acc ${e.valAcc === null ? '-' : e.valAcc.toFixed(4)}  ` +
      `lr ${Number(e.lr.toPrecision(4))}  ${e.seconds.toFixed(1)}s`),
  });
  const c = result.config;
  if (result.interrupted) {
    // The run's own settings are in the checkpoint: --resume alone continues it.
    log(`interrupted: resume with  ${invocation('torchbridge-train')} --resume ${shellQuote(path.join(c.out, 'last.ckpt'))}${json ? ' --json' : ''}`);
    process.exit(signalName === 'SIGTERM' ? 143 : 130);
  }
  dist.destroyProcessGroup();
  if (isMain && result.epochsRun > 0) {
    const best = result.best ? `best.pth (epoch ${result.best.epoch}, ${result.best.metric.replace('_', ' ')} ${result.best.value.toFixed(4)})` : 'best.pth';
    log(`results in ${path.resolve(c.out)}: metrics.jsonl, curves.png, last.ckpt, ${best}, run.json`);
  }
}

function defaultOut(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('runs', `train-${stamp}`);
}

// --nproc-per-node N: N workers of this same command on loopback, with torchrun's variables; the
// threads are split between them and rank 0 prints. A worker that fails stops the run.
async function launchWorkers(nproc: number, threads: number, out: string): Promise<never> {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (!fs.existsSync('hymenoptera_data')) await (require('../training/synthetic') as typeof import('../training/synthetic')).ensureSyntheticDataset(); // generated once, before the workers look for it
  const perWorker = threads > 0 ? threads : Math.max(1, Math.floor(cores / nproc));
  const args = withoutOptions(process.argv.slice(2), ['--nproc-per-node', '--threads', '--out']);
  args.push('--threads', String(perWorker), '--out', out);
  process.exit(await launch({ script: __filename, args, nproc, program: 'train' }));
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
