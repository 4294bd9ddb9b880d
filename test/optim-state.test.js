'use strict';
// Optimizer and scheduler state: PyTorch's layout, and resuming from it continues identically.
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, rand, tensor, manualSeed, buildInfo } = require('torchbridge');

const TORCH_2 = Number(buildInfo().torchVersion.split('.')[0]) >= 2;

async function train(model, opt, sched, x, y, steps) {
  const criterion = new nn.CrossEntropyLoss();
  const losses = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    const loss = await criterion.forward(await model.forward(x), y);
    await loss.backward();
    await opt.step();
    sched.step();
    losses.push(loss.item());
  }
  return losses;
}

function makeModel() {
  manualSeed(5);
  return new nn.Sequential(new nn.Linear(8, 16), new nn.ReLU(), new nn.Linear(16, 3));
}

for (const kind of ['adam', 'sgd']) {
  test(`${kind}: stateDict has PyTorch's layout and resuming continues bitwise`, async () => {
    const x = rand([10, 8]);
    const y = tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], { dtype: 'int64' });
    const make = (model) => {
      const opt = kind === 'adam'
        ? new optim.Adam([{ params: model.parameters().slice(0, 2), lr: 1e-2 }, { params: model.parameters().slice(2) }], { lr: 3e-3, amsgrad: true, weightDecay: 0.01 })
        : new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true });
      return { opt, sched: new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 3, etaMin: 1e-4 }) };
    };
    const a = makeModel();
    const { opt: optA, sched: schedA } = make(a);
    await train(a, optA, schedA, x, y, 4);

    const sd = optA.stateDict();
    assert.deepEqual(Object.keys(sd), ['state', 'param_groups']);
    assert.deepEqual(Object.keys(sd.state).map(Number), [0, 1, 2, 3]);
    if (kind === 'adam') {
      assert.deepEqual(Object.keys(sd.state[0]), ['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
      assert.equal(sd.state[0].step.item(), 4);
      assert.equal(sd.state[0].step.dtype, 'float32');
      assert.deepEqual(sd.state[0].step.shape, []);
      assert.deepEqual(sd.param_groups.map((g) => g.params), [[0, 1], [2, 3]]);
      assert.deepEqual(Object.keys(sd.param_groups[0]), ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable', 'fused', 'decoupled_weight_decay', 'initial_lr', 'params']);
      assert.equal(sd.param_groups[0].initial_lr, 1e-2);
    } else {
      assert.deepEqual(Object.keys(sd.state[0]), ['momentum_buffer']);
      assert.deepEqual(Object.keys(sd.param_groups[0]), ['lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize', 'foreach', 'differentiable', 'initial_lr', 'params']);
    }
    const schedSd = schedA.stateDict();
    // The linked version's layout: 2.x has _is_initial where 1.13 has verbose.
    assert.deepEqual(Object.keys(schedSd), TORCH_2
      ? ['T_max', 'eta_min', 'base_lrs', 'last_epoch', '_step_count', '_is_initial', '_get_lr_called_within_step', '_last_lr']
      : ['T_max', 'eta_min', 'base_lrs', 'last_epoch', 'verbose', '_step_count', '_get_lr_called_within_step', '_last_lr']);
    assert.equal(schedSd.last_epoch, 4);

    // Resume: a fresh model and optimizer loaded from the saved state.
    const b = makeModel();
    await b.loadStateDict(a.stateDict());
    const { opt: optB, sched: schedB } = make(b);
    optB.loadStateDict(sd);
    schedB.loadStateDict(schedSd);
    assert.deepEqual(optB.paramGroups.map((g) => g.lr), optA.paramGroups.map((g) => g.lr));
    const lossesA = await train(a, optA, schedA, x, y, 4);
    const lossesB = await train(b, optB, schedB, x, y, 4);
    assert.deepEqual(lossesB, lossesA);
    const wa = a.stateDict();
    for (const [k, v] of b.stateDict()) assert.deepEqual(v.toArray(), wa.get(k).toArray(), k);
    assert.deepEqual(schedB.getLastLr(), schedA.getLastLr());
  });
}

test('paramGroups lr is writable and takes effect at the next step', async () => {
  const p = tensor([1, 1], { requiresGrad: true });
  const opt = new optim.SGD([p], { lr: 0.5 });
  await p.sum().backward();
  opt.paramGroups[0].lr = 0.25;
  await opt.step();
  assert.deepEqual(Array.from(p.toArray()), [0.75, 0.75]);
});

test('parameters without a gradient are skipped, as in PyTorch', async () => {
  const used = tensor([1], { requiresGrad: true });
  const unused = tensor([1], { requiresGrad: true });
  const opt = new optim.Adam([used, unused], { lr: 0.1 });
  await used.mul(2).sum().backward();
  await opt.step();
  assert.equal(opt.state.has(unused), false);
  assert.deepEqual(Array.from(unused.toArray()), [1]);
  assert.notDeepEqual(Array.from(used.toArray()), [1]);
});

test('fused Adam, AdamW, SGD and RMSprop agree with the default path after 100 steps (1e-6 relative), state_dict included', async () => {
  const x = rand([32, 20]);
  const y = tensor(Array.from({ length: 32 }, (_, i) => (i * 7) % 5), { dtype: 'int64' });
  const cases = [
    [optim.Adam, { lr: 1e-3, weightDecay: 1e-2 }],
    [optim.Adam, { lr: 1e-3, amsgrad: true, maximize: true }],
    [optim.SGD, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 }],
    [optim.SGD, { lr: 0.05, momentum: 0.9, nesterov: true }],
    [optim.SGD, { lr: 0.05 }],
    [optim.AdamW, { lr: 1e-3, amsgrad: true }],
    [optim.RMSprop, { lr: 1e-3, centered: true, momentum: 0.9, weightDecay: 1e-3 }],
    [optim.RMSprop, { lr: 1e-3, alpha: 0.3 }],
  ];
  for (const [Opt, opts] of cases) {
    const runs = [];
    for (const fused of [false, true]) {
      manualSeed(0);
      const model = new nn.Sequential(new nn.Linear(20, 64), new nn.ReLU(), new nn.Linear(64, 5));
      const opt = new Opt(model.parameters(), { ...opts, fused });
      await train(model, opt, { step() {} }, x, y, 100);
      const sd = opt.stateDict();
      assert.equal(sd.param_groups[0].fused ?? false, fused);
      runs.push(model.parameters().flatMap((p) => Array.from(p.toArray())));
    }
    const [plain, fused] = runs;
    let worst = 0;
    plain.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - fused[i]) / Math.max(Math.abs(v), 1e-6)); });
    assert.ok(worst <= 1e-6, `${Opt.name} ${JSON.stringify(opts)}: largest relative difference ${worst}`);
  }
});

test("AdamW and RMSprop stateDict have torch.optim's layout", async () => {
  const model = makeModel();
  const x = rand([4, 8]);
  const y = tensor([0, 1, 2, 0], { dtype: 'int64' });
  const adamw = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  await train(model, adamw, { step() {} }, x, y, 2);
  const a = adamw.stateDict();
  assert.deepEqual(Object.keys(a.param_groups[0]), ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable', 'fused', 'decoupled_weight_decay', 'params']);
  assert.equal(a.param_groups[0].weight_decay, 1e-2);
  assert.equal(a.param_groups[0].decoupled_weight_decay, true);
  assert.deepEqual(Object.keys(a.state[0]), ['step', 'exp_avg', 'exp_avg_sq']);
  // A group saved without the flag (torch 1.13's AdamW) still decays decoupled, as torch.optim.AdamW does.
  const { decoupled_weight_decay: _, ...older } = a.param_groups[0];
  adamw.loadStateDict({ state: a.state, param_groups: [older] });
  assert.equal(adamw.paramGroups[0].decoupledWeightDecay, true);

  const rmsprop = new optim.RMSprop(model.parameters(), { centered: true, momentum: 0.5 });
  await train(model, rmsprop, { step() {} }, x, y, 3);
  const r = rmsprop.stateDict();
  assert.deepEqual(Object.keys(r.param_groups[0]), ['lr', 'momentum', 'alpha', 'eps', 'centered', 'weight_decay', 'capturable', 'foreach', 'maximize', 'differentiable', 'params']);
  assert.deepEqual(Object.keys(r.state[0]), ['step', 'square_avg', 'momentum_buffer', 'grad_avg']);
  assert.equal(r.state[0].step.item(), 3);
  const plain = new optim.RMSprop(model.parameters());
  await train(model, plain, { step() {} }, x, y, 1);
  assert.deepEqual(Object.keys(plain.stateDict().state[0]), ['step', 'square_avg']);
});

test('OneCycleLR keeps its lr ends in the param groups, and the optimizer saves them', () => {
  const p = tensor([0], { requiresGrad: true });
  const opt = new optim.SGD([p], { lr: 1 });
  const sched = new optim.lrScheduler.OneCycleLR(opt, { maxLr: 0.5, totalSteps: 10 });
  const g = opt.stateDict().param_groups[0];
  assert.equal(g.initial_lr, 0.02);
  assert.equal(g.max_lr, 0.5);
  assert.equal(g.min_lr, 0.02 / 1e4);
  assert.equal(g.max_momentum, 0.95);
  assert.equal(g.base_momentum, 0.85);
  assert.equal(g.momentum, 0.95);
  for (let i = 0; i < 10; i++) sched.step();
  assert.throws(() => sched.step(), { code: 'VALUE_ERROR', message: /Tried to step 11 times\. The specified number of total steps is 10/ });
  // A fresh optimizer learns them from the saved state, so a resumed OneCycleLR can find them.
  const opt2 = new optim.SGD([p], { lr: 1 });
  opt2.loadStateDict(opt.stateDict());
  assert.equal(opt2.paramGroups[0].maxLr, 0.5);
});

test('new optimizers, schedulers and clipping reject bad input with named errors', async () => {
  const p = tensor([1, 2], { requiresGrad: true });
  const bad = (fn, message, code = 'INVALID_ARGUMENT') => assert.throws(fn, { code, message });
  bad(() => new optim.RMSprop([p], { alpha: -1 }), /optim\.RMSprop: Expected finite number >= 0 for alpha but received -1/);
  bad(() => new optim.RMSprop([p], { centered: 1 }), /optim\.RMSprop: Expected boolean for centered but received 1 of type number/);
  bad(() => new optim.AdamW([p], { betas: [0.9, 1] }), /optim\.AdamW: Expected numbers in \[0, 1\) for betas/);
  const opt = new optim.SGD([p], { lr: 0.1 });
  const S = optim.lrScheduler;
  bad(() => new S.LinearLR(opt, { startFactor: 0 }), /LinearLR: Expected number in \(0, 1\] for startFactor but received 0/);
  bad(() => new S.ExponentialLR(opt, {}), /ExponentialLR: Expected finite number for gamma but received undefined/);
  bad(() => new S.MultiStepLR(opt, { milestones: [1.5] }), /MultiStepLR: Expected array of integers for milestones/);
  bad(() => new S.OneCycleLR(opt, { maxLr: 1 }), /OneCycleLR: You must define either totalSteps OR \(epochs AND stepsPerEpoch\)/, 'VALUE_ERROR');
  bad(() => new S.OneCycleLR(opt, { maxLr: [1, 2], totalSteps: 5 }), /maxLr must have the same length as optimizer\.paramGroups/, 'VALUE_ERROR');
  bad(() => new S.OneCycleLR(opt, { maxLr: 1, totalSteps: 5, annealStrategy: 'cosine' }), /Expected one of 'cos', 'linear' for annealStrategy/);
  bad(() => new S.ReduceLROnPlateau(opt, { factor: 1 }), /ReduceLROnPlateau: Factor should be < 1\.0/, 'VALUE_ERROR');
  bad(() => new S.ReduceLROnPlateau(opt, { mode: 'up' }), /Expected one of 'min', 'max' for mode/);
  bad(() => new S.ReduceLROnPlateau(opt).step('low'), /ReduceLROnPlateau\.step: Expected number or one-element Tensor for metrics/);
  const linear = new S.LinearLR(opt);
  bad(() => new S.SequentialLR(opt, { schedulers: [linear], milestones: [3] }), /expects number of schedulers provided to be one more than the number of milestone points/, 'VALUE_ERROR');
  bad(() => new S.SequentialLR(opt, { schedulers: [linear, new S.ReduceLROnPlateau(opt)], milestones: [3] }), /does not support ReduceLROnPlateau/, 'VALUE_ERROR');
  const other = new optim.SGD([tensor([0], { requiresGrad: true })], { lr: 1 });
  bad(() => new S.SequentialLR(opt, { schedulers: [linear, new S.ExponentialLR(other, { gamma: 0.5 })], milestones: [3] }), /belong to the same optimizer/, 'VALUE_ERROR');
  await assert.rejects(nn.utils.clipGradNorm_([p], NaN), { code: 'INVALID_ARGUMENT', message: /clipGradNorm_: Expected finite number for maxNorm but received NaN/ });
  await assert.rejects(nn.utils.clipGradNorm_([p, 3], 1), { code: 'INVALID_ARGUMENT', message: /Expected Tensor for parameters\[1\]/ });
  await assert.rejects(nn.utils.clipGradNorm_([p], 1, { normType: 'two' }), { code: 'INVALID_ARGUMENT', message: /Expected a number or 'inf' for normType/ });
  await assert.rejects(nn.utils.clipGradValue_(p, '1'), { code: 'INVALID_ARGUMENT', message: /clipGradValue_: Expected finite number for clipValue/ });
});

test('clipGradNorm_ skips parameters without a gradient, returns 0 for none, and refuses a non-finite norm when asked', async () => {
  const a = tensor([3, 4], { requiresGrad: true });
  const b = tensor([1], { requiresGrad: true });
  const none = await nn.utils.clipGradNorm_([a, b], 1);
  assert.equal(none.item(), 0);
  await a.mul(1).sum().backward(); // grad [1, 1]
  const total = await nn.utils.clipGradNorm_([a, b], 0.5);
  assert.equal(total.item(), Math.fround(Math.SQRT2));
  assert.equal(b.grad, null);
  const scaled = Array.from(a.grad.toArray());
  assert.ok(Math.abs(scaled[0] - 0.5 / Math.SQRT2) < 1e-6, `scaled to the max norm: ${scaled}`);
  await nn.utils.clipGradValue_([a, b], 0.1);
  assert.deepEqual(Array.from(a.grad.toArray()), [Math.fround(0.1), Math.fround(0.1)]);
  const c = tensor([1, 2], { requiresGrad: true });
  await c.mul(Infinity).sum().backward();
  await assert.rejects(nn.utils.clipGradNorm_(c, 1, { errorIfNonfinite: true }), { message: /the total norm of order 2\.0 for gradients from `parameters` is non-finite/ });
  assert.deepEqual(Array.from(c.grad.toArray()), [Infinity, Infinity], 'gradients untouched');
});
