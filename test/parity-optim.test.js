'use strict';
// Optimizers and schedulers against the same-version PyTorch, bitwise: long sequences on small modules.
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, optim, randn, manualSeed, getNumThreads, tensor, zeros } = require('torchbridge');
const { havePyTorch, reference, maxAbsDiff, NO_PYTORCH } = require('./helpers/reference');

const skip = !havePyTorch() && NO_PYTORCH;

// Mirrors reference.py's mlp(): same seed, same construction order, same random draws.
function mlp(spec) {
  manualSeed(spec.seed);
  const model = new nn.Sequential(new nn.Linear(spec.inp, spec.hidden), new nn.ReLU(), new nn.Linear(spec.hidden, spec.out));
  const x = randn([spec.batch, spec.inp]);
  // torch.randint(0, out, (batch,)) draws from the same generator; reproduce it via Python's values.
  return { model, x };
}

async function runOurs(spec, targets) {
  const { model, x } = mlp(spec);
  const y = tensor(targets, { dtype: 'int64' });
  const params = model.parameters();
  const opt = spec.optimizer === 'adam' ? new optim.Adam(params, spec.options) : new optim.SGD(params, spec.options);
  const criterion = new nn.CrossEntropyLoss();
  const losses = [];
  for (let step = 0; step < spec.steps; step++) {
    if (step % spec.zeroEvery === 0) opt.zeroGrad();
    const out = await model.forward(x);
    const loss = await criterion.forward(out, y);
    await loss.backward();
    await opt.step();
    losses.push(loss.item());
    out.dispose();
    loss.dispose();
  }
  return { losses, model, opt };
}

const base = { seed: 3, inp: 6, hidden: 16, out: 3, batch: 5, steps: 60, threads: getNumThreads() };
const cases = [
  { name: 'Adam defaults', optimizer: 'adam', options: { lr: 1e-2 }, zeroEvery: 1 },
  { name: 'Adam weightDecay + amsgrad, accumulated grads', optimizer: 'adam', options: { lr: 5e-3, weightDecay: 0.1, amsgrad: true, betas: [0.8, 0.99], eps: 1e-6 }, zeroEvery: 4 },
  // fused: true (the CLI's default) follows the same rounding as the op-by-op step.
  { name: 'Adam fused', optimizer: 'adam', options: { lr: 1e-2, weightDecay: 0.01, fused: true }, zeroEvery: 1 },
  { name: 'Adam fused, amsgrad + maximize + beta1 below 0.5', optimizer: 'adam', options: { lr: 5e-3, amsgrad: true, maximize: true, betas: [0.3, 0.99], fused: true }, zeroEvery: 2 },
  { name: 'SGD momentum + dampening + weightDecay', optimizer: 'sgd', options: { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 }, zeroEvery: 1 },
  { name: 'SGD nesterov', optimizer: 'sgd', options: { lr: 0.05, momentum: 0.9, nesterov: true }, zeroEvery: 1 },
  { name: 'SGD plain', optimizer: 'sgd', options: { lr: 0.1 }, zeroEvery: 1 },
];

for (const c of cases) {
  test(`${c.name} matches PyTorch over ${base.steps} steps`, { skip }, async (t) => {
    const spec = { ...base, ...c };
    const ref = reference('optim', spec);
    // Python draws the targets with randint after x; ask it for them via the same seed.
    const targets = reference('randint_targets', spec).targets;
    const ours = await runOurs(spec, targets);
    const lossDiff = maxAbsDiff(ours.losses, ref.losses);
    let weightDiff = 0;
    for (const [k, v] of ours.model.stateDict()) weightDiff = Math.max(weightDiff, maxAbsDiff(v.toArray(), ref.weights[k]));
    t.diagnostic(`max|diff| losses ${lossDiff}, weights ${weightDiff}`);
    assert.equal(lossDiff, 0, `losses differ by ${lossDiff}`);
    assert.equal(weightDiff, 0, `weights differ by ${weightDiff}`);
    assert.ok(ref.losses[0] !== ref.losses[ref.losses.length - 1], 'training moved');
  });
}

test('CosineAnnealingLR and StepLR lr sequences equal Python exactly over 1000 steps', { skip }, () => {
  const schedCases = [
    { kind: 'cosine', lr: 1e-8, tMax: 50, steps: 1000 },
    { kind: 'cosine', lr: 0.1, tMax: 7, etaMin: 1e-3, steps: 1000 },
    { kind: 'cosine', lr: 3e-4, tMax: 1, steps: 1000 },
    { kind: 'cosine', lr: 1, tMax: 333, etaMin: 0.25, steps: 1000 },
    { kind: 'step', lr: 1, stepSize: 2, gamma: 0.5, steps: 1000 },
    { kind: 'step', lr: 0.1, stepSize: 30, gamma: 0.1, steps: 1000 },
  ];
  const ref = reference('schedulers', { cases: schedCases }).lrs;
  schedCases.forEach((c, i) => {
    const p = zeros([1], { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: c.lr });
    const { CosineAnnealingLR, StepLR } = optim.lrScheduler;
    const sched = c.kind === 'cosine'
      ? new CosineAnnealingLR(opt, { tMax: c.tMax, etaMin: c.etaMin ?? 0 })
      : new StepLR(opt, { stepSize: c.stepSize, gamma: c.gamma });
    const lrs = [sched.getLastLr()[0]];
    for (let s = 0; s < c.steps; s++) {
      sched.step();
      lrs.push(sched.getLastLr()[0]);
    }
    const firstMismatch = lrs.findIndex((v, k) => v !== ref[i][k]);
    assert.equal(firstMismatch, -1, `case ${i} (${JSON.stringify(c)}) differs first at step ${firstMismatch}: ${lrs[firstMismatch]} vs ${ref[i][firstMismatch]}`);
  });
});
