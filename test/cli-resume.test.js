'use strict';
// Resuming as a user does: the Ctrl-C hint pasted as printed, --resume alone continuing that very
// run, extending a finished run, and overrides that would make it another run refused.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { tmpDir } = require('./helpers/reference');
const { threeClassData } = require('./helpers/three-classes'); // three classes: a fallback to the generated set would fail

const TRAIN = path.join(__dirname, '..', 'dist', 'train.js');
let dir;
let env;
let three;

test.before(async () => {
  dir = tmpDir('cli-resume');
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache');
  // No pretrained weights here: runs without --weights train from scratch (and say so).
  env = { ...process.env, TORCH_HOME: path.join(dir, 'torch-home'), PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };
  three = await threeClassData(path.join(dir, 'three'));
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ARGS = (out) => ['--data', three, '--epochs', '3', '--batch-size', '4', '--image-size', '64', '--threads', '2', '--seed', '3', '--out', out, '--json'];
const events = (stdout) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const logs = (stdout) => events(stdout).filter((e) => e.event === 'log').map((e) => e.message);
const metrics = (out) => fs.readFileSync(path.join(dir, out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const withoutTimes = (rows) => rows.map(({ seconds, ...m }) => m);

function train(args) {
  const r = spawnSync(process.execPath, [TRAIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 600000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the Ctrl-C hint, pasted as printed, continues that run with its own settings: the same figures as an uninterrupted run', { timeout: 600000 }, async () => {
  const full = train(ARGS('full'));
  assert.equal(full.status, 0, full.stderr);
  assert.ok(logs(full.stdout).some((m) => /no pretrained weights .*training from scratch/.test(m)));

  const cut = await new Promise((resolve) => {
    const child = spawn(process.execPath, [TRAIN, ...ARGS('cut')], { cwd: dir, env });
    let stdout = '';
    let sent = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (!sent && events(stdout.slice(0, stdout.lastIndexOf('\n') + 1)).some((e) => e.event === 'step' && e.epoch === 1 && e.step === 2)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('exit', (code) => resolve({ code, stdout }));
  });
  assert.equal(cut.code, 130, cut.stdout);
  const hint = logs(cut.stdout).map((m) => /^interrupted: resume with {2}(.*)$/.exec(m)).find(Boolean);
  assert.ok(hint, cut.stdout);
  const command = hint[1];
  assert.match(command, /^node \S*train\.js --resume cut\/last\.ckpt --json$/, 'the run folder as typed, no other options needed');

  const pasted = spawnSync('sh', ['-c', command], { cwd: dir, env, encoding: 'utf8', timeout: 600000 });
  assert.equal(pasted.status, 0, pasted.stderr);
  const messages = logs(pasted.stdout);
  assert.ok(messages.some((m) => /^resuming cut\/last\.ckpt at epoch 1, step [2-5] with its own settings$/.test(m)), `mid-epoch: ${messages.join('\n')}`);
  assert.ok(!messages.some((m) => /pretrained|from scratch/.test(m)), `no weights notice on resume: ${messages.join('\n')}`);
  const config = events(pasted.stdout).find((e) => e.event === 'config').config;
  const original = events(full.stdout).find((e) => e.event === 'config').config;
  for (const key of ['epochs', 'batchSize', 'recipe', 'head', 'lr', 'scheduler', 'tMax', 'seed', 'imageSize', 'threads']) assert.equal(config[key], original[key], key);
  assert.equal(config.data, path.resolve(three));
  assert.equal(config.out, 'cut');
  assert.deepEqual(withoutTimes(metrics('cut')), withoutTimes(metrics('full')));
});

test('--epochs extends a finished run; a schedule that followed the epochs now runs over the new ones, and the run says so', { timeout: 600000 }, () => {
  const before = metrics('full');
  const r = train(['--resume', 'full/last.ckpt', '--epochs', '5', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const messages = logs(r.stdout);
  assert.ok(messages.includes('resuming full/last.ckpt at epoch 4 with its settings but --epochs 3 -> 5'), messages.join('\n'));
  // Cosine over 5 epochs from 1e-4, at epoch index 3: PyTorch's closed form.
  const expected = 1e-4 * (1 + Math.cos((Math.PI * 3) / 5)) / 2;
  assert.ok(messages.some((m) => m.startsWith('the cosine schedule followed the epochs, so it now runs over 5 (--t-max 5): epoch 4 runs at lr ') && m.endsWith(' instead of 0')), messages.join('\n'));
  const after = metrics('full');
  assert.deepEqual(after.map((m) => m.epoch), [1, 2, 3, 4, 5]);
  assert.deepEqual(withoutTimes(after.slice(0, 3)), withoutTimes(before));
  assert.ok(Math.abs(after[3].lr - expected) < 1e-12 * expected, `epoch 4 used ${after[3].lr}, expected ${expected}`);
  assert.equal(before[2].nextLr, 0, 'the finished 3-epoch schedule had reached 0');
  assert.ok(after[4].lr < after[3].lr && after[4].nextLr === 0, 'annealed to 0 at the new end');
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'full', 'run.json'), 'utf8')).config.epochs, 5);
  assert.ok(!messages.some((m) => /pretrained|from scratch/.test(m)));
});

test('resuming a finished run has nothing to do; changes that would make it another run are refused with the way to do it', { timeout: 300000 }, () => {
  const again = train(['--resume', 'full/last.ckpt']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^nothing to train: full\/last\.ckpt finished its 5 epochs; resume with --epochs N \(N > 5\) to train on$/m);
  const refusals = [
    [['--lr', '0.001'], "train: --lr 0.001 cannot change when resuming full/last.ckpt (its run has --lr 0.0001): the optimizer, schedule and random state carry on from where it stopped. To train on with --lr 0.001, start a new run from its weights: --weights full/last.ckpt --lr 0.001"],
    [['--batch-size', '8'], 'train: --batch-size 8 cannot change when resuming full/last.ckpt (its run has --batch-size 4)'],
    [['--head', 'append'], 'train: --head append cannot change when resuming full/last.ckpt (its run has --head replace)'],
    [['--epochs', '4'], 'train: --epochs 4: full/last.ckpt has already trained 5 epoch(s); give more epochs to train on'],
  ];
  for (const [args, message] of refusals) {
    const r = train(['--resume', 'full/last.ckpt', ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(message), `${args.join(' ')}:\n${r.stderr}`);
  }
});
