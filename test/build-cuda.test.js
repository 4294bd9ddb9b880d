'use strict';
// The CUDA compile check (npm run check:cuda-build) as a test: the addon builds against PyTorch's
// CUDA wheel, needs libtorch_cuda, and compiles the 2.x branches. It fetches a ~550 MB wheel
// and builds for minutes, so it runs in CI and when asked (TORCHBRIDGE_CHECK_CUDA_BUILD=1).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawnSync } = require('child_process');

const wanted = process.env.CI || process.env.TORCHBRIDGE_CHECK_CUDA_BUILD === '1';
test('npm run check:cuda-build: the addon compiles and links against a CUDA libtorch', { skip: !wanted && 'set TORCHBRIDGE_CHECK_CUDA_BUILD=1 (CI does) or run npm run check:cuda-build', timeout: 40 * 60 * 1000 }, (t) => {
  const r = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'check-cuda-build.sh')], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('check:cuda-build:'))) t.diagnostic(line);
  assert.equal(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /CUDA: yes/);
  assert.match(r.stdout, /NEEDED: .*libtorch_cuda\.so/);
  assert.match(r.stdout, /check:cuda-build: PASS/);
});
