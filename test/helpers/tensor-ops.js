'use strict';
// What test/tensor-ops.test.js and test/dataset.test.js share: running test/python/tensor_ops.py
// with the same-version PyTorch, and encoding a tensor as that script encodes its results.
const path = require('path');
const { execFileSync } = require('child_process');
const { PYTHON } = require('./reference');

const SCRIPT = path.join(__dirname, '..', 'python', 'tensor_ops.py');

function reference(command, args) {
  try {
    return JSON.parse(execFileSync(PYTHON, [SCRIPT, command, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (err) {
    throw new Error(`tensor_ops.py ${command} failed: ${err.stderr || err.message}`);
  }
}

/** What tensor_ops.py's encode() gives for the same tensor. */
function encode(t) {
  const arr = t.toArray();
  return { dtype: t.dtype, shape: t.shape, data: Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).toString('base64') };
}

module.exports = { reference, encode };
