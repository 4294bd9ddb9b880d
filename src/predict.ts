#!/usr/bin/env node
// node dist/predict.js --weights W IMAGE...: top-k classes with probabilities per image, using the
// preprocessing the checkpoint was trained with.
import yargs from 'yargs';
import { fail, print } from './cli';
import { imagesToTensor, prepareImage } from './data';
import { Rng } from './data/transforms';
import { noGrad } from './autograd';
import { softmax } from './nn/functional';
import { setNumThreads } from './runtime';
import { TorchError } from './errors';
import { evalTransform, loadTrainedModel } from './training/trainer';

async function main(): Promise<void> {
  const argv = await yargs(process.argv.slice(2))
    .scriptName('predict')
    .usage('$0 --weights W IMAGE...')
    .option('weights', { type: 'string', demandOption: true, describe: 'best.pth / last.ckpt / a PyTorch .pth' })
    .option('topk', { type: 'number', default: 2, describe: 'Classes to list per image' })
    .option('threads', { type: 'number', default: 0, describe: 'Intra-op threads (0: all cores)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per image' })
    .demandCommand(1, 'give at least one IMAGE')
    .strict()
    .help()
    .fail((msg: string, err: Error | undefined) => fail('predict', err ?? new Error(`${msg} (see --help)`)))
    .parse();
  if (argv.threads > 0) setNumThreads(argv.threads);
  const { model, meta } = await loadTrainedModel(argv.weights);
  model.eval();
  const transform = evalTransform(meta);
  const k = Math.min(Math.max(1, Math.floor(argv.topk)), meta.classes.length);
  for (const file of argv._.map(String)) {
    let image;
    try {
      image = await prepareImage(file, transform, new Rng(0));
    } catch (err) {
      throw new TorchError(`cannot read image ${file}: ${(err as Error).message}`, 'BAD_FILE');
    }
    const input = await imagesToTensor([image], transform, true);
    const out = await noGrad(() => model.forward(input));
    // The appended head already ends in Softmax; the replaced one gives logits.
    const probs = meta.head === 'append' ? out : await softmax(out, 1);
    const p = Array.from(probs.toArray() as Float32Array);
    const top = p.map((v, i) => ({ class: meta.classes[i], probability: v })).sort((a, b) => b.probability - a.probability).slice(0, k);
    print(argv.json, { image: file, top }, `${file}: ${top.map((t) => `${t.class} ${t.probability.toFixed(4)}`).join(', ')}`);
    [input, out, probs].forEach((t) => t.dispose());
  }
  model.dispose();
}

main().catch((err) => fail('predict', err));
