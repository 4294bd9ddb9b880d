'use strict';
// The benchmark's smoke run (`npm run bench -- --quick`): one step, tiny inputs, on a generated
// data set, so that bench/ cannot rot. Its timings mean nothing and are not checked.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { training } = require('torchbridge');
const { havePyTorch, tmpDir, NO_PYTORCH } = require('./helpers/reference');

test('npm run bench -- --quick runs both sides for each built libtorch and writes every figure', { skip: !havePyTorch() && NO_PYTORCH, timeout: 600000 }, async () => {
  const dir = tmpDir('bench');
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache');
  const { root } = await training.ensureSyntheticDataset();
  const out = path.join(dir, 'results.json');
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'bench.js'), '--quick', '--data', root, '--threads', '2', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| figure \| torchbridge \| PyTorch \| ratio \| target \|/);
  const results = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(results.threads, 2);
  // The main build's comparison first (same version on both sides), then the 1.13 lane's if built.
  const main = results.comparisons[0];
  assert.equal(main.libtorch, require('torchbridge').buildInfo().torchVersion);
  assert.equal(/^\d+\.\d+\.\d+/.exec(main.pytorch)[0], main.libtorch);
  assert.equal(main.fusedAdam, !main.libtorch.startsWith('1.'));
  for (const c of results.comparisons) {
    assert.ok(c.figures.length >= 6, `${c.libtorch}: ${c.figures.length} figures`);
    for (const name of ['resnet18 training', 'resnet18 evaluation']) assert.ok(c.figures.some((f) => f.figure.startsWith(name)), `${c.libtorch}: no ${name} row`);
    for (const f of c.figures) {
      assert.ok(Number.isFinite(f.torchbridge) && f.torchbridge > 0, `${c.libtorch} ${f.figure}: ${f.torchbridge}`);
      if (f.pytorch !== null) assert.ok(Number.isFinite(f.pytorch) && f.pytorch > 0 && Number.isFinite(f.ratio), `${f.figure}: ${f.pytorch}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
