#!/usr/bin/env node
'use strict';
// Data pipeline throughput, torchbridge vs torchvision (Debian's python3-torchvision), side by side
// on this machine: the two recipes' evaluation transforms over an ImageFolder, images/s. Not a test.
// Usage: node bench/data-pipeline.js [--data DIR] [--passes N] [--pipeline resize|eval|both]
const path = require('path');
const os = require('os');
const { execFileSync } = require('child_process');
const { data, training, getNumThreads } = require('..');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const root = arg('--data', path.join(__dirname, '..', '..', 'shared', 'data', 'hymenoptera_data', 'train'));
  const passes = Number(arg('--passes', '3'));
  const concurrency = Number(arg('--concurrency', String(os.cpus().length)));
  // resize: the seed recipe's transform, the figure since the first round; eval: the finetune
  // recipe's validation transform, whose resize and crop run as one native pass.
  const only = arg('--pipeline', 'both');
  const pipelines = {
    resize: () => training.evalTransform({ recipe: 'seed', imageSize: 224, normalize: false }),
    eval: () => training.evalTransform({ recipe: 'finetune', imageSize: 224, normalize: true }),
  };
  if (only !== 'both' && !(only in pipelines)) throw new Error(`--pipeline: expected resize, eval or both, got '${only}'`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const epoch = async (loader) => {
    const start = process.hrtime.bigint();
    for await (const b of loader) { b.input.dispose(); b.target.dispose(); }
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  const results = [];
  for (const [name, transform] of Object.entries(pipelines)) {
    if (only !== 'both' && only !== name) continue;
    const ds = await data.ImageFolder.create(root, { transform: transform() });
    const ours = [];
    for (let p = 0; p < passes; p++) ours.push(await epoch(new data.DataLoader(ds, { batchSize: 1, concurrency })));
    // With cache: true the first epoch decodes, later epochs reuse the decoded pixels.
    const cachedLoader = new data.DataLoader(ds, { batchSize: 1, concurrency, cache: true });
    await epoch(cachedLoader);
    const cached = [];
    for (let p = 0; p < passes; p++) cached.push(await epoch(cachedLoader));
    const py = JSON.parse(execFileSync('/usr/bin/python3', [path.join(__dirname, 'python', 'data_pipeline.py'), root, String(passes), String(getNumThreads()), name], { encoding: 'utf8' }));
    const oursRate = ds.length / median(ours);
    const cachedRate = ds.length / median(cached);
    const theirRate = py.images / median(py.seconds);
    results.push({
      pipeline: name,
      images: ds.length,
      passes,
      concurrency,
      torchbridgeImagesPerSecond: Number(oursRate.toFixed(1)),
      torchbridgeCachedEpochImagesPerSecond: Number(cachedRate.toFixed(1)),
      torchvisionImagesPerSecond: Number(theirRate.toFixed(1)),
      ratio: Number((oursRate / theirRate).toFixed(2)),
      cachedRatio: Number((cachedRate / theirRate).toFixed(2)),
    });
  }
  const titles = { resize: 'decode + resize(224) + toTensor', eval: 'decode + resize(256) + centerCrop(224) + toTensor + normalize' };
  for (const r of results) {
    console.log(`\n| ${titles[r.pipeline]}, ${r.images} images | images/s | vs torchvision |`);
    console.log('|---|---|---|');
    console.log(`| torchvision ImageFolder + PIL (1 process) | ${r.torchvisionImagesPerSecond} | 1x |`);
    console.log(`| torchbridge, every epoch decodes (concurrency ${r.concurrency}) | ${r.torchbridgeImagesPerSecond} | ${r.ratio}x |`);
    console.log(`| torchbridge, cache: true, epochs after the first | ${r.torchbridgeCachedEpochImagesPerSecond} | ${r.cachedRatio}x |`);
  }
  console.log(JSON.stringify({ machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`, results }));
}

main().catch((e) => { console.error(e); process.exit(1); });
