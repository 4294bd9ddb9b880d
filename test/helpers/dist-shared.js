'use strict';
// The model and data of the DDP equivalence test, shared by the single-process run and the ranks.
const { nn, tensor, manualSeed } = require('torchbridge');

function makeModel() {
  manualSeed(3);
  return new nn.Sequential(new nn.Linear(12, 32), new nn.ReLU(), new nn.Linear(32, 4));
}

// Samples [start, start + count) of step `step`'s batch of 16, deterministic without any RNG.
function makeData(step, start, count) {
  const x = [];
  const y = [];
  for (let i = start; i < start + count; i++) {
    for (let j = 0; j < 12; j++) x.push(Math.sin(1 + step * 31 + i * 7 + j * 3));
    y.push((i * 5 + step) % 4);
  }
  return { x: tensor(x, { shape: [count, 12] }), y: tensor(y, { dtype: 'int64' }) };
}

module.exports = { makeModel, makeData };
