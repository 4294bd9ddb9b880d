#!/usr/bin/env node
// torchbridge-predict (node dist/bin/predict.js) --weights W IMAGE|DIR...: top-k classes with
// probabilities per image, using the preprocessing the checkpoint was trained with. An unreadable
// image is reported and the others are still predicted; the exit code says whether any failed.
// Options are parsed before libtorch loads, so --help and option errors answer at once.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import { fail, numberOption, optionError, PARSER_CONFIGURATION, print, printWarnings } from './cli';

/** The images to predict: files as given, folders searched recursively for image files (sorted). */
async function imageFiles(args: string[], extensions: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await fs.promises.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && fs.statSync(full, { throwIfNoEntry: false })?.isDirectory())) await walk(full);
      else if (extensions.includes(path.extname(e.name).toLowerCase())) files.push(full);
    }
  };
  for (const arg of args) {
    const stat = fs.statSync(arg, { throwIfNoEntry: false });
    if (!stat) missing.push(arg);
    else if (stat.isDirectory()) await walk(arg);
    else files.push(arg);
  }
  return { files, missing };
}

async function main(): Promise<void> {
  const argv = await yargs(process.argv.slice(2))
    .scriptName('torchbridge-predict')
    .parserConfiguration({ ...PARSER_CONFIGURATION, 'parse-positional-numbers': false })
    .usage('$0 --weights W IMAGE|DIR...\n\nTop classes per image. A folder stands for every image under it.')
    .option('weights', { type: 'string', requiresArg: true, demandOption: true, describe: 'best.pth / last.ckpt / a PyTorch .pth' })
    .option('topk', numberOption('topk', 'positive integer', 'Classes to list per image (at most the model\'s classes)', '2'))
    .option('threads', numberOption('threads', 'non-negative integer', 'Intra-op threads (0: all cores)', '0'))
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per image' })
    .demandCommand(1, 'give at least one IMAGE or folder')
    .strict()
    .help()
    .fail(optionError('predict'))
    .parse();
  printWarnings('predict');
  // Required here, not imported above: these load libtorch.
  const { IMG_EXTENSIONS, imagesToTensor, prepareImage } = require('../data') as typeof import('../data');
  const { Rng } = require('../data/transforms') as typeof import('../data/transforms');
  const { noGrad } = require('../autograd') as typeof import('../autograd');
  const { softmax } = require('../nn/functional') as typeof import('../nn/functional');
  const { setNumThreads } = require('../runtime') as typeof import('../runtime');
  const { evalTransform, loadTrainedModel } = require('../training') as typeof import('../training');

  if (argv.threads !== undefined && argv.threads > 0) setNumThreads(argv.threads);
  const { files, missing } = await imageFiles(argv._.map(String), IMG_EXTENSIONS);
  let failed = 0;
  const report = (file: string, reason: string) => {
    failed++;
    process.stderr.write(`predict: cannot read image ${file}: ${reason}\n`);
    if (argv.json) print(true, { image: file, error: reason }, '');
  };
  missing.forEach((file) => report(file, 'no such file or folder'));
  if (files.length === 0 && missing.length === 0) throw new Error(`no image files (${IMG_EXTENSIONS.join(', ')}) under ${argv._.join(', ')}`);
  if (files.length > 0) {
    const { model, meta } = await loadTrainedModel(argv.weights);
    model.eval();
    const transform = evalTransform(meta);
    for (const file of files) {
      let image;
      try {
        image = await prepareImage(file, transform, new Rng(0));
      } catch (err) {
        report(file, (err as Error).message.split('\n')[0]);
        continue;
      }
      const input = await imagesToTensor([image], transform, true);
      const out = await noGrad(() => model.forward(input));
      // The appended head already ends in Softmax; the replaced one gives logits.
      const probs = meta.head === 'append' ? out : await softmax(out, 1);
      const p = Array.from(probs.toArray() as Float32Array);
      const top = p.map((v, i) => ({ class: meta.classes[i], probability: v })).sort((x, y) => y.probability - x.probability).slice(0, argv.topk ?? 2);
      print(argv.json, { image: file, top }, `${file}: ${top.map((t) => `${t.class} ${t.probability.toFixed(4)}`).join(', ')}`);
      [input, out, probs].forEach((t) => t.dispose());
    }
    model.dispose();
  }
  if (failed > 0) {
    process.stderr.write(`predict: ${failed} of ${files.length + missing.length} image(s) could not be read\n`);
    process.exitCode = 1;
  }
}

main().catch((err) => fail('predict', err));
