'use strict';
// The libtorch 1.13 lane: the addon that scripts/build-lane.sh builds with node-gyp against
// Debian's libtorch-dev loads from /usr alone, and runs the parity and checkpoint tests against
// Debian's PyTorch 1.13.1, as the main build runs them against pip's PyTorch 2.x.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync, execFileSync } = require('child_process');
const { check } = require('../scripts/check-addon');

const ROOT = path.join(__dirname, '..');
const LANE = path.join(ROOT, '.lanes', 'libtorch-1.13');
const ADDON = path.join(LANE, 'build', 'Release', 'torchbridge.node');
function laneProblem() {
  if (!fs.existsSync(ADDON)) return 'the 1.13 lane is not built (npm run setup builds it with the default TORCHBRIDGE_TORCH)';
  // An addon older than the sources would fail on missing functions: say so instead.
  const built = fs.statSync(ADDON).mtimeMs;
  const sources = fs.readdirSync(path.join(ROOT, 'native'), { recursive: true }).filter((f) => /\.(cc|h)$/.test(f));
  const newer = sources.filter((f) => fs.statSync(path.join(ROOT, 'native', f)).mtimeMs > built);
  return newer.length ? `the 1.13 lane's addon is older than native/${newer[0]}: run bash scripts/build-lane.sh (npm run setup does)` : null;
}
const missing = laneProblem() || false;
const env = { ...process.env, TORCHBRIDGE_ADDON: ADDON, TORCHBRIDGE_PYTHON: '/usr/bin/python3' };
// Without this the nested `node --test` thinks it reports to this runner and prints no summary.
delete env.NODE_TEST_CONTEXT;

// In CI the lane must run: a missing or stale build is a failure there, not a skip.
test('the lane is built from the current sources', { skip: !process.env.CI && missing }, () => {
  assert.ok(!missing, missing);
});

test("node-gyp's 1.13 addon loads Debian's libtorch only, and reports it", { skip: missing }, () => {
  const libDir = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'find-libtorch.js'), '--lib-dir'],
    { encoding: 'utf8', env: { ...process.env, TORCHBRIDGE_TORCH: 'system' } }).trim();
  const r = check(ADDON, libDir);
  assert.deepEqual(r.problems, []);
  const info = JSON.parse(execFileSync(process.execPath, ['-e', "const b = require('./dist').buildInfo(); console.log(JSON.stringify(b))"],
    { cwd: ROOT, encoding: 'utf8', env }));
  assert.match(info.torchVersion, /^1\.13\./);
  assert.equal(info.headerVersion, info.torchVersion);
  assert.equal(fs.realpathSync(path.dirname(info.libraryPath)), fs.realpathSync(libDir));
});

const FILES = ['parity-optim', 'parity-random', 'parity-seed-loop', 'amp', 'io', 'checkpoint', 'tensor', 'autograd', 'tensor-ops', 'dataset', 'models'];
test(`parity and checkpoint tests on libtorch 1.13: ${FILES.join(', ')}, and the finetune recipe`, { skip: missing, timeout: 20 * 60 * 1000 }, (t) => {
  const files = FILES.map((f) => path.join('test', `${f}.test.js`));
  const runs = [
    spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }),
    // train-cli's finetune parity needs torchvision beside the same-version torch: Debian's has both.
    spawnSync(process.execPath, ['--test', '--test-name-pattern', "finetune is PyTorch's own script", 'test/train-cli.test.js'],
      { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }),
  ];
  for (const [k, r] of runs.entries()) {
    const counts = ['tests', 'pass', 'fail', 'skipped'].map((k) => `${k} ${(new RegExp(`^# ${k} (\\d+)`, 'm').exec(r.stdout) || [])[1]}`).join(', ');
    t.diagnostic(counts);
    assert.equal(r.status, 0, `${r.stdout.split('\n').filter((l) => /^not ok|^\s+(error|expected|actual):/.test(l)).join('\n')}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /^# fail 0$/m);
    if (k === 0) assert.match(r.stdout, /^# skipped 0$/m, 'nothing skipped in the lane');
    else assert.match(r.stdout, /^ok \d+ - --recipe finetune is PyTorch's own script[^#\n]*$/m, 'the finetune parity ran');
    assert.doesNotMatch(r.stdout, /^# pass 0$/m);
  }
});
