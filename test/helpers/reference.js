'use strict';
// Runs test/python/reference.py for the parity tests. Two Pythons:
// - PYTHON: the PyTorch of the same version as the libtorch the addon loaded (the project's .venv
//   for pip's 2.x, Debian's /usr/bin/python3 for 1.13); TORCHBRIDGE_PYTHON overrides it.
// - VISION_PYTHON: Debian's python3-torchvision + PIL, the reference for images and file layout
//   (pip's torchvision builds need a CUDA torch).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..', '..');
const SCRIPT = path.join(__dirname, '..', 'python', 'reference.py');
const VISION_PYTHON = '/usr/bin/python3';
const LOADED_VERSION = require('../../dist').buildInfo().torchVersion;

// torch.__version__ as libtorch reports its own: major.minor.patch (pip adds '+cpu', Debian 'a0+git...').
function torchVersionOf(python) {
  try {
    return /^\d+\.\d+\.\d+/.exec(execFileSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0];
  } catch {
    return null;
  }
}

function matchingPython() {
  if (process.env.TORCHBRIDGE_PYTHON) return process.env.TORCHBRIDGE_PYTHON;
  for (const python of [path.join(ROOT, '.venv', 'bin', 'python'), VISION_PYTHON]) {
    if (fs.existsSync(python) && torchVersionOf(python) === LOADED_VERSION) return python;
  }
  return null;
}

const PYTHON = matchingPython();

/** Whether the same-version Python PyTorch is there (the parity tests' skip condition). */
function havePyTorch() {
  return PYTHON !== null;
}

function haveVision() {
  try {
    execFileSync(VISION_PYTHON, ['-c', 'import torch, torchvision, PIL'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether PYTHON also has torchvision (scripts that use its datasets and transforms). */
function pyTorchHasVision() {
  if (!PYTHON) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const NO_PYTORCH = `no Python PyTorch ${LOADED_VERSION} (the linked libtorch's version) found: run npm run setup`;
const NO_VISION = "Debian's python3-torchvision is not installed: run npm run setup";

function runReference(python, command, args) {
  const out = execFileSync(python, [SCRIPT, command, JSON.stringify(args)], {
    encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

/** A reference computed by the same-version PyTorch. */
function reference(command, args) {
  return runReference(PYTHON, command, args);
}

/** A reference computed by torchvision + PIL (images, ImageFolder, module names). */
function visionReference(command, args) {
  return runReference(VISION_PYTHON, command, args);
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

module.exports = { havePyTorch, haveVision, pyTorchHasVision, reference, visionReference, runReference, tmpDir, maxAbsDiff, torchVersionOf, PYTHON, VISION_PYTHON, NO_PYTORCH, NO_VISION };
