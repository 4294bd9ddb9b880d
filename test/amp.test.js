'use strict';
// Mixed precision on CPU: bfloat16 autocast equals torch.autocast('cpu') bit for bit, and
// GradScaler follows PyTorch's rules (checked against values derived here, by hand).
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, amp, autocast, isAutocastEnabled, manualSeed, randn, tensor, zeros, cuda, TorchError } = require('torchbridge');
const { havePyTorch, reference, NO_PYTORCH } = require('./helpers/reference');

test('bfloat16 autocast on CPU: the dtypes, outputs and float32 gradients of torch.autocast', { skip: !havePyTorch() && NO_PYTORCH }, async () => {
  const spec = { seed: 3, targets: [1, 4] };
  const ref = reference('autocast', spec);
  manualSeed(spec.seed);
  const model = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(36, 5));
  const x = randn([2, 3, 8, 8]);
  const y = tensor(BigInt64Array.from(spec.targets.map(BigInt)));
  const { hidden, out, loss, probs } = await autocast({ deviceType: 'cpu', dtype: 'bfloat16' }, async () => {
    const [conv, relu, pool, flat, lin] = model.children();
    const h = await conv.forward(x);
    const o = await lin.forward(await flat.forward(await pool.forward(await relu.forward(h))));
    return { hidden: h, out: o, loss: await nn.functional.crossEntropy(o, y), probs: await nn.functional.softmax(o, 1) };
  });
  assert.deepEqual({ conv: hidden.dtype, linear: out.dtype, loss: loss.dtype, softmax: probs.dtype }, ref.dtypes);
  assert.deepEqual(Array.from(out.toArray()), ref.out);
  assert.equal(loss.item(), ref.loss);
  await loss.backward();
  const grads = Object.fromEntries(model.namedParameters().map(([k, p]) => [k, p.grad]));
  assert.deepEqual([...new Set(Object.values(grads).map((g) => g.dtype))].sort(), ref.gradDtypes);
  for (const [k, g] of Object.entries(grads)) assert.deepEqual(Array.from(g.toArray()), ref.grads[k], k);
});

test('autocast scopes: async work inherits them, enabled:false excludes a region, nothing leaks, bad options are named', async () => {
  const lin = new nn.Linear(4, 2);
  const x = randn([3, 4]);
  assert.equal(isAutocastEnabled('cpu'), false);
  const dtypes = await autocast({ deviceType: 'cpu' }, async () => {
    const first = await lin.forward(x);
    await new Promise((r) => setTimeout(r, 5));
    const later = await lin.forward(x); // still inside after a timer
    const excluded = await autocast({ deviceType: 'cpu', enabled: false }, () => lin.forward(x));
    return [first.dtype, later.dtype, excluded.dtype, isAutocastEnabled('cpu')];
  });
  assert.deepEqual(dtypes, ['bfloat16', 'bfloat16', 'float32', true]);
  assert.equal((await lin.forward(x)).dtype, 'float32');
  assert.equal(isAutocastEnabled('cpu'), false);
  assert.throws(() => autocast({ deviceType: 'cpu', dtype: 'float16' }, () => 0), { code: 'INVALID_ARGUMENT', message: /CPU autocast supports dtype 'bfloat16'/ });
  assert.throws(() => autocast({ deviceType: 'tpu' }, () => 0), { code: 'INVALID_ARGUMENT', message: /deviceType/ });
  assert.throws(() => autocast({ deviceType: 'cpu' }), { code: 'INVALID_ARGUMENT', message: /fn/ });
  if (!cuda.isAvailable()) {
    assert.throws(() => autocast({ deviceType: 'cuda' }, () => 0), { code: 'DEVICE_UNAVAILABLE' });
  }
});

// One parameter w, loss = sum(w * x), SGD lr 1: a clean step moves w by -x exactly (the scale
// is a power of two, so scaling and unscaling are exact).
async function scaledStep(scaler, opt, w, x) {
  opt.zeroGrad();
  const loss = w.mul(x).sum();
  await scaler.scale(loss).backward();
  const stepped = await scaler.step(opt);
  await scaler.update();
  return stepped;
}

test('GradScaler: unscales before the step, skips steps with inf/NaN, backs off and grows as PyTorch', async () => {
  const w = tensor([1, 2, 3]).requiresGrad_();
  const opt = new optim.SGD([w], { lr: 1 });
  const scaler = new amp.GradScaler({ initScale: 8, growthInterval: 2 });
  const clean = tensor([0.5, 0.25, -1]);
  const scales = [];
  const stepped = [];
  const expected = [1, 2, 3];
  const run = async (x, finite) => {
    stepped.push(await scaledStep(scaler, opt, w, x));
    if (finite) for (let i = 0; i < 3; i++) expected[i] -= clean.toArray()[i];
    scales.push(scaler.getScale());
    assert.deepEqual(Array.from(w.toArray()), expected);
  };
  assert.equal(scaler.getScale(), 8);
  await run(clean, true); // tracker 1
  await run(clean, true); // tracker 2 = interval: scale x2
  await run(tensor([0.5, Infinity, 1]), false); // inf: skipped, scale x0.5
  await run(tensor([NaN, 0, 1]), false); // NaN: skipped again
  await run(clean, true);
  await run(clean, true); // grows again
  assert.deepEqual(stepped, [true, true, false, false, true, true]);
  assert.deepEqual(scales, [8, 16, 8, 4, 4, 8]);
  assert.deepEqual(scaler.stateDict(), { scale: 8, growth_factor: 2, backoff_factor: 0.5, growth_interval: 2, _growth_tracker: 0 });

  // unscale_ first (for gradient clipping): the grads are true gradients, and step() does not divide again.
  opt.zeroGrad();
  await scaler.scale(w.mul(clean).sum()).backward();
  await scaler.unscale_(opt);
  assert.deepEqual(Array.from(w.grad.toArray()), Array.from(clean.toArray()));
  await assert.rejects(scaler.unscale_(opt), { code: 'VALUE_ERROR', message: /already been called on this optimizer since the last update/ });
  assert.equal(await scaler.step(opt), true);
  await assert.rejects(scaler.step(opt), { code: 'VALUE_ERROR', message: /step\(\) has already been called since the last update/ });
  await scaler.update();
  await assert.rejects(scaler.update(), { code: 'VALUE_ERROR', message: /no inf checks were recorded/ });

  // state_dict round trip, including the growth settings, as PyTorch's load_state_dict does.
  const copy = new amp.GradScaler();
  copy.loadStateDict({ scale: 32, growth_factor: 4, backoff_factor: 0.25, growth_interval: 3, _growth_tracker: 2 });
  assert.deepEqual(copy.stateDict(), { scale: 32, growth_factor: 4, backoff_factor: 0.25, growth_interval: 3, _growth_tracker: 2 });
  const v = tensor([1]).requiresGrad_();
  await scaledStep(copy, new optim.SGD([v], { lr: 1 }), v, tensor([1])); // tracker 2 -> 3 = interval
  assert.equal(copy.getScale(), 128);

  // Disabled: a pass-through, like enabled=False.
  const off = new amp.GradScaler({ enabled: false });
  const loss = w.mul(clean).sum();
  assert.equal(off.scale(loss), loss);
  assert.equal(off.getScale(), 1);
  assert.deepEqual(off.stateDict(), {});

  assert.throws(() => new amp.GradScaler({ growthFactor: 1 }), { code: 'INVALID_ARGUMENT', message: /growthFactor/ });
  assert.throws(() => new amp.GradScaler({ backoffFactor: 1.5 }), { code: 'INVALID_ARGUMENT', message: /backoffFactor/ });
  assert.throws(() => new amp.GradScaler({ growthInterval: 0 }), { code: 'INVALID_ARGUMENT', message: /growthInterval/ });
  await assert.rejects(scaler.step({}), { code: 'INVALID_ARGUMENT', message: /optimizer/ });
});

test('running out of memory is OUT_OF_MEMORY and the process carries on; CUDA memory calls without CUDA', () => {
  assert.throws(() => zeros([1e7, 1e7]), (e) => e instanceof TorchError && e.code === 'OUT_OF_MEMORY' && /allocate/.test(e.message));
  assert.equal(zeros([2, 2]).sum().item(), 0);
  if (!cuda.isAvailable()) {
    cuda.emptyCache(); // a no-op, like torch.cuda.empty_cache() before CUDA is initialised
    assert.throws(() => cuda.memoryStats(), { code: 'DEVICE_UNAVAILABLE', message: /cuda\.memoryStats: device 'cuda:0' is not available/ });
  }
  assert.throws(() => cuda.memoryStats('cpu'), { code: 'INVALID_ARGUMENT', message: /cuda\.memoryStats: .*device/ });
});
