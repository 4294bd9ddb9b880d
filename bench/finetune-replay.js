#!/usr/bin/env node
'use strict';
// Writes the random draws of `node dist/train.js --recipe finetune --seed S`'s training data:
// each epoch's sample order and each sample's RandomResizedCrop box and flip. With them,
// bench/python/finetune_replay.py trains PyTorch on exactly the crops torchbridge trained on (and,
// with the same torch.manual_seed, the same initial weights and dropout masks), which tells a
// difference in the implementations apart from the luck of the draw.
// Usage: node bench/finetune-replay.js DATA SEED EPOCHS OUT.json
const fs = require('fs');
const path = require('path');
const { data } = require('..');
const { permutation } = require('../dist/data/dataloader');
const { ImagePlan, Rng, probe } = require('../dist/data/transforms');

(async () => {
  const [root, seedArg, epochsArg, out] = process.argv.slice(2);
  const seed = Number(seedArg);
  const epochs = Number(epochsArg);
  const t = data.transforms;
  // The finetune recipe's train pipeline (src/training/recipe.ts, trainTransform); normalisation draws nothing.
  const randomSteps = [t.randomResizedCrop(224), t.randomHorizontalFlip()];
  const ds = await data.ImageFolder.create(path.join(root, 'train'));
  const sizes = await Promise.all(ds.samples.map(([file]) => probe(file)));
  const result = { seed, samples: ds.samples, epochs: [] };
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = permutation(ds.length, seed, epoch);
    const crops = ds.samples.map((_, i) => {
      const plan = new ImagePlan(sizes[i].width, sizes[i].height);
      const rng = new Rng(seed, epoch, i);
      for (const step of randomSteps) step.apply(plan, rng);
      const box = plan.ops.find((op) => op.kind === 'extract') ?? { left: 0, top: 0, width: sizes[i].width, height: sizes[i].height };
      return { left: box.left, top: box.top, width: box.width, height: box.height, flip: plan.flipped };
    });
    result.epochs.push({ order, crops });
  }
  fs.writeFileSync(out, JSON.stringify(result));
  console.log(`wrote ${epochs} epochs of draws for ${ds.length} images to ${out}`);
})();
