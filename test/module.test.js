'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, models, tensor, zeros, ones, rand, manualSeed, noGrad, TorchError } = require('torchbridge');
const { NO_VISION, haveVision, visionReference } = require('./helpers/reference');

test('AlexNet has torchvision names, shapes and order', { skip: !haveVision() && NO_VISION }, () => {
  const ref = visionReference('alexnet_names', {});
  const net = models.alexnet();
  assert.deepEqual(net.namedParameters().map(([n, p]) => [n, p.shape]), ref.params);
  assert.deepEqual([...net.stateDict().keys()], ref.state);
  const count = net.parameters().reduce((a, p) => a + p.numel(), 0);
  assert.equal(count, 61100840);
  net.dispose();
});

test('both of the seed\'s head adaptations are expressible', async () => {
  const net = models.alexnet();
  net.classifier.set(6, new nn.Linear(4096, 2));
  assert.deepEqual(net.stateDict().get('classifier.6.weight').shape, [2, 4096]);
  assert.equal(net.classifier.at(-1), net.classifier.at(6));
  net.eval();
  const x = rand([2, 3, 224, 224]);
  const out = await noGrad(() => net.forward(x));
  assert.deepEqual(out.shape, [2, 2]);

  const appended = new nn.Sequential(models.alexnet(), new nn.Linear(1000, 2), new nn.Softmax({ dim: 1 }));
  assert.ok(appended.stateDict().has('0.classifier.6.weight'));
  assert.ok(appended.stateDict().has('1.weight'));
  const probs = await noGrad(() => appended.eval().forward(x));
  const sums = probs.sum(1).toArray();
  assert.ok(Math.abs(sums[0] - 1) < 1e-6 && Math.abs(sums[1] - 1) < 1e-6);
  assert.throws(() => net.classifier.at(7), { code: 'INDEX_ERROR', message: 'nn.Sequential.at: index 7 is out of range for Sequential of length 7' });
});

test('train()/eval() switch dropout', async () => {
  manualSeed(0);
  const drop = new nn.Dropout(0.5);
  const x = ones([1000]);
  const trainOut = await drop.forward(x);
  const zerosCount = Array.from(trainOut.toArray()).filter((v) => v === 0).length;
  assert.ok(zerosCount > 400 && zerosCount < 600, `${zerosCount} zeros`);
  assert.ok(Array.from(trainOut.toArray()).every((v) => v === 0 || v === 2));
  drop.eval();
  assert.equal(drop.training, false);
  assert.deepEqual(Array.from((await drop.forward(x)).toArray()), Array.from(x.toArray()));
  const seq = new nn.Sequential(new nn.Linear(2, 2), new nn.Dropout());
  seq.eval();
  assert.ok(seq.modules().every((m) => !m.training));
  seq.train();
  assert.ok(seq.modules().every((m) => m.training));
});

test('loadStateDict reports missing, unexpected and mis-shaped keys like PyTorch and changes nothing', async () => {
  manualSeed(1);
  const a = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU(), new nn.Linear(2, 1));
  const before = a.stateDict();
  const snapshot = new Map([...before].map(([k, v]) => [k, Array.from(v.toArray())]));
  const bad = new Map([
    ['0.weight', zeros([2, 3])],
    ['0.bias', zeros([5])],
    ['2.weight', zeros([1, 2])],
    ['extra', zeros([1])],
  ]);
  await assert.rejects(a.loadStateDict(bad), (e) => {
    assert.ok(e instanceof TorchError);
    assert.equal(e.message, [
      'Error(s) in loading state_dict for Sequential:',
      '\tMissing key(s) in state_dict: "2.bias". ',
      '\tUnexpected key(s) in state_dict: "extra". ',
      '\tsize mismatch for 0.bias: copying a param with shape [5] from checkpoint, the shape in current model is [2].',
    ].join('\n'));
    return true;
  });
  for (const [k, v] of a.stateDict()) assert.deepEqual(Array.from(v.toArray()), snapshot.get(k), `${k} unchanged`);

  const partial = new Map([['0.weight', ones([2, 3])], ['extra', zeros([1])]]);
  const result = await a.loadStateDict(partial, { strict: false });
  assert.deepEqual(result, { missingKeys: ['0.bias', '2.weight', '2.bias'], unexpectedKeys: ['extra'], skippedKeys: [] });
  assert.deepEqual(Array.from(a.stateDict().get('0.weight').toArray()), [1, 1, 1, 1, 1, 1]);

  const b = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU(), new nn.Linear(2, 1));
  await b.loadStateDict(Object.fromEntries(a.stateDict()));
  for (const [k, v] of b.stateDict()) assert.deepEqual(Array.from(v.toArray()), Array.from(a.stateDict().get(k).toArray()));
});

test('stateDict tensors carry no autograd history and share memory with the parameters', () => {
  const lin = new nn.Linear(2, 2);
  const w = lin.stateDict().get('weight');
  assert.equal(w.requiresGrad, false);
  assert.equal(lin.weight.requiresGrad, true);
  assert.equal(lin.weight.isLeaf, true);
});

test('to(device) keeps parameters in place on CPU and rejects unavailable devices', async () => {
  const lin = new nn.Linear(2, 2);
  const w = lin.weight;
  assert.equal(await lin.to('cpu'), lin);
  assert.equal(lin.weight, w);
  assert.equal(w.device, 'cpu');
  await assert.rejects(lin.to('tpu'), { code: 'INVALID_ARGUMENT' });
});

test('custom modules compose like PyTorch subclasses', async () => {
  class Net extends nn.Module {
    fc1 = this.registerModule('fc1', new nn.Linear(4, 8));
    fc2 = this.registerModule('fc2', new nn.Linear(8, 2));
    async forward(x) {
      const h = await this.fc1.forward(x);
      return this.fc2.forward(h.relu());
    }
  }
  const net = new Net();
  assert.deepEqual(net.namedParameters().map(([n]) => n), ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
  const out = await net.forward(rand([3, 4]));
  assert.deepEqual(out.shape, [3, 2]);
  assert.match(String(net), /^Net\(\n  \(fc1\): Linear\(inFeatures=4, outFeatures=8, bias=true\)/);
  net.dispose();
  assert.throws(() => net.parameters(), { code: 'DISPOSED' });
  assert.throws(() => net.fc1.weight.shape, { code: 'DISPOSED' });
});
