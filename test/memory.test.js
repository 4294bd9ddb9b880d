'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, tensor, rand, memory, scope, manualSeed } = require('torchbridge');

test('1,000 small training steps keep the live tensor count flat and RSS bounded', async (t) => {
  manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(32, 64), new nn.ReLU(), new nn.Linear(64, 4));
  const criterion = new nn.CrossEntropyLoss();
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const sched = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 100 });
  const x = rand([16, 32]);
  const y = tensor(Array.from({ length: 16 }, (_, i) => i % 4), { dtype: 'int64' });
  const counts = [];
  const rss = [];
  for (let step = 0; step < 1000; step++) {
    await scope(async () => {
      opt.zeroGrad();
      const out = await model.forward(x);
      const loss = await criterion.forward(out, y);
      await loss.backward();
      await opt.step();
      sched.step();
      out.argmax(1).eq(y).sum().item();
      model.parameters()[0].grad; // a fresh handle each time, freed by the scope
    });
    if (step % 100 === 99) {
      counts.push(memory().tensors);
      rss.push(process.memoryUsage().rss);
    }
  }
  t.diagnostic(`live tensors every 100 steps: ${counts.join(', ')}; RSS MB: ${rss.map((r) => (r / 2 ** 20).toFixed(0)).join(', ')}`);
  assert.ok(counts.every((c) => c === counts[0]), 'tensor count is flat');
  assert.ok(rss[rss.length - 1] - rss[1] < 64 * 2 ** 20, 'RSS grew less than 64 MB after warm-up');
});

test('GC finalizers free handles that were never disposed (backstop)', () => {
  const { execFileSync } = require('child_process');
  const script = `
    const { rand, memory } = require('torchbridge');
    const before = memory();
    (function churn() { for (let i = 0; i < 200; i++) rand([1000]); })();
    const held = memory();
    global.gc();
    setTimeout(() => { global.gc(); setTimeout(() => console.log(JSON.stringify({ before, held, after: memory() })), 20); }, 20);
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { cwd: __dirname, encoding: 'utf8' }));
  assert.equal(out.held.tensors, out.before.tensors + 200);
  assert.ok(out.after.tensors < out.before.tensors + 20, `after GC: ${JSON.stringify(out.after)}`);
  assert.ok(out.after.bytes < out.held.bytes);
});
