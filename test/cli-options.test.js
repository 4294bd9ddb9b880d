'use strict';
// The three CLIs before any work: --help and option errors answer without loading libtorch, name
// the option as typed with the value as typed, and a repeated option takes its last value.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawnSync } = require('child_process');
const { tmpDir } = require('./helpers/reference');

const fs = require('fs');

const BIN = path.join(__dirname, '..', 'dist', 'bin');
const HOOK = path.join(__dirname, 'helpers', 'record-dlopen.js');
let cwd;
test.before(() => { cwd = tmpDir('cli-options'); });
test.after(() => fs.rmSync(cwd, { recursive: true, force: true }));

function run(script, args) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['-r', HOOK, path.join(BIN, script), ...args], { cwd, encoding: 'utf8', timeout: 120000 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const m = /\ndlopen: (.*)\n$/.exec(r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.slice(0, m ? m.index : undefined), loaded: m ? JSON.parse(m[1]) : null, ms };
}

test('--help of every CLI answers without loading libtorch (or any native addon), under its bin name', (t) => {
  const bins = require('../package.json').bin;
  for (const [bin, file] of Object.entries(bins)) {
    const r = run(path.basename(file), ['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${bin} `), `usage names ${bin}`);
    assert.deepEqual(r.loaded, [], `${bin} --help loads no addon`);
    t.diagnostic(`${bin} --help: ${r.ms.toFixed(0)} ms`);
  }
});

test('option errors name the option and the value as typed, without loading libtorch', () => {
  const cases = [
    ['train.js', ['--epochs', 'abc'], "train: --epochs: expected a positive integer, got 'abc'"],
    ['train.js', ['--batch-size', '0'], "train: --batch-size: expected a positive integer, got '0'"],
    ['train.js', ['--lr', '-1e-3'], "train: --lr: expected a non-negative number, got '-1e-3'"],
    ['train.js', ['--epochs', '2.5'], "train: --epochs: expected a positive integer, got '2.5'"],
    ['train.js', ['--patience', 'soon'], "train: --patience: expected a non-negative integer, got 'soon'"],
    ['train.js', ['--optimizer', 'rmsprop'], "train: --optimizer: expected one of adam, adamw, sgd, got 'rmsprop'"],
    ['train.js', ['--keep-best-by', 'acc'], "train: --keep-best-by: expected one of val_acc, val_loss, got 'acc'"],
    ['train.js', ['--device', 'gpu'], "train: --device: expected auto, cpu, cuda or cuda:N, got 'gpu'"],
    ['train.js', ['--epochs'], 'train: --epochs: expected a value'],
    ['train.js', ['--bogus', '1'], 'train: Unknown argument: --bogus'],
    ['train.js', ['run4'], 'train: Unknown argument: run4'],
    ['validate.js', ['--weights', 'w.pth', '--data', 'd', '--batch-size', 'x'], "validate: --batch-size: expected a positive integer, got 'x'"],
    ['validate.js', ['--data', 'd'], 'validate: Missing required argument: --weights'],
    ['predict.js', ['--weights', 'w.pth', '--topk', '0', 'a.jpg'], "predict: --topk: expected a positive integer, got '0'"],
    ['predict.js', ['--weights', 'w.pth', '--topk', '1.5', 'a.jpg'], "predict: --topk: expected a positive integer, got '1.5'"],
    ['predict.js', ['--weights', 'w.pth'], 'predict: give at least one IMAGE or folder'],
  ];
  for (const [script, args, message] of cases) {
    const r = run(script, args);
    assert.equal(r.status, 2, `${script} ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(message), `${script} ${args.join(' ')}:\n${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.deepEqual(r.loaded, [], `${script} ${args.join(' ')} loads no addon`);
  }
});

test('a repeated option takes its last value, as in argparse', () => {
  const last = run('train.js', ['--epochs', '1', '--epochs', 'abc']);
  assert.match(last.stderr, /--epochs: expected a positive integer, got 'abc'/);
  // Here the last --epochs is valid, so the run goes on to the last --data (and stops there).
  const ok = run('train.js', ['--epochs', 'abc', '--epochs', '1', '--data', 'first', '--data', 'second']);
  assert.notEqual(ok.status, 0);
  assert.match(ok.stderr, /^train: --data second has no train\/ folder/, ok.stderr);
  assert.doesNotMatch(ok.stderr, /array|abc/);
});
