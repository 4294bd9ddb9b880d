'use strict';
// manualSeed drives the same generator streams as torch.manual_seed: random tensors, dropout
// masks and default layer initialisation all match Python for the same seed and order of use.
const test = require('node:test');
const assert = require('node:assert/strict');
const { nn, rand, randn, ones, manualSeed } = require('torchbridge');
const { havePyTorch, reference, NO_PYTORCH } = require('./helpers/reference');

test('rand, randn, dropout masks and layer init equal PyTorch for the same seed', { skip: !havePyTorch() && NO_PYTORCH }, async () => {
  const spec = { seed: 42, n: 257 };
  const ref = reference('random', spec);
  manualSeed(spec.seed);
  assert.deepEqual(Array.from(rand([spec.n]).toArray()), ref.rand);
  assert.deepEqual(Array.from(randn([spec.n]).toArray()), ref.randn);
  const drop = new nn.Dropout(0.5);
  assert.deepEqual(Array.from((await drop.forward(ones([spec.n]))).toArray()), ref.dropout);
  manualSeed(spec.seed);
  const lin = new nn.Linear(5, 3);
  const conv = new nn.Conv2d(3, 4, 3);
  assert.deepEqual(Array.from(lin.weight.toArray()), ref.init['linear.weight']);
  assert.deepEqual(Array.from(lin.bias.toArray()), ref.init['linear.bias']);
  assert.deepEqual(Array.from(conv.weight.toArray()), ref.init['conv.weight']);
  assert.deepEqual(Array.from(conv.bias.toArray()), ref.init['conv.bias']);
});

test('the same seed gives the same stream twice; another seed does not', () => {
  manualSeed(7);
  const a = Array.from(rand([8]).toArray());
  manualSeed(7);
  assert.deepEqual(Array.from(rand([8]).toArray()), a);
  manualSeed(8);
  assert.notDeepEqual(Array.from(rand([8]).toArray()), a);
  manualSeed(2n ** 40n);
});
