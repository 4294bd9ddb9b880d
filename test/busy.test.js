'use strict';
// The busy state belongs to storages and gradients, not to JS wrappers, and not to the process:
// every wrapper over the same memory sees a pending operation on it, and independent models do not
// see each other's.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { nn, optim, io, rand, tensor, scope, manualSeed } = require('torchbridge');

const BUSY = { code: 'BUSY', message: /await the previous operation before starting this one/ };

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-busy-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function bytes(t) {
  return Buffer.from(t.toArray().buffer);
}

/** Awaits `p`: true if it completed, false if it was refused with BUSY (any other failure throws). */
async function completes(p) {
  try {
    await p;
    return true;
  } catch (err) {
    assert.equal(err.code, 'BUSY', String(err));
    return false;
  }
}

/** Fills the gradients of `model` from one forward/backward on `x`. */
async function makeGrads(model, x) {
  const out = await model.forward(x);
  const loss = out.sum();
  await loss.backward();
  out.dispose();
  loss.dispose();
}

/** A Linear with gradients and a fused Adam. The busy state is taken when a call starts, so any size
 * sees it; the default is large enough that the old code's races showed (issue 16's crash). */
async function steppingLinear(features = 4096) {
  manualSeed(0);
  const lin = new nn.Linear(features, features);
  const opt = new optim.Adam(lin.parameters(), { lr: 0.01, fused: true });
  await makeGrads(lin, rand([2, features]));
  return { lin, opt };
}

test('io.save beside pending steps writes the weights of one moment, or is refused with BUSY', async (t) => {
  const dir = tempDir(t);
  manualSeed(0);
  const lin = new nn.Linear(2048, 2048);
  const opt = new optim.Adam(lin.parameters(), { lr: 0.01, fused: true });
  await makeGrads(lin, rand([4, 2048]));
  const refused = { save: 0, step: 0 };
  for (let i = 0; i < 4; i++) {
    const sd = lin.stateDict(); // new wrappers over the parameters' memory
    const file = path.join(dir, `w${i}.pth`);
    const moments = [bytes(lin.weight)]; // the weights before and after each step
    // Steps run back to back for as long as the save lasts; even iterations start with a step.
    let step = i % 2 === 0 ? opt.step() : null;
    const save = io.save(sd, file);
    step ??= opt.step();
    let saving = true;
    save.then(() => { saving = false; }, () => { saving = false; });
    for (; step; step = saving && moments.length < 50 ? opt.step() : null) {
      if (!(await completes(step))) {
        refused.step++;
        break;
      }
      moments.push(bytes(lin.weight));
    }
    if (!(await completes(save))) {
      refused.save++;
      continue;
    }
    const back = await io.load(file); // a file written while its bytes changed fails its CRC check here
    const w = bytes(back.get('weight'));
    assert.ok(moments.some((m) => m.equals(w)), `iteration ${i}: the saved weights are not those of any one moment`);
    for (const v of [...back.values(), ...sd.values()]) v.dispose();
  }
  t.diagnostic(`refused: ${refused.save} saves, ${refused.step} steps`);
  assert.ok(refused.save + refused.step >= 4, 'each iteration overlapped a save with a step');
});

test('a step claims only what it updates: a frozen parameter may be saved meanwhile, a busy stepped one cancels the whole step', async (t) => {
  const dir = tempDir(t);
  manualSeed(0);
  const frozen = new nn.Linear(1024, 1024); // in the optimizer, but never given a gradient
  const trained = new nn.Linear(1024, 1024);
  const opt = new optim.Adam([{ params: [trained.weight] }, { params: [trained.bias], lr: 0.1 }, { params: frozen.parameters() }], { lr: 0.01 });
  await makeGrads(trained, rand([2, 1024]));
  const frozenBefore = bytes(frozen.weight);
  await Promise.all([io.save(frozen.stateDict(), path.join(dir, 'frozen.pth')), opt.step()]);
  assert.ok(bytes(frozen.weight).equals(frozenBefore));
  assert.equal(opt.state.has(frozen.weight), false);
  assert.equal(opt.state.get(trained.weight).step, 1);

  // The bias (second group) is being saved: the step is refused before the first group moves.
  const [weight, bias] = [bytes(trained.weight), bytes(trained.bias)];
  const saving = io.save({ bias: trained.bias }, path.join(dir, 'bias.pth'));
  await assert.rejects(opt.step(), { ...BUSY, message: /optim\.Adam\.step: .*io\.save/ });
  await saving;
  assert.ok(bytes(trained.weight).equals(weight) && bytes(trained.bias).equals(bias), 'a refused step changed nothing');
  assert.equal(opt.state.get(trained.weight).step, 1);
  await opt.step();
  assert.equal(opt.state.get(trained.weight).step, 2);
  assert.equal(opt.state.get(trained.bias).step, 2);
});

test('zeroGrad during a pending step is refused with BUSY, and the step completes with its gradients', async () => {
  const { lin, opt } = await steppingLinear();
  const grad = bytes(lin.weight.grad);
  const step = opt.step();
  assert.throws(() => opt.zeroGrad({ setToNone: true }), { ...BUSY, message: /optim\.Adam\.zeroGrad: .*optim\.Adam\.step/ });
  assert.throws(() => opt.zeroGrad(), BUSY);
  assert.throws(() => lin.zeroGrad({ setToNone: true }), BUSY);
  assert.throws(() => { lin.weight.grad = null; }, BUSY);
  await step;
  assert.ok(bytes(lin.weight.grad).equals(grad), 'the gradients are intact');
  opt.zeroGrad({ setToNone: true });
  assert.equal(lin.weight.grad, null);
});

test('zeroGrad, .grad and requiresGrad_ while a backward() runs on those parameters are refused with BUSY', async () => {
  manualSeed(0);
  const lin = new nn.Linear(1024, 1024);
  const x = rand([64, 1024]);
  await makeGrads(lin, x);
  const grad = lin.weight.grad; // a handle over the gradient the next backward accumulates into
  const out = await lin.forward(x);
  const loss = out.sum();
  const backward = loss.backward();
  assert.throws(() => lin.zeroGrad(), { ...BUSY, message: /zeroGrad: a backward\(\) is still running/ });
  assert.throws(() => lin.weight.grad, BUSY);
  assert.throws(() => grad.toArray(), BUSY);
  assert.throws(() => lin.weight.requiresGrad_(false), BUSY);
  await backward;
  assert.ok(lin.weight.grad !== null && lin.weight.requiresGrad);
  grad.dispose();
  lin.zeroGrad({ setToNone: true });
});

test('requiresGrad_ during a pending forward that reads the tensor is refused with BUSY', async () => {
  manualSeed(0);
  const lin = new nn.Linear(1024, 1024);
  const forward = lin.forward(rand([64, 1024]));
  assert.throws(() => lin.weight.requiresGrad_(false), { ...BUSY, message: /Tensor\.requiresGrad_: .*nn\.functional\.linear/ });
  const out = await forward;
  assert.ok(out.requiresGrad, 'the forward recorded history, as the weight required grad when it started');
});

test('dispose() of a tensor in use by a pending operation is refused with BUSY, through any wrapper', async () => {
  const { lin, opt } = await steppingLinear(1024);
  const view = lin.stateDict().get('weight');
  const step = opt.step();
  assert.throws(() => lin.weight.dispose(), { ...BUSY, message: /Tensor\.dispose: .*optim\.Adam\.step/ });
  assert.throws(() => view.dispose(), BUSY);
  assert.throws(() => lin.dispose(), { ...BUSY, message: /Linear\.dispose/ });
  assert.throws(() => opt.dispose(), BUSY);
  await step;
  assert.ok(!lin.weight.isDisposed && !lin.bias.isDisposed && !lin.isDisposed, 'a refused Module.dispose disposed nothing');
  for (const s of opt.state.values()) assert.ok(!s.expAvg.isDisposed && !s.expAvgSq.isDisposed);
  await opt.step(); // the state is still usable
  view.dispose();
  opt.dispose();
  lin.dispose();
  assert.ok(lin.weight.isDisposed);

  const x = rand([64, 1024]);
  const w = rand([1024, 1024]);
  const forward = nn.functional.linear(x, w);
  assert.throws(() => x.dispose(), BUSY);
  (await forward).dispose();
  x.dispose();
});

test('a scope does not fail on tensors a pending operation still reads: it disposes them when the operation ends', async () => {
  const w = rand([1024, 1024]);
  let input;
  let forward;
  scope(() => {
    input = rand([64, 1024]);
    forward = nn.functional.linear(input, w);
  });
  assert.ok(!input.isDisposed, 'still in use');
  const out = await forward;
  assert.ok(input.isDisposed, 'disposed once the operation ended');
  out.dispose();
  w.dispose();
});

test('loadStateDict during a pending operation on the same memory is refused with BUSY', async (t) => {
  const dir = tempDir(t);
  const { lin, opt } = await steppingLinear(2048);
  const other = new nn.Linear(2048, 2048);
  const before = bytes(lin.weight);

  // While io.save reads the weights through stateDict()'s wrappers.
  const sd = lin.stateDict();
  const file = path.join(dir, 'w.pth');
  const save = io.save(sd, file);
  await assert.rejects(lin.loadStateDict(other.stateDict()), { ...BUSY, message: /Linear\.loadStateDict: .*io\.save/ });
  await save;
  const back = await io.load(file);
  assert.ok(bytes(back.get('weight')).equals(before), 'the file holds the weights as they were');

  // While the optimizer steps: neither the module's nor the optimizer's state may be replaced.
  const saved = opt.stateDict();
  const step = opt.step();
  await assert.rejects(lin.loadStateDict(other.stateDict()), BUSY);
  assert.throws(() => opt.loadStateDict(saved), { ...BUSY, message: /optim\.Adam\.loadStateDict/ });
  await step;
  await opt.step(); // the optimizer's state survived
  assert.equal(opt.state.get(lin.weight).step, 2);
});

async function trainLoop(model, opt, x, y, steps) {
  const criterion = new nn.CrossEntropyLoss();
  const losses = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    const out = await model.forward(x);
    const loss = await criterion.forward(out, y);
    await loss.backward();
    await opt.step();
    losses.push(loss.item());
    out.dispose();
    loss.dispose();
  }
  return losses;
}

function twoModels() {
  const make = (seed) => {
    manualSeed(seed);
    const model = new nn.Sequential(new nn.Linear(256, 512), new nn.ReLU(), new nn.Linear(512, 4));
    return { model, opt: new optim.Adam(model.parameters(), { lr: 1e-3 }) };
  };
  return [make(1), make(2)];
}

test('independent models train concurrently, with the numbers each gives alone', async () => {
  manualSeed(3);
  const x = rand([128, 256]);
  const y = tensor(Array.from({ length: 128 }, (_, i) => i % 4), { dtype: 'int64' });
  const alone = [];
  for (const { model, opt } of twoModels()) alone.push({ losses: await trainLoop(model, opt, x, y, 5), weights: model.parameters().map(bytes) });
  const both = twoModels();
  const losses = await Promise.all(both.map(({ model, opt }) => trainLoop(model, opt, x, y, 5)));
  both.forEach(({ model }, k) => {
    assert.deepEqual(losses[k], alone[k].losses);
    model.parameters().forEach((p, i) => assert.ok(bytes(p).equals(alone[k].weights[i]), `model ${k} parameter ${i}`));
  });
});

test('a backward() blocks steps on its own parameters only', async () => {
  const [a, b] = twoModels();
  const x = rand([2048, 256]);
  await makeGrads(b.model, x);
  const out = await a.model.forward(x);
  const loss = out.sum();
  const backward = loss.backward();
  await assert.rejects(a.opt.step(), { ...BUSY, message: /optim\.Adam\.step: a backward\(\) is still running/ });
  await b.opt.step(); // the other model's parameters are free
  b.opt.zeroGrad();
  await backward;
  await a.opt.step();
});
