'use strict';
// train.js --nproc-per-node: the workers stop when their launcher dies, even by SIGKILL.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync, spawn } = require('child_process');
const { training } = require('torchbridge');
const { tmpDir } = require('./helpers/reference');

const TRAIN = path.join(__dirname, '..', 'dist', 'train.js');

// Direct children of `pid` (ps as on Linux and macOS).
function childrenOf(pid) {
  return execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number)).filter(([, ppid]) => ppid === pid).map(([p]) => p);
}

// Whether `pid` still runs: a zombie (exited, not yet reaped by whoever adopted it) does not.
function running(pid) {
  try {
    return !execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim().startsWith('Z');
  } catch {
    return false; // ps exits non-zero when there is no such process
  }
}

test('SIGKILL to the launcher: its workers stop within seconds instead of training on', { timeout: 180000 }, async (t) => {
  const dir = tmpDir('launcher');
  fs.rmSync(dir, { recursive: true, force: true });
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache'); // the children inherit it
  const { root } = await training.ensureSyntheticDataset();
  const launcher = spawn(process.execPath, [TRAIN, '--nproc-per-node', '2', '--epochs', '50', '--data', root, '--weights', 'none',
    '--image-size', '64', '--batch-size', '4', '--seed', '1', '--json', '--dist-timeout', '60', '--out', path.join(dir, 'run')], { cwd: dir });
  let out = '';
  launcher.stdout.on('data', (d) => { out += d; });
  launcher.stderr.on('data', (d) => { out += d; });
  let workers = [];
  try {
    // Training is under way once rank 0 reports steps.
    const started = Date.now();
    while (!out.includes('"event":"step"')) {
      assert.ok(Date.now() - started < 120000 && launcher.exitCode === null, `no training step within 2 minutes:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    workers = childrenOf(launcher.pid);
    assert.equal(workers.length, 2, `the launcher's children: ${workers}`);
    launcher.kill('SIGKILL');
    const killedAt = Date.now();
    while (workers.some(running) && Date.now() - killedAt < 15000) await new Promise((r) => setTimeout(r, 100));
    const seconds = (Date.now() - killedAt) / 1000;
    assert.deepEqual(workers.filter(running), [], `workers still running ${seconds} s after the launcher died`);
    assert.ok(seconds < 10, `the workers took ${seconds} s to stop`);
    assert.match(out, /the launcher is gone: stopping/);
    t.diagnostic(`workers gone ${seconds} s after the launcher's SIGKILL`);
    if (process.env.LAUNCHER_TEST_OUTPUT) fs.writeFileSync(process.env.LAUNCHER_TEST_OUTPUT, out);
  } finally {
    for (const pid of workers.filter(running)) process.kill(pid, 'SIGKILL');
    if (launcher.exitCode === null) launcher.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
