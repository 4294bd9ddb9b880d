'use strict';
// The seed's training loop on AlexNet, torchbridge against the Python reference (cmd_seed_loop),
// on one device: batch 1, Softmax head, zeroGrad once per epoch, Adam, CosineAnnealingLR, dropout on.
const fs = require('fs');
const path = require('path');
const { nn, optim, models, tensor, rand, manualSeed } = require('torchbridge');
const { reference, tmpDir, maxAbsDiff } = require('./reference');

async function compareSeedLoop(spec) {
  const device = spec.device ?? 'cpu';
  const dir = tmpDir(`seed-loop-${device.replace(':', '')}`);
  const weightsFile = path.join(dir, 'python-weights.bin');
  const ref = reference('seed_loop', { ...spec, weightsFile });

  manualSeed(spec.seed);
  const model = new nn.Sequential(models.alexnet(), new nn.Linear(1000, 2), new nn.Softmax({ dim: 1 }));
  const images = spec.sizes.map(([h, w]) => rand([3, h, w]).to(device));
  await model.to(device);
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
      const target = tensor([spec.labels[i]], { dtype: 'int64', device });
      const out = await model.forward(input);
      const loss = await criterion.forward(out, target);
      await loss.backward();
      await opt.step();
      losses.push(loss.item());
      outputs.push(...out.to('cpu').toArray());
      [input, target, out, loss].forEach((x) => x.dispose());
    }
    scheduler.step();
    lrs.push(scheduler.getLastLr()[0]);
  }

  const python = new Float32Array(fs.readFileSync(weightsFile).buffer.slice(0));
  let offset = 0;
  let weightDiff = 0;
  let bitwise = true;
  for (const [, w] of model.stateDict()) {
    const ours = w.to('cpu').toArray();
    const theirs = python.subarray(offset, offset + ours.length);
    offset += ours.length;
    weightDiff = Math.max(weightDiff, maxAbsDiff(ours, theirs));
    bitwise &&= Buffer.compare(Buffer.from(ours.buffer), Buffer.from(theirs.slice().buffer)) === 0;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  model.dispose();
  return {
    lossDiff: maxAbsDiff(losses, ref.losses), outDiff: maxAbsDiff(outputs, ref.outputs.flat()), weightDiff, bitwise,
    values: offset, pythonValues: python.length, lrs, refLrs: ref.lrs, refLosses: ref.losses,
  };
}

module.exports = { compareSeedLoop };
