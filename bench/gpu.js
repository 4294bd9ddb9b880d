#!/usr/bin/env node
'use strict';
// The GPU figures: torchbridge vs PyTorch on the same GPU, same inputs, one fresh process per
// figure and side (the figure code is bench/torchbridge-side.js and bench/python/bench_side.py).
// Prints a markdown table and writes results-gpu.json. Run by scripts/gpu-check.sh; `--device cpu
// --quick` checks it runs anywhere.
// Usage: node bench/gpu.js [--python PY] [--device cuda] [--steps N] [--quick] [--out FILE]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const yargs = require('yargs/yargs');
const { buildInfo, getNumThreads } = require('..');

const argv = yargs(process.argv.slice(2))
  .option('python', { type: 'string', default: process.env.TORCHBRIDGE_PYTHON || '/usr/bin/python3', describe: 'The PyTorch to compare with' })
  .option('device', { type: 'string', default: 'cuda' })
  .option('steps', { type: 'number', default: 30, describe: 'Timed steps per figure' })
  .option('quick', { type: 'boolean', default: false, describe: 'Tiny inputs, one step: checks that the bench runs' })
  .option('out', { type: 'string', default: path.join(__dirname, 'results-gpu.json') })
  .strict()
  .parse();

const quick = argv.quick;
const steps = quick ? 1 : argv.steps;
const base = { threads: getNumThreads(), device: argv.device, warmup: quick ? 0 : 5, steps };
const size = quick ? 64 : 224;
const trainBatch = quick ? 2 : 128;
const evalBatch = quick ? 2 : 256;
const runs = [
  { key: 'seedStep', figure: 'seedStep', args: { height: quick ? 64 : 224, width: quick ? 85 : 298 }, label: 'seed per-sample step (fwd+bwd+Adam, 224x298), median s', kind: 'time' },
  { key: 'train', figure: 'batchedTraining', args: { batch: trainBatch, size }, label: `batched training, batch ${trainBatch} at ${size}px, fp32, images/s`, kind: 'rate' },
  { key: 'trainFp16', figure: 'batchedTraining', args: { batch: trainBatch, size, amp: 'fp16' }, label: `same, AMP float16 + GradScaler, images/s`, kind: 'rate', cudaOnly: true },
  { key: 'trainBf16', figure: 'batchedTraining', args: { batch: trainBatch, size, amp: 'bf16' }, label: `same, AMP bfloat16, images/s`, kind: 'rate' },
  { key: 'eval', figure: 'evaluation', args: { batch: evalBatch, size }, label: `evaluation, batch ${evalBatch}, fp32, images/s`, kind: 'rate' },
  { key: 'evalFp16', figure: 'evaluation', args: { batch: evalBatch, size, amp: 'fp16' }, label: `evaluation, batch ${evalBatch}, AMP float16, images/s`, kind: 'rate', cudaOnly: true },
].filter((r) => argv.device.startsWith('cuda') || !r.cudaOnly);

function side(lang, figure, args) {
  const cmd = lang === 'torchbridge'
    ? [process.execPath, [path.join(__dirname, 'torchbridge-side.js'), figure, JSON.stringify(args)]]
    : [argv.python, [path.join(__dirname, 'python', 'bench_side.py'), figure.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), JSON.stringify(args)]];
  process.stderr.write(`${lang}: ${figure} ${JSON.stringify(args)}\n`);
  const out = execFileSync(cmd[0], cmd[1], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

const round = (x, d = 4) => Number(x.toPrecision(d));
const figures = runs.map((r) => {
  const args = { ...base, ...r.args };
  const theirs = side('pytorch', r.figure, args);
  const ours = side('torchbridge', r.figure, args);
  const value = (x) => (r.kind === 'time' ? x.seconds : x.imagesPerSecond);
  const [t, p] = [value(ours), value(theirs)];
  // Lower is better: torchbridge time / PyTorch time, or PyTorch rate / torchbridge rate.
  return { figure: r.label, key: r.key, torchbridge: round(t), pytorch: round(p), ratio: round(r.kind === 'time' ? t / p : p / t, 3) };
});

const query = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
};
const results = {
  date: new Date().toISOString(),
  gpu: query('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader']),
  machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`,
  device: argv.device,
  libtorch: buildInfo().torchVersion,
  pytorch: query(argv.python, ['-c', 'import torch; print(torch.__version__, torch.version.cuda)']),
  quick,
  figures,
};
fs.writeFileSync(argv.out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`${results.gpu ?? argv.device}; libtorch ${results.libtorch} (torchbridge) vs PyTorch ${results.pytorch}${quick ? '; --quick (not a measurement)' : ''}\n`);
console.log('| figure | torchbridge | PyTorch | ratio |');
console.log('|---|---|---|---|');
for (const f of figures) console.log(`| ${f.figure} | ${f.torchbridge} | ${f.pytorch} | ${f.ratio} |`);
console.log(`\nRatios are torchbridge time / PyTorch time and PyTorch rate / torchbridge rate: lower is better. Written to ${argv.out}`);
