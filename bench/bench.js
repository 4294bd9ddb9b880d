#!/usr/bin/env node
'use strict';
// torchbridge vs Python PyTorch, side by side on this machine, same inputs and thread count, for
// each libtorch torchbridge is built on: the main build (pip's PyTorch 2.x in .venv, against that
// PyTorch with its fastest CPU Adam, fused=True, and with its default Adam) and the 1.13 lane
// (Debian's libtorch, against Debian's PyTorch 1.13). Each figure runs in a fresh process per
// side (so peak RSS is the figure's own). Prints markdown tables and writes bench/results.json.
// Not a test; `--quick` is the CI smoke run.
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
  .option('profile', { type: 'boolean', default: false, describe: "Also time the seed step's phases (forward, backward, Adam) apart on both sides" })
  .option('main-only', { type: 'boolean', default: false, describe: "Compare the main build only, not also the 1.13 lane's" })
  .option('out', { type: 'string', default: path.join(__dirname, 'results.json') })
  .strict()
  .parse();

const quick = argv.quick;
const steps = quick ? 1 : argv.steps;
const common = { threads: argv.threads, data: path.join(argv.data, 'train'), limit: quick ? 4 : 0 };
// The batched figures, AlexNet's and resnet18's alike.
const batched = (batch) => ({ ...common, batch: quick ? 2 : batch, size: quick ? 64 : 224, warmup: quick ? 0 : 1, steps: Math.max(1, Math.round(steps / 4)) });
const runs = {
  seedStep: { ...common, height: quick ? 64 : 224, width: quick ? 85 : 298, warmup: quick ? 0 : 2, steps },
  batchedTraining: batched(32),
  evaluation: batched(64),
  dataPipeline: { ...common, size: 224 },
  seedEpoch: { ...common, size: quick ? 64 : 224 },
  resnet18Training: batched(32),
  resnet18Evaluation: batched(64),
};

const ROOT = path.join(__dirname, '..');
const LANE_ADDON = path.join(ROOT, '.lanes', 'libtorch-1.13', 'build', 'Release', 'torchbridge.node');
const query = (py, code) => execFileSync(py, ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

// One comparison per libtorch: torchbridge on it, and the Python PyTorch of the same version.
const pairs = [];
const venvPython = path.join(ROOT, '.venv', 'bin', 'python');
const main = buildInfo().torchVersion;
if (fs.existsSync(venvPython) && /^\d+\.\d+\.\d+/.exec(query(venvPython, 'import torch; print(torch.__version__)'))[0] === main) {
  pairs.push({ name: main, env: {}, python: venvPython, fused: !main.startsWith('1.') });
}
// --quick (the CI smoke run) compares the main build only: every pair costs a dozen processes.
if (quick || argv.mainOnly) { /* main build only */ } else if (fs.existsSync(LANE_ADDON)) pairs.push({ name: '1.13 (Debian)', env: { TORCHBRIDGE_ADDON: LANE_ADDON }, python: '/usr/bin/python3', fused: false });
else if (main.startsWith('1.13')) pairs.push({ name: main, env: {}, python: '/usr/bin/python3', fused: false });

function side(lang, figure, args, pair) {
  const cmd = lang === 'torchbridge'
    ? [process.execPath, [path.join(__dirname, 'torchbridge-side.js'), figure, JSON.stringify(args)]]
    : [pair.python, [path.join(__dirname, 'python', 'bench_side.py'), figure.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), JSON.stringify(args)]];
  process.stderr.write(`${pair.name} ${lang}${args.fused ? ' (fused Adam)' : ''}: ${figure}...\n`);
  const out = execFileSync(cmd[0], cmd[1], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20, env: { ...process.env, ...pair.env } });
  return JSON.parse(out.trim().split('\n').pop());
}

// ratio: torchbridge time / PyTorch time (lower is better), or torchbridge / PyTorch for the rest.
const round = (x, d = 3) => Number(x.toPrecision(d));
function compare(pair) {
  const hasVision = (() => { try { query(pair.python, 'import torchvision'); return true; } catch { return false; } })();
  const ours = {};
  const theirs = {};
  for (const [figure, args] of Object.entries(runs)) {
    // ImageFolder and PIL transforms need torchvision (pip's CPU torch has none).
    if (['dataPipeline', 'seedEpoch'].includes(figure) && !hasVision) continue;
    theirs[figure] = side('pytorch', figure, { ...args, fused: pair.fused }, pair);
    ours[figure] = side('torchbridge', figure, args, pair);
  }
  const exactStep = side('torchbridge', 'seedStep', { ...runs.seedStep, exact: true }, pair);
  const defaultAdam = pair.fused ? side('pytorch', 'seedStep', runs.seedStep, pair) : theirs.seedStep;
  const adam = pair.fused ? 'fused Adam' : 'Adam';
  const figures = [
    { figure: `seed per-sample step (fwd+bwd+Adam), median s, vs PyTorch's ${adam}`, torchbridge: ours.seedStep.seconds, pytorch: theirs.seedStep.seconds, ratioKind: 'time', target: '<= 0.8' },
    ...(pair.fused ? [{ figure: "same, vs PyTorch's default (op-by-op) Adam", torchbridge: ours.seedStep.seconds, pytorch: defaultAdam.seconds, ratioKind: 'time', target: '' }] : []),
    { figure: 'same, torchbridge --exact (op-by-op Adam), median s', torchbridge: exactStep.seconds, pytorch: defaultAdam.seconds, ratioKind: 'time', target: '' },
    { figure: `batched training, batch ${runs.batchedTraining.batch} at ${runs.batchedTraining.size}px, images/s`, torchbridge: ours.batchedTraining.imagesPerSecond, pytorch: theirs.batchedTraining.imagesPerSecond, ratioKind: 'rate', target: '<= 0.8' },
    { figure: `evaluation, batch ${runs.evaluation.batch}, images/s`, torchbridge: ours.evaluation.imagesPerSecond, pytorch: theirs.evaluation.imagesPerSecond, ratioKind: 'rate', target: '<= 1.0' },
    ...(ours.dataPipeline ? [{ figure: 'data pipeline: decode + resize(224) + toTensor, images/s', torchbridge: ours.dataPipeline.imagesPerSecond, pytorch: theirs.dataPipeline.imagesPerSecond, ratioKind: 'throughput', target: '>= 3x' }] : []),
    ...(ours.seedEpoch ? [{ figure: `seed epoch end to end (${ours.seedEpoch.steps} steps), s`, torchbridge: ours.seedEpoch.seconds, pytorch: theirs.seedEpoch.seconds, ratioKind: 'time', target: '<= 0.5' }] : []),
    { figure: 'peak RSS during batched training, MB', torchbridge: ours.batchedTraining.peakRssMB, pytorch: theirs.batchedTraining.peakRssMB, ratioKind: 'size', target: '<= 1.1x' },
    ...(ours.seedEpoch ? [{ figure: 'largest event-loop stall during the seed epoch, ms', torchbridge: ours.seedEpoch.maxEventLoopStallMs, pytorch: null, ratioKind: 'none', target: '<= 50 ms' }] : []),
    { figure: `resnet18 training, batch ${runs.resnet18Training.batch} at ${runs.resnet18Training.size}px, images/s`, torchbridge: ours.resnet18Training.imagesPerSecond, pytorch: theirs.resnet18Training.imagesPerSecond, ratioKind: 'rate', target: '' },
    { figure: `resnet18 evaluation, batch ${runs.resnet18Evaluation.batch} at ${runs.resnet18Evaluation.size}px, images/s`, torchbridge: ours.resnet18Evaluation.imagesPerSecond, pytorch: theirs.resnet18Evaluation.imagesPerSecond, ratioKind: 'rate', target: '' },
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
  const comparison = { libtorch: pair.name, pytorch: query(pair.python, 'import torch; print(torch.__version__)'), fusedAdam: pair.fused, figures };
  if (argv.profile) comparison.seedStepProfile = profile(pair);
  return comparison;
}

// Where the seed step's time goes: each phase's median on each side, with each side's Adam variants.
function profile(pair) {
  const rows = [
    ['torchbridge fused: true', side('torchbridge', 'seedStepParts', runs.seedStep, pair)],
    ['torchbridge --exact', side('torchbridge', 'seedStepParts', { ...runs.seedStep, exact: true }, pair)],
    ['PyTorch default Adam', side('pytorch', 'seedStepParts', runs.seedStep, pair)],
  ];
  if (pair.fused) rows.push(['PyTorch fused=True', side('pytorch', 'seedStepParts', { ...runs.seedStep, fused: true }, pair)]);
  return rows.map(([who, parts]) => ({ who, ...Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v, 3)])) }));
}

if (pairs.length === 0) throw new Error('bench: no Python PyTorch of the linked libtorch\'s version (run npm run setup)');
const comparisons = pairs.map(compare);

const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0].model}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  cores: os.cpus().length,
  threads: argv.threads,
  quick,
  comparisons,
};
fs.writeFileSync(argv.out, `${JSON.stringify(results, null, 2)}\n`);

for (const c of comparisons) {
  console.log(`\n${results.machine}; torchbridge on libtorch ${c.libtorch} vs PyTorch ${c.pytorch}${c.fusedAdam ? ' (Adam fused=True)' : ''}; ${results.threads} threads each${quick ? '; --quick (not a measurement)' : ''}\n`);
  console.log('| figure | torchbridge | PyTorch | ratio | target |');
  console.log('|---|---|---|---|---|');
  for (const f of c.figures) console.log(`| ${f.figure} | ${f.torchbridge} | ${f.pytorch ?? '-'} | ${f.ratio ?? '-'} | ${f.target} |`);
  if (c.seedStepProfile) {
    console.log('\nThe seed step by phase, median s:\n\n| side | forward + loss | backward | optimizer step |\n|---|---|---|---|');
    for (const r of c.seedStepProfile) console.log(`| ${r.who} | ${r.forward} | ${r.backward} | ${r.step} |`);
  }
}
console.log(`\nRatios: time and memory are torchbridge / PyTorch, training and evaluation rates PyTorch / torchbridge (lower is better), the data pipeline torchbridge / PyTorch (higher is better). Written to ${argv.out}`);
