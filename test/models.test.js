'use strict';
// The torchvision architectures (resnet18/34/50, vgg11_bn, vgg16, mobilenet_v2) and the layers they
// need (BatchNorm2d, grouped/depthwise Conv2d, ReLU6, the residual add_), against PyTorch:
// - layout: state_dict keys, shapes and dtypes equal real torchvision's (Debian's torchvision,
//   which also vouches for the hand-written Python copies in test/python/models.py);
// - parity: with the same weights and batch, the eval output and a few train-mode steps (batch
//   statistics, running statistics, dropout, SGD or Adam) are bitwise those of the same-version
//   PyTorch running those copies.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createHash } = require('crypto');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { nn, optim, io, models, manualSeed, getNumThreads, tensor, zeros, TorchError } = require('torchbridge');
const { havePyTorch, haveVision, tmpDir, PYTHON, VISION_PYTHON, NO_PYTORCH, NO_VISION } = require('./helpers/reference');

const SCRIPT = path.join(__dirname, 'python', 'models.py');
const ARCHS = ['resnet18', 'resnet34', 'resnet50', 'vgg11_bn', 'vgg16', 'mobilenet_v2'];
const NUM_CLASSES = 10;

function runModels(python, command, args) {
  return JSON.parse(execFileSync(python, [SCRIPT, command, JSON.stringify(args)], {
    encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'],
  }));
}

// A torch.save'd dict as io.load returns it.
function entry(dict, key) {
  return dict instanceof Map ? dict.get(key) : dict[key];
}

function layout(model) {
  return [...model.stateDict()].map(([k, t]) => { const r = [k, t.shape, t.dtype]; t.dispose(); return r; });
}

function digest(t) {
  const a = t.toArray();
  return createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

function digests(model) {
  const out = {};
  for (const [k, t] of model.stateDict()) { out[k] = digest(t); t.dispose(); }
  return out;
}

test('the architectures have torchvision 0.14\'s state_dict keys, shapes and dtypes, and its DEFAULT weight files', { skip: !haveVision() && NO_VISION }, () => {
  // The seeded-init comparison skips vgg16 (its 138 M draws cost seconds; vgg11_bn is the same class).
  const initArchs = ARCHS.filter((a) => a !== 'vgg16');
  const ref = runModels(VISION_PYTHON, 'names', { archs: ARCHS, initArchs, seed: 0, numClasses: NUM_CLASSES });
  for (const arch of ARCHS) {
    const r = ref[arch];
    assert.deepEqual(r.copy, r.torchvision, `${arch}: test/python/models.py drifted from torchvision`);
    if (initArchs.includes(arch)) assert.equal(r.sameInit, true, `${arch}: the Python copy does not draw torchvision's initial weights`);
    const model = models[arch]({ numClasses: NUM_CLASSES });
    assert.deepEqual(layout(model), r.torchvision, arch);
    model.dispose();
    assert.equal(models[arch].weights.url, r.defaultUrl, `${arch}: DEFAULT weights`);
    assert.equal(path.basename(models[arch].defaultWeightsPath()), path.basename(r.defaultUrl));
    assert.equal(models[arch].weights.sha256Prefix, /-([0-9a-f]+)\.pth$/.exec(r.defaultUrl)[1]);
  }
});

test('a seeded model draws the same initial weights as torchvision (kaiming_normal_ fan_out, N(0, 0.01), BN 1/0)', { skip: !havePyTorch() && NO_PYTORCH }, () => {
  const archs = ['resnet18', 'vgg11_bn', 'mobilenet_v2'];
  const ref = runModels(PYTHON, 'init', { archs, seed: 5, numClasses: NUM_CLASSES });
  for (const arch of archs) {
    manualSeed(5);
    const model = models[arch]({ numClasses: NUM_CLASSES });
    assert.deepEqual(digests(model), ref[arch], arch);
    model.dispose();
  }
});

// The smallest inputs each architecture takes (32x32: VGG's five 2x2 pools, ResNet's 1x1 before
// its pool), batch 2 (BatchNorm's batch statistics need 2 values per channel).
const BASE = { seed: 11, batch: 2, size: 32, numClasses: NUM_CLASSES };
const CASES = [
  { arch: 'resnet18', optimizer: 'adam', lr: 1e-3, steps: 3 },
  { arch: 'resnet34', optimizer: 'sgd', lr: 0.05, steps: 2 },
  { arch: 'resnet50', optimizer: 'sgd', lr: 0.05, steps: 2 },
  { arch: 'vgg11_bn', optimizer: 'sgd', lr: 0.01, steps: 2 },
  { arch: 'vgg16', optimizer: 'sgd', lr: 0.01, steps: 2 },
  { arch: 'mobilenet_v2', optimizer: 'adam', lr: 1e-3, steps: 3 },
];
let parityDir = null;
let parityRef = null;
test.after(() => { if (parityDir) fs.rmSync(parityDir, { recursive: true, force: true }); });

// One Python process for every case (importing torch is most of its time), on first use.
function parityReference() {
  if (!parityRef) {
    parityDir = tmpDir('models-parity');
    parityRef = runModels(PYTHON, 'parity', { base: BASE, cases: CASES, dir: parityDir, threads: getNumThreads() });
  }
  return parityRef;
}

for (const c of CASES) {
  test(`${c.arch}: eval output and ${c.steps} train-mode ${c.optimizer} steps are bitwise PyTorch's`, { skip: !havePyTorch() && NO_PYTORCH }, async () => {
    const ref = parityReference()[c.arch];
    const weights = path.join(parityDir, `${c.arch}-weights.pth`);
    const batchFile = path.join(parityDir, `${c.arch}-batch.pth`);
    const seed = BASE.seed;
    const model = models[c.arch]({ numClasses: NUM_CLASSES });
    const stateDict = await io.load(weights);
    await model.loadStateDict(stateDict);
    for (const t of stateDict.values()) t.dispose();
    fs.rmSync(weights);
    const batch = await io.load(batchFile);
    const x = entry(batch, 'x');
    const y = entry(batch, 'y');

    model.eval();
    const out = await model.forward(x);
    assert.deepEqual(out.toArray(), Float32Array.from(ref.eval), 'eval output');
    out.dispose();

    model.train();
    manualSeed(seed + 1);
    const params = model.parameters();
    const opt = c.optimizer === 'adam' ? new optim.Adam(params, { lr: c.lr }) : new optim.SGD(params, { lr: c.lr, momentum: 0.9 });
    const crit = new nn.CrossEntropyLoss();
    const losses = [];
    for (let step = 0; step < c.steps; step++) {
      opt.zeroGrad({ setToNone: true });
      const logits = await model.forward(x);
      const loss = await crit.forward(logits, y);
      await loss.backward();
      await opt.step();
      losses.push(loss.item());
      assert.deepEqual(logits.toArray(), Float32Array.from(ref.trainOutputs[step]), `train-mode output, step ${step}`);
      logits.dispose();
      loss.dispose();
    }
    assert.deepEqual(losses, ref.losses.map(Math.fround), 'losses');
    // Every parameter and buffer: weights, running_mean/var and num_batches_tracked.
    const ours = digests(model);
    const keys = Object.keys(ref.after);
    assert.deepEqual(Object.keys(ours), keys);
    const differing = keys.filter((k) => ours[k] !== ref.after[k]);
    assert.deepEqual(differing, [], 'state_dict entries that differ after the steps');
    const tracked = keys.find((k) => k.endsWith('num_batches_tracked')); // vgg16 has no BatchNorm
    if (c.arch !== 'vgg16') {
      const nbt = model.stateDict().get(tracked);
      assert.equal(nbt.dtype, 'int64');
      assert.equal(nbt.item(), c.steps);
      nbt.dispose();
    }
    x.dispose();
    y.dispose();
    model.dispose();
    fs.rmSync(batchFile);
  });
}

test('.pretrained loads a torchvision-layout file by path, and a new head skips the checkpoint\'s', async () => {
  const dir = tmpDir('models-pretrained');
  const file = path.join(dir, 'mobilenet_v2.pth');
  manualSeed(3);
  const source = models.mobilenet_v2();
  await io.save(source.stateDict(), file);
  const same = await models.mobilenet_v2.pretrained({ weights: file });
  const want = digests(source);
  assert.deepEqual(digests(same), want);
  let result;
  const head = await models.mobilenet_v2.pretrained({ weights: file, numClasses: 3, onLoad: (r) => { result = r; } });
  assert.deepEqual(result.skippedKeys, ['classifier.1.weight', 'classifier.1.bias']);
  assert.deepEqual(head.classifier.at(1).weight.shape, [3, 1280]);
  const got = digests(head);
  assert.equal(got['features.0.0.weight'], want['features.0.0.weight']);
  // Checkpoints saved before PyTorch 0.4.1 have no num_batches_tracked: PyTorch loads them, leaving it 0.
  const old = path.join(dir, 'old.pth');
  const sd = source.stateDict();
  for (const k of [...sd.keys()]) if (k.endsWith('num_batches_tracked')) { sd.get(k).dispose(); sd.delete(k); }
  await io.save(sd, old);
  const fromOld = await models.mobilenet_v2.pretrained({ weights: old });
  assert.deepEqual(fromOld.stateDict().get('features.0.1.num_batches_tracked').item(), 0);
  assert.equal(digests(fromOld)['features.0.0.weight'], want['features.0.0.weight']);
  fromOld.dispose();
  await assert.rejects(models.resnet18.pretrained({ weights: file }), (e) => e instanceof TorchError && e.code === 'VALUE_ERROR' && /Missing key\(s\) in state_dict: "conv1.weight"/.test(e.message));
  await assert.rejects(models.resnet18.pretrained({ weights: path.join(dir, 'nope.pth') }), TorchError);
  // Replacing ResNet's head, as `model.fc = nn.Linear(512, 2)`: the state_dict and forward follow.
  const r18 = models.resnet18();
  r18.fc = new nn.Linear(512, 2);
  assert.deepEqual(r18.stateDict().get('fc.weight').shape, [2, 512]);
  r18.eval();
  assert.deepEqual((await r18.forward(zeros([1, 3, 32, 32]))).shape, [1, 2]);
  r18.dispose();
  assert.throws(() => models.resnet50({ numClasses: 0 }), (e) => e.code === 'INVALID_ARGUMENT' && /numClasses/.test(e.message));
  for (const m of [source, same, head]) m.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('BatchNorm2d (momentum, momentum null, affine false, no running stats), grouped Conv2d and ReLU6 are bitwise PyTorch\'s, gradients included', { skip: !havePyTorch() && NO_PYTORCH }, async () => {
  const dir = tmpDir('models-layers');
  const file = path.join(dir, 'inputs.pth');
  const bnCases = [{}, { momentum: null }, { momentum: 0.3, eps: 1e-3 }, { affine: false }, { track_running_stats: false }];
  const ref = runModels(PYTHON, 'layers', { seed: 2, steps: 3, threads: getNumThreads(), file, bn: bnCases });
  const inputs = await io.load(file);
  const xs = entry(inputs, 'xs');
  const g = entry(inputs, 'g');
  for (const [i, c] of bnCases.entries()) {
    const bn = new nn.BatchNorm2d(3, { momentum: c.momentum, eps: c.eps, affine: c.affine, trackRunningStats: c.track_running_stats });
    if (bn.weight) await bn.loadStateDict({ weight: tensor([0.5, 1.0, 1.5]), bias: tensor([-0.2, 0.0, 0.2]) }, { strict: false });
    const r = ref[String(i)];
    for (const [step, x0] of xs.slice(0, -1).entries()) {
      const x = x0.clone().requiresGrad_(true);
      const y = await bn.forward(x);
      const loss = y.mul(g).sum();
      await loss.backward();
      const got = [...y.toArray(), ...x.grad.toArray()];
      assert.deepEqual(Float32Array.from(got), Float32Array.from(r.outputs[step]), `case ${JSON.stringify(c)}, step ${step}`);
    }
    bn.eval();
    const y = await bn.forward(xs[xs.length - 1]);
    assert.deepEqual(y.toArray(), Float32Array.from(r.outputs[xs.length - 1]), `case ${JSON.stringify(c)}, eval`);
    const state = {};
    for (const [k, t] of bn.stateDict()) state[k] = Array.from(t.toArray(), Number);
    assert.deepEqual(Object.keys(state), Object.keys(r.state));
    for (const k of Object.keys(state)) {
      const want = k === 'num_batches_tracked' ? r.state[k] : Array.from(Float32Array.from(r.state[k]));
      assert.deepEqual(state[k], want, `case ${JSON.stringify(c)}: ${k}`);
    }
    assert.deepEqual(bn.parameters().map((p) => Array.from(p.grad.toArray())), r.grads.map((a) => Array.from(Float32Array.from(a))));
  }

  manualSeed(2);
  const conv = new nn.Conv2d(4, 6, 3, { padding: 1, groups: 2 });
  const x = entry(inputs, 'conv_x').clone().requiresGrad_(true);
  const y = await nn.functional.relu6(await conv.forward(x).then((t) => t.mul(4)));
  await y.sum().backward();
  const r = ref.conv;
  assert.deepEqual(y.toArray(), Float32Array.from(r.y));
  assert.deepEqual(x.grad.toArray(), Float32Array.from(r.xGrad));
  assert.deepEqual(conv.weight.grad.toArray(), Float32Array.from(r.wGrad));
  assert.deepEqual(conv.bias.grad.toArray(), Float32Array.from(r.bGrad));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('BatchNorm2d rejects what PyTorch rejects, with PyTorch\'s messages', async () => {
  const bn = new nn.BatchNorm2d(3);
  await assert.rejects(bn.forward(zeros([3, 4, 4])), (e) => e.code === 'VALUE_ERROR' && /expected 4D input \(got 3D input\)/.test(e.message));
  await assert.rejects(bn.forward(zeros([1, 3, 1, 1])), (e) => e.code === 'VALUE_ERROR' && /Expected more than 1 value per channel when training, got input size \[1, 3, 1, 1\]/.test(e.message));
  bn.eval();
  const out = await bn.forward(zeros([1, 3, 1, 1])); // running statistics: one value is fine
  assert.deepEqual(out.shape, [1, 3, 1, 1]);
  assert.throws(() => new nn.BatchNorm2d(3, { momentum: 'fast' }), (e) => e.code === 'INVALID_ARGUMENT' && /momentum/.test(e.message));
  assert.throws(() => new nn.BatchNorm2d(0), (e) => e.code === 'INVALID_ARGUMENT' && /numFeatures/.test(e.message));
  await assert.rejects(bn.forward(zeros([2, 4, 3, 3])), (e) => e instanceof TorchError);
});
