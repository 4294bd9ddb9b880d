'use strict';
// Long work runs off the JS thread, and overlapping misuse is refused instead of racing.
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, models, tensor, rand, manualSeed } = require('torchbridge');

function seedModel() {
  manualSeed(0);
  return new nn.Sequential(models.alexnet(), new nn.Linear(1000, 2), new nn.Softmax({ dim: 1 }));
}

test('an AlexNet training step does not stall a 10 ms timer', async (t) => {
  const model = seedModel();
  const criterion = new nn.CrossEntropyLoss();
  const opt = new optim.Adam(model.parameters(), { lr: 1e-4 });
  const x = rand([1, 3, 224, 298]);
  const y = tensor([1], { dtype: 'int64' });
  const step = async () => {
    opt.zeroGrad();
    const out = await model.forward(x);
    const loss = await criterion.forward(out, y);
    await loss.backward();
    await opt.step();
    out.dispose();
    loss.dispose();
  };
  await step(); // first step allocates Adam state; measure the steady state and the first alike
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const started = performance.now();
  await step();
  await step();
  const elapsed = performance.now() - started;
  clearInterval(timer);
  t.diagnostic(`two steps took ${elapsed.toFixed(0)} ms; timer fired ${ticks} times; largest gap ${maxGap.toFixed(1)} ms`);
  assert.ok(elapsed > 500, 'the work measured is long enough to matter');
  assert.ok(maxGap < 100, `largest timer gap ${maxGap} ms`);
  model.dispose();
  for (const s of opt.state.values()) { s.expAvg.dispose(); s.expAvgSq.dispose(); }
});

test('overlapping steps on one model get a clear BUSY error, not a race or a crash', async () => {
  const model = new nn.Sequential(new nn.Linear(512, 512), new nn.ReLU(), new nn.Linear(512, 2));
  const criterion = new nn.CrossEntropyLoss();
  const opt = new optim.Adam(model.parameters());
  const x = rand([256, 512]);
  const y = tensor(Array(256).fill(1), { dtype: 'int64' });
  const out = await model.forward(x);
  const loss = await criterion.forward(out, y);
  const backward = loss.backward();
  // A step or zeroGrad while backward still runs.
  await assert.rejects(opt.step(), { code: 'BUSY', message: /optim\.Adam\.step: a backward\(\) is still running/ });
  assert.throws(() => opt.zeroGrad(), { code: 'BUSY' });
  await backward;
  // A forward while the optimizer updates the weights, and a second step at once.
  const step = opt.step();
  await assert.rejects(model.forward(x), { code: 'BUSY', message: /nn\.functional\.linear: .*being updated by another operation/ });
  await assert.rejects(opt.step(), { code: 'BUSY', message: /previous step\(\) is still running/ });
  await step;
  // A step while a forward reads the weights.
  const forward = model.forward(x);
  await assert.rejects(opt.step(), { code: 'BUSY' });
  await forward;
  // Everything works again once awaited.
  const out2 = await model.forward(x);
  await (await criterion.forward(out2, y)).backward();
  await opt.step();
});
