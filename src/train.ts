#!/usr/bin/env node
// node dist/train.js: fine-tune (or train) AlexNet on an ImageFolder pair; see --help.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
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
    .option('image-size', { type: 'number', describe: 'Crop/resize size (default 224; 64 for the generated set)' })
    .option('device', { type: 'string', default: 'auto', describe: 'auto, cpu, cuda or cuda:N' })
    .option('threads', { type: 'number', default: 0, describe: 'Intra-op threads (0: all cores)' })
    .option('seed', { type: 'number', default: 0, describe: 'Seeds initialisation, shuffling, augmentation and dropout' })
    .option('out', { type: 'string', describe: 'Output folder (default: runs/train-<date>-<time>)' })
    .option('resume', { type: 'string', describe: 'Continue from a last.ckpt (interrupted or finished)' })
    .option('eval-every', { type: 'number', default: 1, describe: 'Validate every N epochs (0: only at the end)' })
    .option('skip-bad-images', { type: 'boolean', default: false, describe: 'Skip unreadable images with a warning instead of failing' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per event' })
    .strict()
    .help()
      .fail((msg: string, err: Error | undefined) => fail('train', err ?? new Error(`${msg} (see --help)`)))
    .parse();

  const json = argv.json;
  const log = (message: string) => print(json, { event: 'log', message }, message);
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
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = argv.out ?? path.join('runs', `train-${stamp}`);
  const config: Partial<TrainConfig> & { data: string; out: string; weightsExplicit: boolean } = {
    data, out, weights: argv.weights, head: argv.head as TrainConfig['head'], recipe: argv.recipe as TrainConfig['recipe'],
    epochs: argv.epochs, batchSize: argv['batch-size'], lr: argv.lr, optimizer: argv.optimizer as TrainConfig['optimizer'],
    momentum: argv.momentum, weightDecay: argv['weight-decay'], scheduler: argv.scheduler as TrainConfig['scheduler'], tMax: argv['t-max'],
    freezeFeatures: argv['freeze-features'], exact: argv.exact, imageSize, device: argv.device as TrainConfig['device'], threads: argv.threads, seed: argv.seed,
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
  log(`results in ${path.resolve(c.out)}: metrics.jsonl, curves.png, last.ckpt, best.pth (val acc ${result.bestValAcc === null ? '-' : result.bestValAcc.toFixed(4)}), run.json`);
}

main().catch((err) => fail('train', err));
