'use strict';
// Optimizers and schedulers against the same-version PyTorch, bitwise: long sequences on small modules.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { isDeepStrictEqual } = require('util');
const { nn, optim, io, randn, manualSeed, getNumThreads, tensor, zeros } = require('torchbridge');
const { havePyTorch, reference, maxAbsDiff, tmpDir, NO_PYTORCH } = require('./helpers/reference');

const skip = !havePyTorch() && NO_PYTORCH;

// Mirrors reference.py's mlp(): same seed, same construction order, same random draws.
function mlp(spec) {
  manualSeed(spec.seed);
  const model = new nn.Sequential(new nn.Linear(spec.inp, spec.hidden), new nn.ReLU(), new nn.Linear(spec.hidden, spec.out));
  const x = randn([spec.batch, spec.inp]);
  // torch.randint(0, out, (batch,)) draws from the same generator; reproduce it via Python's values.
  return { model, x };
}

const OPTIMIZERS = { adam: optim.Adam, adamw: optim.AdamW, sgd: optim.SGD, rmsprop: optim.RMSprop };

// reference.py's clip_grads: clips as spec.clip asks, returning the total norm (or null).
async function clipGrads(params, clip) {
  if (!clip) return null;
  if (clip.kind === 'value') {
    await nn.utils.clipGradValue_(params, clip.clipValue);
    return null;
  }
  const total = await nn.utils.clipGradNorm_(params, clip.maxNorm, { normType: clip.normType, foreach: clip.foreach });
  const norm = total.item();
  total.dispose();
  return norm;
}

// Python's train_steps: zeroGrad every spec.zeroEvery steps, clipping before each step.
async function trainSteps(model, opt, x, y, steps, zeroEvery = 1, clip = undefined) {
  const criterion = new nn.CrossEntropyLoss();
  const losses = [];
  const norms = [];
  for (let step = 0; step < steps; step++) {
    if (step % zeroEvery === 0) opt.zeroGrad();
    const out = await model.forward(x);
    const loss = await criterion.forward(out, y);
    await loss.backward();
    const norm = await clipGrads(model.parameters(), clip);
    if (norm !== null) norms.push(norm);
    await opt.step();
    losses.push(loss.item());
    out.dispose();
    loss.dispose();
  }
  return { losses, norms };
}

async function runOurs(spec, targets) {
  const { model, x } = mlp(spec);
  const y = tensor(targets, { dtype: 'int64' });
  const opt = new OPTIMIZERS[spec.optimizer](model.parameters(), spec.options);
  const { losses, norms } = await trainSteps(model, opt, x, y, spec.steps, spec.zeroEvery, spec.clip);
  return { losses, norms, model, opt };
}

function weightDiff(model, weights) {
  let worst = 0;
  for (const [k, v] of model.stateDict()) worst = Math.max(worst, maxAbsDiff(v.toArray(), weights[k]));
  return worst;
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
    const weightsDiff = weightDiff(ours.model, ref.weights);
    t.diagnostic(`max|diff| losses ${lossDiff}, weights ${weightsDiff}`);
    assert.equal(lossDiff, 0, `losses differ by ${lossDiff}`);
    assert.equal(weightsDiff, 0, `weights differ by ${weightsDiff}`);
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

// ---- AdamW, RMSprop and gradient clipping: every case in one Python run ----------------------
// `wide` cases have a 281,050-element weight: the fused kernels split it across the intra-op
// threads and cross their blocks (Adam's 65,536 elements, RMSprop's 16,384) at uneven offsets.
const wide = { inp: 70, hidden: 4015 };
const optimizerCases = [
  { name: 'AdamW defaults', optimizer: 'adamw', options: { lr: 1e-2 } },
  { name: 'AdamW amsgrad + maximize + custom betas/eps, accumulated grads', optimizer: 'adamw', options: { lr: 5e-3, weightDecay: 0.1, amsgrad: true, maximize: true, betas: [0.8, 0.99], eps: 1e-6 }, zeroEvery: 4 },
  { name: 'AdamW fused', optimizer: 'adamw', options: { lr: 1e-2, weightDecay: 0.05, fused: true } },
  { name: 'AdamW fused, amsgrad + beta1 below 0.5, wide', optimizer: 'adamw', options: { lr: 5e-3, amsgrad: true, betas: [0.3, 0.99], fused: true }, zeroEvery: 2, ...wide },
  { name: 'RMSprop defaults', optimizer: 'rmsprop', options: {} },
  { name: 'RMSprop centered + momentum + weightDecay', optimizer: 'rmsprop', options: { lr: 1e-3, alpha: 0.9, centered: true, momentum: 0.9, weightDecay: 1e-2 } },
  { name: 'RMSprop centered, alpha below 0.5 + maximize, accumulated grads', optimizer: 'rmsprop', options: { lr: 1e-3, alpha: 0.3, centered: true, maximize: true, eps: 1e-4 }, zeroEvery: 3 },
  { name: 'RMSprop fused', optimizer: 'rmsprop', options: { lr: 1e-3, fused: true } },
  { name: 'RMSprop fused, centered + momentum + weightDecay, wide', optimizer: 'rmsprop', options: { lr: 1e-3, centered: true, momentum: 0.9, weightDecay: 1e-2, fused: true }, ...wide },
  { name: 'RMSprop fused, centered, alpha below 0.5 + maximize + momentum', optimizer: 'rmsprop', options: { lr: 1e-3, alpha: 0.3, centered: true, maximize: true, momentum: 0.5, fused: true }, zeroEvery: 2 },
  { name: 'SGD + clipGradNorm_ (2-norm)', optimizer: 'sgd', options: { lr: 0.5, momentum: 0.9 }, clip: { kind: 'norm', maxNorm: 0.5 } },
  { name: 'Adam + clipGradNorm_ (inf-norm, foreach false)', optimizer: 'adam', options: { lr: 1e-2 }, clip: { kind: 'norm', maxNorm: 0.1, normType: 'inf', foreach: false } },
  { name: 'Adam fused, weightDecay + amsgrad, accumulated grads, wide', optimizer: 'adam', options: { lr: 1e-2, weightDecay: 0.01, amsgrad: true, fused: true }, zeroEvery: 2, ...wide },
  { name: 'AdamW fused + clipGradNorm_ (3-norm), accumulated grads, wide', optimizer: 'adamw', options: { lr: 1e-2, fused: true }, clip: { kind: 'norm', maxNorm: 0.3, normType: 3 }, zeroEvery: 3, ...wide },
  { name: 'SGD + clipGradValue_', optimizer: 'sgd', options: { lr: 0.5 }, clip: { kind: 'value', clipValue: 0.02 } },
];

test(`AdamW, RMSprop and gradient clipping match PyTorch over 40 steps (${optimizerCases.length} cases, fused and not)`, { skip }, async (t) => {
  const base = { seed: 7, inp: 6, hidden: 16, out: 3, batch: 5, steps: 40 };
  const refs = reference('optim_cases', { threads: getNumThreads(), base, cases: optimizerCases });
  for (const [i, c] of optimizerCases.entries()) {
    await t.test(c.name, async (st) => {
      const spec = { ...base, ...c };
      const ref = refs[i];
      const ours = await runOurs(spec, ref.targets);
      const lossDiff = maxAbsDiff(ours.losses, ref.losses);
      const weightsDiff = weightDiff(ours.model, ref.weights);
      const normDiff = maxAbsDiff(ours.norms, ref.norms);
      st.diagnostic(`max|diff| losses ${lossDiff}, weights ${weightsDiff}, total norms ${normDiff}`);
      assert.equal(lossDiff, 0, `losses differ by ${lossDiff}`);
      assert.equal(weightsDiff, 0, `weights differ by ${weightsDiff}`);
      assert.equal(normDiff, 0, `total norms differ by ${normDiff}`);
      assert.ok(ref.losses[0] !== ref.losses[ref.losses.length - 1], 'training moved');
      if (c.clip?.kind === 'norm') {
        // Not vacuous: some steps clipped, and (2-norm) some did not need to.
        assert.ok(ref.norms.some((n) => n > c.clip.maxNorm), 'some total norm exceeded maxNorm');
      }
    });
  }
});

// ---- lr schedulers: every case in one Python run ----------------------------------------------
// Deterministic metrics for ReduceLROnPlateau: a noisy decrease with plateaus, and a noisy rise.
const falling = Array.from({ length: 300 }, (_, i) => Math.max(0.25, 1 - Math.floor(i / 7) / 30) + ((i * 7919) % 13) / 400);
const rising = Array.from({ length: 300 }, (_, i) => Math.min(0.9, Math.floor(i / 5) / 40) + ((i * 104729) % 11) / 300);
const epochs = [0, 1, 2, 5, 3, 3, 9, 20, 7, 40, 13, 26, 27, 100, 8, 0, 12, 64, 65, 1];
const schedulerCases = [
  { kind: 'linear', steps: 300 },
  { kind: 'linear', startFactor: 0.1, endFactor: 0.9, totalIters: 37, lrs: [0.3, 1e-3], steps: 300 },
  { kind: 'linear', startFactor: 1, endFactor: 0, totalIters: 250, lrs: [3e-4], steps: 300 },
  { kind: 'exponential', gamma: 0.97, steps: 500 },
  { kind: 'exponential', gamma: 0.5, lrs: [1, 3e-4], steps: 300 },
  { kind: 'multistep', milestones: [30, 80, 80, 200], gamma: 0.3, steps: 300 },
  { kind: 'multistep', milestones: [5, 1, 9], lrs: [0.1, 0.05], steps: 50 },
  { kind: 'onecycle', maxLr: 0.1, totalSteps: 400, momentum: 0.9, steps: 400 },
  { kind: 'onecycle', maxLr: [0.01, 0.05], totalSteps: 333, pctStart: 0.25, annealStrategy: 'linear', threePhase: true, optimizer: 'adam', lrs: [1, 1], steps: 333 },
  { kind: 'onecycle', maxLr: 1, totalSteps: 101, cycleMomentum: false, divFactor: 10, finalDivFactor: 100, pctStart: 0.45, steps: 101 },
  { kind: 'plateau', patience: 3, factor: 0.5, cooldown: 2, metrics: falling, steps: 300 },
  { kind: 'plateau', mode: 'max', thresholdMode: 'abs', threshold: 0.01, minLr: [1e-3, 0], lrs: [0.1, 0.2], patience: 0, factor: 0.7, metrics: rising, steps: 300 },
  // Warm-up then cosine: the recipe SequentialLR exists for.
  { kind: 'sequential', schedulers: [{ kind: 'linear', startFactor: 0.01, totalIters: 10 }, { kind: 'cosine', tMax: 290, etaMin: 1e-5 }], milestones: [10], lrs: [0.1], steps: 400 },
  { kind: 'sequential', schedulers: [{ kind: 'linear', startFactor: 0.5, totalIters: 5 }, { kind: 'exponential', gamma: 0.99 }, { kind: 'multistep', milestones: [60, 90] }], milestones: [5, 50], lrs: [0.2, 0.02], steps: 300 },
  // The deprecated step(epoch): closed forms.
  { kind: 'linear', startFactor: 0.2, totalIters: 20, epochs, steps: epochs.length },
  { kind: 'exponential', gamma: 0.9, epochs, steps: epochs.length },
  { kind: 'multistep', milestones: [3, 7, 7, 40], gamma: 0.5, epochs, steps: epochs.length },
  { kind: 'step', stepSize: 3, gamma: 0.7, epochs, steps: epochs.length },
  { kind: 'cosine', tMax: 13, etaMin: 0.01, epochs, steps: epochs.length },
  // Constructed to resume (lastEpoch >= 0, initialLr in the groups): 1.13 and 2.x differ here.
  { kind: 'cosine', tMax: 40, lastEpoch: 17, lrs: [0.05], initialLrs: [0.1], steps: 100 },
  { kind: 'linear', startFactor: 0.25, totalIters: 30, lastEpoch: 9, lrs: [0.05], initialLrs: [0.1], steps: 50 },
  { kind: 'exponential', gamma: 0.9, lastEpoch: 4, lrs: [0.05, 0.5], initialLrs: [0.1, 1], steps: 50 },
  { kind: 'multistep', milestones: [10, 20, 30], lastEpoch: 9, lrs: [0.05], initialLrs: [0.1], steps: 30 },
];

function schedulerOptimizer(c) {
  const lrs = c.lrs ?? [0.1];
  const groups = lrs.map((lr, i) => ({ params: [zeros([1], { requiresGrad: true })], lr, initialLr: c.initialLrs?.[i] }));
  return c.optimizer === 'adam' ? new optim.Adam(groups, { lr: lrs[0] }) : new optim.SGD(groups, { lr: lrs[0], momentum: c.momentum ?? 0 });
}

// reference.py's make_scheduler, with the same options in camelCase.
function makeScheduler(opt, c) {
  const S = optim.lrScheduler;
  switch (c.kind) {
    case 'cosine': return new S.CosineAnnealingLR(opt, { tMax: c.tMax, etaMin: c.etaMin, lastEpoch: c.lastEpoch });
    case 'step': return new S.StepLR(opt, { stepSize: c.stepSize, gamma: c.gamma, lastEpoch: c.lastEpoch });
    case 'linear': return new S.LinearLR(opt, { startFactor: c.startFactor, endFactor: c.endFactor, totalIters: c.totalIters, lastEpoch: c.lastEpoch });
    case 'exponential': return new S.ExponentialLR(opt, { gamma: c.gamma, lastEpoch: c.lastEpoch });
    case 'multistep': return new S.MultiStepLR(opt, { milestones: c.milestones, gamma: c.gamma, lastEpoch: c.lastEpoch });
    case 'onecycle': return new S.OneCycleLR(opt, c);
    case 'plateau': return new S.ReduceLROnPlateau(opt, c);
    case 'sequential': return new S.SequentialLR(opt, { schedulers: c.schedulers.map((s) => makeScheduler(opt, s)), milestones: c.milestones });
    default: throw new Error(c.kind);
  }
}

const schedulerValues = (opt) => ({
  lr: opt.paramGroups.map((g) => g.lr),
  momentum: opt.paramGroups.map((g) => (g.betas ? g.betas[0] : g.momentum ?? 0)),
});

function runScheduler(opt, sched, c, steps, start = 0) {
  const out = [];
  for (let i = start; i < start + steps; i++) {
    if (c.kind === 'plateau') sched.step(c.metrics[i]);
    else if (c.epochs) sched.step(c.epochs[i]);
    else sched.step();
    out.push(schedulerValues(opt));
  }
  return out;
}

function firstMismatch(ours, theirs) {
  const k = ours.findIndex((v, i) => !isDeepStrictEqual(v, theirs[i]));
  return k === -1 && ours.length === theirs.length ? null : `step ${k}: ${JSON.stringify(ours[k])} vs ${JSON.stringify(theirs[k])}`;
}

test(`LinearLR, ExponentialLR, MultiStepLR, OneCycleLR, ReduceLROnPlateau and SequentialLR equal Python exactly (${schedulerCases.length} cases, every lr and momentum)`, { skip }, () => {
  const ref = reference('scheduler_cases', { cases: schedulerCases });
  schedulerCases.forEach((c, i) => {
    const opt = schedulerOptimizer(c);
    const sched = makeScheduler(opt, c);
    const ours = [schedulerValues(opt), ...runScheduler(opt, sched, c, c.steps)];
    const where = firstMismatch(ours, ref[i]);
    assert.equal(where, null, `case ${i} (${c.kind}) differs first at ${where}`);
    assert.deepEqual(sched.getLastLr(), ours[ours.length - 1].lr);
    const distinct = new Set(ours.map((v) => v.lr[0])).size;
    assert.ok(distinct > 2, `case ${i}: the schedule moved`);
  });
});

// Both directions: a state saved here after `first` steps continues in torch's scheduler as here,
// and one saved by torch continues here as there.
const roundTripCases = [
  { kind: 'linear', startFactor: 0.1, totalIters: 50, lrs: [0.3, 0.01] },
  { kind: 'exponential', gamma: 0.95 },
  { kind: 'multistep', milestones: [20, 40, 40, 70], gamma: 0.5 },
  { kind: 'onecycle', maxLr: 0.1, totalSteps: 120, momentum: 0.9 },
  { kind: 'onecycle', maxLr: [0.02, 0.05], totalSteps: 100, threePhase: true, optimizer: 'adam', lrs: [1, 1] },
  { kind: 'plateau', patience: 2, factor: 0.5, cooldown: 1, metrics: falling },
  { kind: 'sequential', schedulers: [{ kind: 'linear', startFactor: 0.01, totalIters: 10 }, { kind: 'cosine', tMax: 90 }], milestones: [10] },
  { kind: 'cosine', tMax: 30, etaMin: 1e-3 },
].map((c, i) => ({ ...c, first: 23, more: 60 }));

test('scheduler stateDict round trips: saved here, torch continues identically; saved by torch, continues here identically', { skip }, async () => {
  const dir = tmpDir('sched-round-trip');
  const cases = roundTripCases.map((c, i) => ({ ...c, ours: path.join(dir, `ours-${i}.pth`), theirs: path.join(dir, `theirs-${i}.pth`) }));
  const runs = [];
  for (const c of cases) {
    const opt = schedulerOptimizer(c);
    const sched = makeScheduler(opt, c);
    runScheduler(opt, sched, c, c.first);
    await io.save({ optimizer: opt.stateDict(), scheduler: sched.stateDict() }, c.ours);
    runs.push({ opt, sched });
  }
  const ref = reference('scheduler_round_trip', { cases });
  for (const [i, c] of cases.entries()) {
    const { opt, sched } = runs[i];
    const ours = runScheduler(opt, sched, c, c.more, c.first);
    assert.equal(firstMismatch(ours, ref[i].continued), null, `case ${i} (${c.kind}): torch continuing our state differs`);
    const opt2 = schedulerOptimizer(c);
    const sched2 = makeScheduler(opt2, c);
    const saved = await io.load(c.theirs);
    opt2.loadStateDict(saved.optimizer);
    sched2.loadStateDict(saved.scheduler);
    const resumed = runScheduler(opt2, sched2, c, c.more, c.first);
    assert.equal(firstMismatch(resumed, ref[i].theirs), null, `case ${i} (${c.kind}): continuing torch's state differs`);
    assert.notDeepEqual(resumed[0], resumed[resumed.length - 1], `case ${i}: the schedule moved after the round trip`);
  }
});

test('AdamW and RMSprop checkpoints round-trip with torch.optim: each side continues the other\'s bitwise', { skip }, async () => {
  const dir = tmpDir('optim-round-trip');
  const base = { seed: 11, inp: 6, hidden: 16, out: 3, batch: 5, first: 7, more: 6 };
  const cases = [
    { optimizer: 'adamw', options: { lr: 1e-2, amsgrad: true } },
    { optimizer: 'rmsprop', options: { lr: 1e-3, centered: true, momentum: 0.9, weightDecay: 1e-3 } },
  ].map((c, i) => ({ ...c, ours: path.join(dir, `ours-${i}.pth`), theirs: path.join(dir, `theirs-${i}.pth`) }));
  const targets = reference('randint_targets', base).targets;
  const y = tensor(targets, { dtype: 'int64' });
  const runs = [];
  for (const c of cases) {
    const { model, x } = mlp(base);
    const opt = new OPTIMIZERS[c.optimizer](model.parameters(), c.options);
    await trainSteps(model, opt, x, y, base.first);
    await io.save({ model: model.stateDict(), optimizer: opt.stateDict() }, c.ours);
    runs.push({ model, x, opt });
  }
  const ref = reference('optim_round_trip', { threads: getNumThreads(), base, cases });
  for (const [i, c] of cases.entries()) {
    const { model, x, opt } = runs[i];
    await trainSteps(model, opt, x, y, base.more);
    assert.equal(weightDiff(model, ref[i].continued), 0, `${c.optimizer}: torch continuing our checkpoint differs`);
    const { model: model2, x: x2 } = mlp(base);
    const saved = await io.load(c.theirs);
    await model2.loadStateDict(saved.model);
    const opt2 = new OPTIMIZERS[c.optimizer](model2.parameters(), c.options);
    opt2.loadStateDict(saved.optimizer);
    await trainSteps(model2, opt2, x2, y, base.more);
    assert.equal(weightDiff(model2, ref[i].theirs), 0, `${c.optimizer}: continuing torch's checkpoint differs`);
  }
});

test('clipGradNorm_ over mixed float32/float64 gradients equals PyTorch (its per-dtype grouping order included)', { skip }, async () => {
  const dtypes = ['float32', 'float64', 'float32', 'float64', 'float32'];
  const grads = dtypes.map((_, k) => Array.from({ length: 50 + 17 * k }, (_, i) => Math.sin(i * 0.37 + k) * (1 + (i % 7)) / (3 + k)));
  const spec = { threads: getNumThreads(), dtypes, grads, maxNorm: 0.75, normTypes: [2, 3, 'inf', 0.5] };
  const ref = reference('clip_mixed', spec);
  for (const [n, normType] of spec.normTypes.entries()) {
    const params = dtypes.map((dtype, k) => zeros([grads[k].length], { dtype, requiresGrad: true }));
    for (const [k, p] of params.entries()) await p.mul(tensor(grads[k], { dtype: dtypes[k] })).sum().backward();
    const total = await nn.utils.clipGradNorm_(params, spec.maxNorm, { normType });
    assert.equal(total.item(), ref[n].total, `normType ${normType}: total norm`);
    params.forEach((p, k) => assert.equal(maxAbsDiff(p.grad.toArray(), ref[n].grads[k]), 0, `normType ${normType}: grads[${k}]`));
  }
});
