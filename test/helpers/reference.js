'use strict';
// Runs test/python/reference.py with Debian's PyTorch (the parity reference).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

// Debian's PyTorch 1.13.1 here; the GPU check points this at the GPU machine's PyTorch.
const PYTHON = process.env.TORCHBRIDGE_PYTHON || '/usr/bin/python3';
const SCRIPT = path.join(__dirname, '..', 'python', 'reference.py');

function havePyTorch() {
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function reference(command, args) {
  const out = execFileSync(PYTHON, [SCRIPT, command, JSON.stringify(args)], {
    encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

function tmpDir(name) {
  const dir = path.join(__dirname, '..', '.tmp', `${name}-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

module.exports = { havePyTorch, reference, tmpDir, maxAbsDiff, PYTHON };
