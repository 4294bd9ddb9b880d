#!/usr/bin/env node
'use strict';
// torchbridge vs Debian's PyTorch (/usr/bin/python3), side by side on this machine, same inputs and
// thread count. Each figure runs in a fresh process per side (so peak RSS is the figure's own).
// Prints a markdown table and writes bench/results.json. Not a test; `--quick` is the CI smoke run.
// Usage: node bench/bench.js [--data DIR] [--threads N] [--steps N] [--quick] [--out FILE]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const yargs = require('yargs/yargs');
const { buildInfo, getNumThreads } = require('..');

const argv = yargs(process.argv.slice(2))
  .option('data', { type: 'string', default: path.join(__dirname, '..', '..', 'shared', 'data', 'hymenoptera_data'), describe: 'Folder with train/' })
  .option('threads', { type: 'number', default: getNumThreads(), describe: 'Intra-op threads on both sides' })
  .option('steps', { type: 'number', default: 20, describe: 'Timed steps per figure (batched figures use a quarter)' })
  .option('quick', { type: 'boolean', default: false, describe: 'One step, tiny inputs and 4 images: checks that the bench runs' })
  .option('out', { type: 'string', default: path.join(__dirname, 'results.json') })
  .strict()
  .parse();

const quick = argv.quick;
const steps = quick ? 1 : argv.steps;
const common = { threads: argv.threads, data: path.join(argv.data, 'train'), limit: quick ? 4 : 0 };
const runs = {
  seedStep: { ...common, height: quick ? 64 : 224, width: quick ? 85 : 298, warmup: quick ? 0 : 2, steps },
  batchedTraining: { ...common, batch: quick ? 2 : 32, size: quick ? 64 : 224, warmup: quick ? 0 : 1, steps: Math.max(1, Math.round(steps / 4)) },
  evaluation: { ...common, batch: quick ? 2 : 64, size: quick ? 64 : 224, warmup: quick ? 0 : 1, steps: Math.max(1, Math.round(steps / 4)) },
  dataPipeline: { ...common, size: 224 },
  seedEpoch: { ...common, size: quick ? 64 : 224 },
};

function side(lang, figure, args) {
  const cmd = lang === 'torchbridge'
    ? [process.execPath, [path.join(__dirname, 'torchbridge-side.js'), figure, JSON.stringify(args)]]
    : ['/usr/bin/python3', [path.join(__dirname, 'python', 'bench_side.py'), figure.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), JSON.stringify(args)]];
  process.stderr.write(`${lang}: ${figure}...\n`);
  const out = execFileSync(cmd[0], cmd[1], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

const ours = {};
const theirs = {};
for (const [figure, args] of Object.entries(runs)) {
  theirs[figure] = side('pytorch', figure, args);
  ours[figure] = side('torchbridge', figure, args);
}
const exactStep = side('torchbridge', 'seedStep', { ...runs.seedStep, exact: true });

// ratio: torchbridge time / PyTorch time (lower is better), or torchbridge / PyTorch for the rest.
const round = (x, d = 3) => Number(x.toPrecision(d));
const figures = [
  { figure: 'seed per-sample step (fwd+bwd+Adam), median s', unit: 's', torchbridge: ours.seedStep.seconds, pytorch: theirs.seedStep.seconds, ratioKind: 'time', target: '<= 0.5' },
  { figure: 'same, --exact (op-by-op Adam), median s', unit: 's', torchbridge: exactStep.seconds, pytorch: theirs.seedStep.seconds, ratioKind: 'time', target: '' },
  { figure: `batched training, batch ${runs.batchedTraining.batch} at ${runs.batchedTraining.size}px, images/s`, unit: 'images/s', torchbridge: ours.batchedTraining.imagesPerSecond, pytorch: theirs.batchedTraining.imagesPerSecond, ratioKind: 'rate', target: '<= 1.0' },
  { figure: `evaluation, batch ${runs.evaluation.batch}, images/s`, unit: 'images/s', torchbridge: ours.evaluation.imagesPerSecond, pytorch: theirs.evaluation.imagesPerSecond, ratioKind: 'rate', target: '<= 1.0' },
  { figure: 'data pipeline: decode + resize(224) + toTensor, images/s', unit: 'images/s', torchbridge: ours.dataPipeline.imagesPerSecond, pytorch: theirs.dataPipeline.imagesPerSecond, ratioKind: 'throughput', target: '>= 3x' },
  { figure: `seed epoch end to end (${ours.seedEpoch.steps} steps), s`, unit: 's', torchbridge: ours.seedEpoch.seconds, pytorch: theirs.seedEpoch.seconds, ratioKind: 'time', target: '<= 0.5' },
  { figure: 'peak RSS during batched training, MB', unit: 'MB', torchbridge: ours.batchedTraining.peakRssMB, pytorch: theirs.batchedTraining.peakRssMB, ratioKind: 'size', target: '<= 1.1x' },
  { figure: 'largest event-loop stall during the seed epoch, ms', unit: 'ms', torchbridge: ours.seedEpoch.maxEventLoopStallMs, pytorch: null, ratioKind: 'none', target: '<= 50 ms' },
];
for (const f of figures) {
  // Time ratios: torchbridge time / PyTorch time, so rates are inverted; throughput is ours / theirs.
  if (f.ratioKind === 'time' || f.ratioKind === 'size') f.ratio = round(f.torchbridge / f.pytorch);
  else if (f.ratioKind === 'rate') f.ratio = round(f.pytorch / f.torchbridge);
  else if (f.ratioKind === 'throughput') f.ratio = round(f.torchbridge / f.pytorch);
  else f.ratio = null;
  f.torchbridge = round(f.torchbridge, 4);
  if (f.pytorch !== null) f.pytorch = round(f.pytorch, 4);
}

const info = buildInfo();
const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0].model}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  cores: os.cpus().length,
  libtorch: info.torchVersion,
  pytorch: execFileSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).trim(),
  threads: argv.threads,
  quick,
  figures,
};
fs.writeFileSync(argv.out, `${JSON.stringify(results, null, 2)}\n`);

console.log(`${results.machine}; libtorch ${results.libtorch} (torchbridge) vs PyTorch ${results.pytorch}; ${results.threads} threads each${quick ? '; --quick (not a measurement)' : ''}\n`);
console.log('| figure | torchbridge | PyTorch | ratio | target |');
console.log('|---|---|---|---|---|');
for (const f of figures) {
  console.log(`| ${f.figure} | ${f.torchbridge} | ${f.pytorch ?? '-'} | ${f.ratio ?? '-'} | ${f.target} |`);
}
console.log(`\nRatios: time and memory are torchbridge / PyTorch, training and evaluation rates PyTorch / torchbridge (lower is better), the data pipeline torchbridge / PyTorch (higher is better). Written to ${argv.out}`);
