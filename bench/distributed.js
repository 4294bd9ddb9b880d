#!/usr/bin/env node
'use strict';
// Data-parallel scaling on this machine (not a test): one finetune epoch on the train set with
// `train.js --nproc-per-node N` for N = 1 and 2, images/s from the epoch's time (no validation in
// it), and the gradient bytes each step averages across ranks.
// Usage: node bench/distributed.js [--data DIR] [--procs 1,2]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { data, models } = require('..');

const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i >= 0 ? process.argv[i + 1] : fallback; };
const dataDir = arg('--data', path.join(__dirname, '..', '..', 'shared', 'data', 'hymenoptera_data'));
const procs = arg('--procs', '1,2').split(',').map(Number);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-dist-bench-'));

const model = models.alexnet({ numClasses: 2 });
const gradientBytes = model.parameters().reduce((n, p) => n + p.numel() * 4, 0);
model.dispose();

async function main() {
  const images = (await data.ImageFolder.create(path.join(dataDir, 'train'))).length;
  const rows = [];
  for (const n of procs) {
    const out = path.join(tmp, `n${n}`);
    const stdout = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'train.js'), '--nproc-per-node', String(n), '--data', dataDir,
      '--weights', 'none', '--epochs', '2', '--eval-every', '0', '--json', '--out', out], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const epoch = stdout.split('\n').filter((l) => l.startsWith('{"event":"epoch"')).map((l) => JSON.parse(l))[0];
    rows.push({ processes: n, threadsEach: Math.max(1, Math.floor(os.cpus().length / n)), seconds: epoch.seconds, imagesPerSecond: images / epoch.seconds });
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${os.cpus()[0].model}, ${os.cpus().length} cores; finetune recipe, batch 32 per process, ${images} train images, 1 epoch`);
console.log('| processes | threads each | epoch s | images/s | vs 1 process |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.processes} | ${r.threadsEach} | ${r.seconds.toFixed(1)} | ${r.imagesPerSecond.toFixed(1)} | ${(r.imagesPerSecond / rows[0].imagesPerSecond).toFixed(2)}x |`);
console.log(`gradients averaged per step: ${(gradientBytes / 2 ** 20).toFixed(1)} MiB (${gradientBytes} bytes); Gloo's ring allreduce sends about 2(N-1)/N of that per rank, ${(gradientBytes / 2 ** 20).toFixed(1)} MiB at N = 2`);
}

main().catch((e) => { console.error(e); process.exit(1); });
