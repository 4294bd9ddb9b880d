'use strict';
// The seed's training loop on AlexNet, torchbridge vs Debian's PyTorch 1.13.1, a few steps over
// two epochs: batch 1, Softmax head, zeroGrad once per epoch, Adam, CosineAnnealingLR, dropout on.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { nn, optim, models, tensor, rand, manualSeed, getNumThreads } = require('torchbridge');
const { havePyTorch, reference, tmpDir, maxAbsDiff } = require('./helpers/reference');

const spec = {
  seed: 1234, lr: 1e-4, tMax: 2, epochs: 2, threads: getNumThreads(),
  sizes: [[224, 298], [298, 224], [224, 224]], labels: [0, 1, 1],
};

test('seed loop on AlexNet matches PyTorch step for step', { skip: !havePyTorch() && 'Debian python3-torch not installed' }, async (t) => {
  const dir = tmpDir('seed-loop');
  const weightsFile = path.join(dir, 'python-weights.bin');
  const ref = reference('seed_loop', { ...spec, weightsFile });

  manualSeed(spec.seed);
  const model = new nn.Sequential(models.alexnet(), new nn.Linear(1000, 2), new nn.Softmax({ dim: 1 }));
  const images = spec.sizes.map(([h, w]) => rand([3, h, w]));
  manualSeed(spec.seed + 1);
  const criterion = new nn.CrossEntropyLoss();
  model.train();
  const opt = new optim.Adam(model.parameters(), { lr: spec.lr });
  const scheduler = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: spec.tMax, lastEpoch: -1 });
  const losses = [];
  const outputs = [];
  const lrs = [];
  for (let epoch = 0; epoch < spec.epochs; epoch++) {
    opt.zeroGrad();
    for (let i = 0; i < images.length; i++) {
      const input = images[i].unsqueeze(0);
      const target = tensor([spec.labels[i]], { dtype: 'int64' });
      const out = await model.forward(input);
      const loss = await criterion.forward(out, target);
      await loss.backward();
      await opt.step();
      losses.push(loss.item());
      outputs.push(...out.toArray());
      [input, target, out, loss].forEach((x) => x.dispose());
    }
    scheduler.step();
    lrs.push(scheduler.getLastLr()[0]);
  }

  const lossDiff = maxAbsDiff(losses, ref.losses);
  const outDiff = maxAbsDiff(outputs, ref.outputs.flat());
  const python = new Float32Array(fs.readFileSync(weightsFile).buffer.slice(0));
  let offset = 0;
  let weightDiff = 0;
  let bitwise = true;
  for (const [, w] of model.stateDict()) {
    const ours = w.toArray();
    const theirs = python.subarray(offset, offset + ours.length);
    offset += ours.length;
    weightDiff = Math.max(weightDiff, maxAbsDiff(ours, theirs));
    bitwise &&= Buffer.compare(Buffer.from(ours.buffer), Buffer.from(theirs.slice().buffer)) === 0;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  t.diagnostic(`losses max|diff| ${lossDiff}, outputs ${outDiff}, final weights ${weightDiff} over ${offset} values (bitwise: ${bitwise}), lrs ${JSON.stringify(lrs)}`);
  assert.equal(offset, python.length);
  assert.ok(lossDiff <= 1e-6, `losses differ by ${lossDiff}`);
  assert.ok(outDiff <= 1e-6, `outputs differ by ${outDiff}`);
  assert.ok(weightDiff <= 1e-6, `weights differ by ${weightDiff}`);
  assert.deepEqual(lrs, ref.lrs);
  // The weights moved: the comparison is not of two untouched initialisations.
  assert.ok(new Set(ref.losses).size > 1);
});
