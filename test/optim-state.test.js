'use strict';
// Optimizer and scheduler state: PyTorch's layout, and resuming from it continues identically.
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, rand, tensor, manualSeed } = require('torchbridge');

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
      assert.deepEqual(Object.keys(sd.param_groups[0]), ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable', 'fused', 'initial_lr', 'params']);
      assert.equal(sd.param_groups[0].initial_lr, 1e-2);
    } else {
      assert.deepEqual(Object.keys(sd.state[0]), ['momentum_buffer']);
      assert.deepEqual(Object.keys(sd.param_groups[0]), ['lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize', 'foreach', 'differentiable', 'initial_lr', 'params']);
    }
    const schedSd = schedA.stateDict();
    assert.deepEqual(Object.keys(schedSd), ['T_max', 'eta_min', 'base_lrs', 'last_epoch', 'verbose', '_step_count', '_get_lr_called_within_step', '_last_lr']);
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

test('fused Adam and SGD agree with the default path after 100 steps (1e-6 relative), state_dict included', async () => {
  const x = rand([32, 20]);
  const y = tensor(Array.from({ length: 32 }, (_, i) => (i * 7) % 5), { dtype: 'int64' });
  const cases = [
    [optim.Adam, { lr: 1e-3, weightDecay: 1e-2 }],
    [optim.Adam, { lr: 1e-3, amsgrad: true, maximize: true }],
    [optim.SGD, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 }],
    [optim.SGD, { lr: 0.05, momentum: 0.9, nesterov: true }],
    [optim.SGD, { lr: 0.05 }],
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
