'use strict';
// The seed's training loop on AlexNet, torchbridge vs Debian's PyTorch 1.13.1, a few steps over
// two epochs: batch 1, Softmax head, zeroGrad once per epoch, Adam, CosineAnnealingLR, dropout on.
const test = require('node:test');
const assert = require('node:assert/strict');
const { getNumThreads } = require('torchbridge');
const { havePyTorch, NO_PYTORCH } = require('./helpers/reference');
const { compareSeedLoop } = require('./helpers/seed-loop');

test('seed loop on AlexNet matches PyTorch step for step', { skip: !havePyTorch() && NO_PYTORCH }, async (t) => {
  const r = await compareSeedLoop({
    seed: 1234, lr: 1e-4, tMax: 2, epochs: 2, threads: getNumThreads(),
    sizes: [[224, 298], [298, 224], [224, 224]], labels: [0, 1, 1],
  });
  t.diagnostic(`losses max|diff| ${r.lossDiff}, outputs ${r.outDiff}, final weights ${r.weightDiff} over ${r.values} values (bitwise: ${r.bitwise}), lrs ${JSON.stringify(r.lrs)}`);
  assert.equal(r.values, r.pythonValues);
  assert.ok(r.lossDiff <= 1e-6, `losses differ by ${r.lossDiff}`);
  assert.ok(r.outDiff <= 1e-6, `outputs differ by ${r.outDiff}`);
  assert.ok(r.weightDiff <= 1e-6, `weights differ by ${r.weightDiff}`);
  assert.deepEqual(r.lrs, r.refLrs);
  // The weights moved: the comparison is not of two untouched initialisations.
  assert.ok(new Set(r.refLosses).size > 1);
});
