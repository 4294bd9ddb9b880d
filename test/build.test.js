'use strict';
// The build: libtorch discovery order, the node-gyp fallback path, and load-failure messages.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { tmpDir } = require('./helpers/reference');

const ROOT = path.join(__dirname, '..');
const FIND = path.join(ROOT, 'scripts', 'find-libtorch.js');
const system = JSON.parse(execFileSync(process.execPath, [FIND, '--json'], { encoding: 'utf8' }));

function find(env, mode = '--json') {
  const r = spawnSync(process.execPath, [FIND, mode], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

// A pip-wheel-shaped libtorch (torch/{include,lib,share/cmake/Torch}) made of links to the
// system one, optionally with a (fake) libtorch_cuda.so.
function fakeLibtorch(name, { cuda = false } = {}) {
  const dir = path.join(tmpDir('build'), name, 'torch');
  fs.mkdirSync(path.join(dir, 'share', 'cmake', 'Torch'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(system.torchDir, 'TorchConfig.cmake'), path.join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'));
  if (!fs.existsSync(path.join(dir, 'include'))) fs.symlinkSync(path.join(system.prefix, 'include'), path.join(dir, 'include'));
  for (const lib of ['libtorch_cpu.so', 'libtorch.so', 'libc10.so']) {
    const link = path.join(dir, 'lib', lib);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join(system.libDir, lib), link);
  }
  if (cuda) fs.writeFileSync(path.join(dir, 'lib', 'libtorch_cuda.so'), '');
  return dir;
}

test('discovery order: LIBTORCH, Torch_DIR, CMAKE_PREFIX_PATH, Python, system', () => {
  const viaPython = fakeLibtorch('python');
  const fakePython = path.join(tmpDir('build'), 'fake-python');
  fs.writeFileSync(fakePython, `#!/bin/sh\necho ${path.join(viaPython, 'share', 'cmake')}\n`, { mode: 0o755 });
  const viaEnv = fakeLibtorch('libtorch');

  assert.equal(JSON.parse(find({ PYTHON: fakePython }).stdout).prefix, viaPython);
  assert.equal(JSON.parse(find({ PYTHON: fakePython }).stdout).via, `${fakePython} (torch.utils.cmake_prefix_path)`);
  assert.equal(JSON.parse(find({ PYTHON: fakePython, LIBTORCH: viaEnv }).stdout).prefix, viaEnv);
  assert.equal(JSON.parse(find({ PYTHON: fakePython, Torch_DIR: system.torchDir }).stdout).via, 'Torch_DIR');
  const prefixPath = ['/nonexistent', path.join(viaEnv, 'share', 'cmake')].join(path.delimiter);
  assert.equal(JSON.parse(find({ PYTHON: fakePython, CMAKE_PREFIX_PATH: prefixPath }).stdout).via, 'CMAKE_PREFIX_PATH');
  // Debian's python3-torch reports a cmake_prefix_path that does not exist: it must fall through.
  const debian = JSON.parse(find({}).stdout);
  assert.equal(debian.via, 'system libtorch');
  assert.match(find({}, '--describe').stdout, /^libtorch 1\.13\.\d+ at \/usr \(found via system libtorch; CUDA: no; Gloo: yes\)$/);
});

test('an explicit but broken LIBTORCH fails with one message listing the remedies', () => {
  const r = find({ LIBTORCH: '/nonexistent/libtorch' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /torchbridge: no libtorch found\. Looked in:\n  - LIBTORCH: \/nonexistent\/libtorch \(missing\)\nRemedies/);
  assert.match(r.stderr, /apt-get install libtorch-dev/);
  assert.match(r.stderr, /export LIBTORCH=/);
});

test('a CUDA libtorch is linked with --no-as-needed so torch_cuda really loads', () => {
  const cudaTorch = fakeLibtorch('cuda', { cuda: true });
  const libs = find({ LIBTORCH: cudaTorch }, '--libs').stdout;
  assert.match(libs, /-Wl,--no-as-needed -ltorch_cuda -Wl,--as-needed/);
  assert.match(find({ LIBTORCH: cudaTorch }, '--describe').stdout, /CUDA: yes/);
  assert.doesNotMatch(find({}, '--libs').stdout, /torch_cuda/);
  const cmake = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  assert.match(cmake, /-Wl,--no-as-needed torch_cuda -Wl,--as-needed/);
});

test('binding.gyp builds the same addon with node-gyp, which loads and computes', { timeout: 15 * 60 * 1000 }, (t) => {
  const dir = path.join(tmpDir('gyp'), 'pkg');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of ['binding.gyp', 'native', 'scripts', 'package.json']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const nodeGyp = path.join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const args = [nodeGyp, 'rebuild', `--jobs=${os.cpus().length}`];
  // Build against this Node's own headers when they are installed (no download needed).
  const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `node-gyp failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  t.diagnostic(`node-gyp build took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const { loadAddon } = require('../dist/native');
  const addon = loadAddon(dir);
  const a = addon.fromData(new Float32Array([1, 2, 3, 4]), [2, 2], 'float32', 'cpu');
  const out = new Float32Array(addon.toBuffer(addon.binary('mul', a, 3, 0)));
  assert.deepEqual(Array.from(out), [3, 6, 9, 12]);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('a missing build fails to load with the cause and the remedies', () => {
  const { loadAddon } = require('../dist/native');
  const empty = tmpDir('nobuild');
  assert.throws(() => loadAddon(empty), (e) => {
    assert.equal(e.code, 'NATIVE_LOAD_FAILED');
    assert.match(e.message, /^torchbridge: could not load the native addon\.\nCause: .*\nPossible solutions:\n- The addon is not built yet: run `npm run build:native`/s);
    return true;
  });
});
