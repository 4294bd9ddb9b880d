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

// The path a user takes: `npm pack`, then `npm install ./torchbridge-*.tgz` in a fresh project,
// which builds the addon with npm's node-gyp against the configured libtorch (pip's wheel, with
// Debian's libtorch also installed). The 1.13 lane builds with node-gyp too (scripts/build-lane.sh).
function packInto(t, name) {
  const dir = tmpDir(name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'app'), { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const tarball = path.join(dir, packed[0].filename);
  fs.writeFileSync(path.join(dir, 'app', 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
  const install = (env) => {
    // Node's own headers when they are installed, so node-gyp needs no download.
    const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
    const childEnv = { ...process.env, ...env, npm_config_nodedir: nodedir };
    for (const key of Object.keys(childEnv)) if (childEnv[key] === undefined || /^npm_(lifecycle|package)_/.test(key)) delete childEnv[key];
    return spawnSync(npm, ['install', '--foreground-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball],
      { cwd: path.join(dir, 'app'), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: childEnv });
  };
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { app: path.join(dir, 'app'), install };
}

test('npm pack, then npm install of the tarball in a fresh project builds against the configured libtorch; the bins work', { timeout: 20 * 60 * 1000 }, (t) => {
  const { app, install } = packInto(t, 'pack');
  const started = Date.now();
  const r = install({ LIBTORCH: configured.prefix });
  assert.equal(r.status, 0, `npm install failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  t.diagnostic(`npm install with the node-gyp build took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  assert.match(r.stdout + r.stderr, new RegExp(`torchbridge: building the native addon against libtorch ${configured.version.replace(/\./g, '\\.')} at ${configured.prefix.replace(/[.+]/g, '\\$&')} \\(found via LIBTORCH\\)`));
  const installed = path.join(app, 'node_modules', 'torchbridge');
  assert.deepEqual(check(path.join(installed, 'build', 'Release', 'torchbridge.node'), configured.libDir).problems, []);
  const run = (args) => execFileSync(args[0], args.slice(1), { cwd: app, encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu' } });
  const computed = JSON.parse(run([process.execPath, '-e',
    "const tb = require('torchbridge'); console.log(JSON.stringify({ v: tb.buildInfo().torchVersion, x: Array.from(tb.tensor([1, 2, 3, 4]).mul(3).toArray()) }))"]));
  assert.deepEqual(computed, { v: configured.version, x: [3, 6, 9, 12] });
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  for (const bin of Object.keys(require('../package.json').bin)) assert.match(run([npx, '--no-install', bin, '--help']), new RegExp(`^${bin} `, 'm'), bin);
});

test('npm install of the tarball with no libtorch fails with one short message listing the remedies', { timeout: 5 * 60 * 1000 }, (t) => {
  const { install } = packInto(t, 'pack-none');
  const r = install({ LIBTORCH: '/nonexistent/libtorch' });
  assert.notEqual(r.status, 0);
  const ours = r.stderr.slice(r.stderr.indexOf('torchbridge: no libtorch found'));
  assert.match(ours, /^torchbridge: no libtorch found\. Looked in:\n  - LIBTORCH: \/nonexistent\/libtorch \(missing\)\nRemedies/);
  assert.match(ours, /Then run: npm rebuild torchbridge/);
  assert.doesNotMatch(r.stdout + r.stderr, /gyp (info|ERR!)/);
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
