'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, tensor, noGrad, enableGrad, isGradEnabled, rand } = require('torchbridge');

test('gradients accumulate across backward() until zeroGrad()', async () => {
  const w = tensor([2, 3], { requiresGrad: true });
  const x = tensor([1, 10]);
  for (let i = 0; i < 3; i++) await w.mul(x).sum().backward();
  assert.deepEqual(Array.from(w.grad.toArray()), [3, 30]);
  const opt = new optim.SGD([w], { lr: 0.1 });
  opt.zeroGrad();
  assert.deepEqual(Array.from(w.grad.toArray()), [0, 0]);
  opt.zeroGrad({ setToNone: true });
  assert.equal(w.grad, null);
  await w.mul(x).sum().backward();
  assert.deepEqual(Array.from(w.grad.toArray()), [1, 10]);
});

test('zeroGrad leaves unshared gradients to be zeroed by their next reader, with the same results', async () => {
  const w = tensor([2, -3], { requiresGrad: true });
  const x = tensor([1, 10]);
  const opt = new optim.Adam([w], { lr: 0.1 });
  await w.mul(x).sum().backward(); // no handle to w.grad exists: zeroGrad below defers
  opt.zeroGrad();
  await w.mul(x).sum().backward();
  const g = w.grad;
  assert.deepEqual(Array.from(g.toArray()), [1, 10]);
  g.dispose();
  await opt.step(); // Adam's first step moves each weight by lr * sign(grad)
  opt.zeroGrad();
  opt.zeroGrad(); // twice before a reader: still one zeroing
  const before = Array.from(w.toArray());
  await opt.step(); // a zero gradient: momentum alone moves it by 0.1*0.47368/0.70693 = 0.0670
  const moved = Array.from(w.toArray()).map((v, i) => before[i] - v);
  moved.forEach((d) => assert.ok(Math.abs(d - 0.0670) < 1e-3, `moved ${d}`));
  const held = w.grad; // a handle to the gradient sees zeroGrad at once
  await w.mul(x).sum().backward();
  opt.zeroGrad();
  assert.deepEqual(Array.from(held.toArray()), [0, 0]);
  await w.mul(x).sum().backward();
  opt.zeroGrad({ setToNone: true });
  assert.equal(w.grad, null);
});

test('noGrad disables history for sync and async work, wherever it runs', async () => {
  const lin = new nn.Linear(3, 2);
  const x = rand([1, 3]);
  assert.equal(isGradEnabled(), true);
  const sync = noGrad(() => lin.weight.mul(2));
  assert.equal(sync.requiresGrad, false);
  const out = await noGrad(async () => {
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(isGradEnabled(), false);
    return lin.forward(x);
  });
  assert.equal(out.requiresGrad, false);
  const pending = noGrad(() => lin.forward(x)); // started inside, awaited outside
  assert.equal((await pending).requiresGrad, false);
  const inner = await noGrad(() => enableGrad(() => lin.forward(x)));
  assert.equal(inner.requiresGrad, true);
  assert.equal((await lin.forward(x)).requiresGrad, true);
  await assert.rejects(out.sum().backward(), (e) => e.code === 'TORCH_ERROR' && /does not require grad/.test(e.message));
});

test('tensors created for the user carry no history they did not ask for', async () => {
  const t = tensor([1, 2]);
  assert.equal(t.requiresGrad, false);
  const lin = new nn.Linear(2, 2);
  const out = await lin.forward(t.unsqueeze(0));
  assert.equal(out.requiresGrad, true);
  assert.equal(out.argmax(1).requiresGrad, false);
  assert.equal(out.detach().requiresGrad, false);
  assert.equal(lin.weight.grad, null);
  await out.sum().backward();
  assert.equal(lin.weight.grad.requiresGrad, false);
});

test('backward errors name the cause and stack points at the caller', async () => {
  const t = tensor([1, 2], { requiresGrad: true });
  await assert.rejects(t.mul(2).backward(), (e) => {
    assert.equal(e.code, 'TORCH_ERROR');
    assert.match(e.message, /grad can be implicitly created only for scalar outputs/);
    assert.match(e.stack, /autograd\.test\.js/);
    return true;
  });
});
