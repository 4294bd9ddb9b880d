#!/usr/bin/env node
// torchbridge-validate (node dist/bin/validate.js) --weights W --data DIR: the seed's validation,
// done properly: accuracy, loss, per-class accuracy and the confusion matrix of a trained model.
// Options are parsed before libtorch loads, so --help and option errors answer at once.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { TorchError } from '../errors';
import { deviceOption, fail, numberOption, optionError, PARSER_CONFIGURATION, print, printWarnings } from './cli';

async function main(): Promise<void> {
  const argv = await yargs(process.argv.slice(2))
    .scriptName('torchbridge-validate')
    .parserConfiguration(PARSER_CONFIGURATION)
    .usage('$0 --weights W --data DIR\n\nAccuracy, loss, per-class accuracy and the confusion matrix of a model written by train (best.pth, last.ckpt) or by PyTorch (a torchvision AlexNet, ResNet, VGG or MobileNetV2 state_dict).')
    .option('weights', { type: 'string', requiresArg: true, demandOption: true, describe: 'best.pth / last.ckpt / a PyTorch .pth' })
    .option('data', { type: 'string', requiresArg: true, demandOption: true, describe: 'An ImageFolder (or a folder with val/)' })
    .option('batch-size', numberOption('batch-size', 'positive integer', 'Evaluation batch size', '32'))
    .option('device', deviceOption('auto (CUDA when available), cpu, cuda or cuda:N', '"auto"'))
    .option('threads', numberOption('threads', 'non-negative integer', 'Intra-op threads (0: all cores)', '0'))
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object' })
    .strict()
    .help()
    .fail(optionError('validate'))
    .parse();
  printWarnings('validate');
  // Required here, not imported above: these load libtorch.
  const { DataLoader, ImageFolder } = require('../data') as typeof import('../data');
  const { checkDevice, cuda, setNumThreads } = require('../runtime') as typeof import('../runtime');
  const { evaluate, evalTransform, loadTrainedModel } = require('../training') as typeof import('../training');
  const { ProgressBar } = require('../training/progress') as typeof import('../training/progress');
  const { CLASSIFIER } = require('../training/recipe') as typeof import('../training/recipe');

  const device = argv.device === undefined || argv.device === 'auto' ? (cuda.isAvailable() ? 'cuda' : 'cpu') : checkDevice('validate', '--device', argv.device);
  if (argv.threads !== undefined && argv.threads > 0) setNumThreads(argv.threads);
  const root = fs.existsSync(path.join(argv.data, 'val')) ? path.join(argv.data, 'val') : argv.data;
  const { model, meta, classesKnown } = await loadTrainedModel(argv.weights);
  const ds = await ImageFolder.create(root, { transform: evalTransform(meta) });
  if (ds.classes.length !== meta.classes.length) {
    throw new TorchError(
      `the model's head has ${meta.classes.length} outputs (${meta.head === 'append' ? 'appended Linear(1000, k)' : CLASSIFIER[meta.arch ?? 'alexnet']}) but ${root} has ${ds.classes.length} classes [${ds.classes}]: ` +
      'validate with data of the classes it was trained on, or retrain the head',
      'INVALID_ARGUMENT',
    );
  }
  if (classesKnown && ds.classes.join('\n') !== meta.classes.join('\n')) {
    throw new TorchError(`the model was trained on classes [${meta.classes}] but ${root} has [${ds.classes}]`, 'INVALID_ARGUMENT');
  }
  if (device !== 'cpu') await model.to(device as 'cuda');
  // The seed's preprocessing does not crop, so images differ in size: evaluate them one by one.
  const batchSize = meta.recipe === 'seed' ? 1 : argv['batch-size'] ?? 32;
  const loader = new DataLoader(ds, { batchSize });
  const bar = new ProgressBar(loader.length, 'validating');
  const result = await evaluate(model, loader, { device, classes: ds.classes, onBatch: (done) => bar.update(done) });
  bar.done();
  const lines = [
    `accuracy ${result.accuracy.toFixed(4)} (${Math.round(result.accuracy * result.count)}/${result.count}), loss ${result.loss.toFixed(4)} on ${root}`,
    ...result.perClass.map((p) => `  ${p.class}: ${p.accuracy.toFixed(4)} (${p.count} images)`),
    'confusion matrix (rows: true class, columns: predicted):',
    `  ${''.padEnd(12)}${ds.classes.map((c) => c.slice(0, 10).padStart(11)).join('')}`,
    ...result.confusion.map((row, i) => `  ${ds.classes[i].slice(0, 11).padEnd(12)}${row.map((n) => String(n).padStart(11)).join('')}`),
  ];
  print(argv.json, { ...result, classes: ds.classes, weights: argv.weights, data: root, device }, lines.join('\n'));
  model.dispose();
}

main().catch((err) => fail('validate', err));
