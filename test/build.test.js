'use strict';
// The build: libtorch discovery order, the node-gyp fallback path, and load-failure messages.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { tmpDir, torchVersionOf } = require('./helpers/reference');

const ROOT = path.join(__dirname, '..');
const FIND = path.join(ROOT, 'scripts', 'find-libtorch.js');
const system = JSON.parse(execFileSync(process.execPath, [FIND, '--json'], { encoding: 'utf8', env: { ...process.env, TORCHBRIDGE_TORCH: 'system' } }));
const configured = JSON.parse(execFileSync(process.execPath, [FIND, '--json'], { encoding: 'utf8' }));
const { check } = require('../scripts/check-addon');

function find(env, mode = '--json', script = FIND) {
  const r = spawnSync(process.execPath, [script, mode], {
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

  // A copy of the script outside the repository, where no .venv is beside it.
  const elsewhere = path.join(tmpDir('build'), 'scripts', 'find-libtorch.js');
  fs.mkdirSync(path.dirname(elsewhere), { recursive: true });
  fs.copyFileSync(FIND, elsewhere);
  assert.equal(JSON.parse(find({ PYTHON: fakePython }, '--json', elsewhere).stdout).prefix, viaPython);
  assert.equal(JSON.parse(find({ PYTHON: fakePython }, '--json', elsewhere).stdout).via, `${fakePython} (torch.utils.cmake_prefix_path)`);
  assert.equal(JSON.parse(find({ PYTHON: fakePython, LIBTORCH: viaEnv }).stdout).prefix, viaEnv);
  assert.equal(JSON.parse(find({ PYTHON: fakePython, Torch_DIR: system.torchDir }).stdout).via, 'Torch_DIR');
  const prefixPath = ['/nonexistent', path.join(viaEnv, 'share', 'cmake')].join(path.delimiter);
  assert.equal(JSON.parse(find({ PYTHON: fakePython, CMAKE_PREFIX_PATH: prefixPath }).stdout).via, 'CMAKE_PREFIX_PATH');
  // Debian's python3-torch reports a cmake_prefix_path that does not exist: it must fall through.
  const debian = JSON.parse(find({ TORCHBRIDGE_TORCH: 'system' }).stdout);
  assert.equal(debian.via, 'system libtorch');
  assert.match(find({ TORCHBRIDGE_TORCH: 'system' }, '--describe').stdout, /^libtorch 1\.13\.\d+ at \/usr \(found via system libtorch; CUDA: no; Gloo: yes\)$/);
  // npm run setup's pip PyTorch in .venv comes before any other Python.
  const venv = path.join(ROOT, '.venv', 'bin', 'python');
  if (fs.existsSync(venv)) assert.equal(JSON.parse(find({ PYTHON: fakePython }).stdout).via, `${venv} (torch.utils.cmake_prefix_path)`);
});

// Every libtorch layout available here: Debian's 1.13, the .venv's pip wheel, and the CUDA
// wheel of npm run check:cuda-build. From 2.12 the numbers live in torch/headeronly/version.h.
test('version and C++ standard read from the real headers of each libtorch here', (t) => {
  const layouts = [{ env: { TORCHBRIDGE_TORCH: 'system' }, python: '/usr/bin/python3' }];
  for (const venv of ['.venv', '.venv-cuda']) {
    const lib = path.join(ROOT, venv, 'lib');
    const sitePackages = fs.existsSync(lib) && path.join(lib, fs.readdirSync(lib).find((d) => d.startsWith('python')) || '', 'site-packages');
    const wheel = sitePackages && fs.existsSync(sitePackages) && fs.readdirSync(sitePackages).find((d) => /^torch-.*\.dist-info$/.test(d));
    // The wheel's own metadata is the version to expect (the CUDA wheel is installed without its
    // dependencies, so `import torch` fails there).
    if (wheel) layouts.push({ env: { LIBTORCH: path.join(sitePackages, 'torch') }, version: /^Version: (.*)$/m.exec(fs.readFileSync(path.join(sitePackages, wheel, 'METADATA'), 'utf8'))[1] });
  }
  for (const { env, python, version } of layouts) {
    const found = JSON.parse(find(env).stdout);
    const pyVersion = /^\d+\.\d+\.\d+/.exec(version || torchVersionOf(python))[0];
    assert.equal(found.version, pyVersion, found.prefix);
    const [major, minor] = pyVersion.split('.').map(Number);
    assert.equal(found.cxxStandard, major > 2 || (major === 2 && minor >= 12) ? 20 : 17, found.prefix);
    t.diagnostic(`${found.prefix}: ${found.version}, C++${found.cxxStandard}, probes: ${find(env, '--features').stdout || 'none'}`);
  }
});

test('the addon links exactly the configured libtorch, from one folder, even with LD_LIBRARY_PATH pointing elsewhere', () => {
  const addon = path.join(ROOT, 'build', 'Release', 'torchbridge.node');
  assert.deepEqual(check(addon, configured.libDir).problems, []);
  const readelf = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' });
  for (const lib of ['libtorch_cpu.so', 'libc10.so']) assert.match(readelf, new RegExp(`NEEDED.*\\[${lib.replace('.', '\\.')}\\]`));
  assert.match(readelf, new RegExp(`\\(RPATH\\).*\\[${configured.libDir.replace(/[.+]/g, '\\$&')}\\]`));
  // Debian's libtorch first on the search path: the addon still runs the configured one.
  const info = JSON.parse(execFileSync(process.execPath, ['-e', "console.log(JSON.stringify(require('./dist').buildInfo()))"],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: system.libDir } }));
  assert.equal(info.torchVersion, configured.version);
  assert.equal(info.headerVersion, configured.version);
  assert.equal(fs.realpathSync(path.dirname(info.libraryPath)), fs.realpathSync(configured.libDir));
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
  assert.equal(libs, [`-Wl,--disable-new-dtags,-rpath,${path.join(cudaTorch, 'lib')}`, '-Wl,--no-as-needed', path.join(cudaTorch, 'lib', 'libtorch_cuda.so'), '-Wl,--as-needed',
    ...['torch', 'torch_cpu', 'c10'].map((n) => path.join(cudaTorch, 'lib', `lib${n}.so`))].join(' '));
  assert.match(find({ LIBTORCH: cudaTorch }, '--describe').stdout, /CUDA: yes/);
  assert.doesNotMatch(find({}, '--libs').stdout, /torch_cuda/);
  const cmake = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  assert.match(cmake, /-Wl,--no-as-needed \$\{TORCH_FIRST_LIB\} -Wl,--as-needed/);
});

// The path `npm install torchbridge` takes in a user's project, against the same libtorch as the
// main build (pip's wheel, with Debian's libtorch also installed). The 1.13 lane builds with
// node-gyp too (scripts/build-lane.sh).
test('binding.gyp builds the same addon with node-gyp against the configured libtorch, which loads only it and computes', { timeout: 20 * 60 * 1000 }, (t) => {
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
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LIBTORCH: configured.prefix } });
  assert.equal(r.status, 0, `node-gyp failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  t.diagnostic(`node-gyp build took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const built = path.join(dir, 'build', 'Release', 'torchbridge.node');
  assert.deepEqual(check(built, configured.libDir).problems, []);
  const { loadAddon } = require('../dist/native');
  const addon = loadAddon(dir);
  const a = addon.fromData(new Float32Array([1, 2, 3, 4]), [2, 2], 'float32', 'cpu');
  const out = new Float32Array(addon.toBuffer(addon.binary('mul', a, 3, 0)));
  assert.deepEqual(Array.from(out), [3, 6, 9, 12]);
  assert.equal(addon.buildInfo().torchVersion, configured.version);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('a missing build fails to load with the cause and the remedies', () => {
  const { loadAddon } = require('../dist/native');
  const empty = tmpDir('nobuild');
  assert.throws(() => loadAddon(empty), (e) => {
    assert.equal(e.code, 'NATIVE_LOAD_FAILED');
    assert.match(e.message, /^torchbridge: could not load the native addon\.\nCause: .*\nPossible solutions:\n- The addon is not built yet: run `npm rebuild torchbridge` in your project \(in a torchbridge checkout: `npm run build:native`\)/s);
    return true;
  });
});
