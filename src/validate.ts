#!/usr/bin/env node
// node dist/validate.js --weights W --data DIR: the seed's validation, done properly.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { TorchError } from './errors';
import { fail, print } from './cli';
import { DataLoader, ImageFolder } from './data';
import { setNumThreads } from './runtime';
import { evaluate, evalTransform, loadTrainedModel } from './training/trainer';

async function main(): Promise<void> {
  const argv = await yargs(process.argv.slice(2))
    .scriptName('validate')
    .usage('$0 --weights W --data DIR\n\nAccuracy, per-class accuracy and the confusion matrix of a model written by train (best.pth, last.ckpt) or by PyTorch (a torchvision AlexNet state_dict).')
    .option('weights', { type: 'string', demandOption: true, describe: 'best.pth / last.ckpt / a PyTorch .pth' })
    .option('data', { type: 'string', demandOption: true, describe: 'An ImageFolder (or a folder with val/)' })
    .option('batch-size', { type: 'number', default: 32, describe: 'Evaluation batch size' })
    .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
    .option('threads', { type: 'number', default: 0, describe: 'Intra-op threads (0: all cores)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object' })
    .strict()
    .help()
    .fail((msg: string, err: Error | undefined) => fail('validate', err ?? new Error(`${msg} (see --help)`)))
    .parse();
  if (argv.threads > 0) setNumThreads(argv.threads);
  const root = fs.existsSync(path.join(argv.data, 'val')) ? path.join(argv.data, 'val') : argv.data;
  const { model, meta, classesKnown } = await loadTrainedModel(argv.weights);
  const ds = await ImageFolder.create(root, { transform: evalTransform(meta) });
  if (ds.classes.length !== meta.classes.length) {
    throw new TorchError(
      `the model's head has ${meta.classes.length} outputs (${meta.head === 'append' ? 'appended Linear(1000, k)' : 'classifier.6'}) but ${root} has ${ds.classes.length} classes [${ds.classes}]: ` +
      'validate with data of the classes it was trained on, or retrain the head',
      'INVALID_ARGUMENT',
    );
  }
  if (classesKnown && ds.classes.join('\n') !== meta.classes.join('\n')) {
    throw new TorchError(`the model was trained on classes [${meta.classes}] but ${root} has [${ds.classes}]`, 'INVALID_ARGUMENT');
  }
  if (argv.device !== 'cpu') await model.to(argv.device as 'cuda');
  // The seed's preprocessing does not crop, so images differ in size: evaluate them one by one.
  const batchSize = meta.recipe === 'seed' ? 1 : argv['batch-size'];
  const result = await evaluate(model, new DataLoader(ds, { batchSize }), { device: argv.device, classes: ds.classes });
  const lines = [
    `accuracy ${result.accuracy.toFixed(4)} (${Math.round(result.accuracy * result.count)}/${result.count}) on ${root}`,
    ...result.perClass.map((p) => `  ${p.class}: ${p.accuracy.toFixed(4)} (${p.count} images)`),
    'confusion matrix (rows: true class, columns: predicted):',
    `  ${''.padEnd(12)}${ds.classes.map((c) => c.slice(0, 10).padStart(11)).join('')}`,
    ...result.confusion.map((row, i) => `  ${ds.classes[i].slice(0, 11).padEnd(12)}${row.map((n) => String(n).padStart(11)).join('')}`),
  ];
  print(argv.json, { ...result, classes: ds.classes, weights: argv.weights, data: root }, lines.join('\n'));
  model.dispose();
}

main().catch((err) => fail('validate', err));
