#!/usr/bin/env node
'use strict';
// Locates libtorch for both build paths (cmake-js and node-gyp), in the documented order:
// LIBTORCH, Torch_DIR / CMAKE_PREFIX_PATH, the project's .venv (npm run setup's pip PyTorch), a
// Python PyTorch, Debian's system libtorch. TORCHBRIDGE_TORCH=system skips the Python ones.
// Usage: node scripts/find-libtorch.js [--json | --include-dirs | --lib-dir | --libs |
//                                       --lib-files | --cflags | --features |
//                                       --cxx-standard[-flag] | --describe]
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const CONFIG = path.join('Torch', 'TorchConfig.cmake');

function configIn(dir) {
  for (const sub of ['', 'share/cmake', 'lib/cmake', 'share', 'lib']) {
    const file = path.join(dir, sub, CONFIG);
    if (fs.existsSync(file)) return path.dirname(file);
  }
  // Torch_DIR may point at the Torch folder itself.
  if (fs.existsSync(path.join(dir, 'TorchConfig.cmake'))) return dir;
  return null;
}

const ROOT = path.join(__dirname, '..');
// Where npm run setup installs pip's PyTorch (scripts/setup.sh).
const PROJECT_VENV_PYTHON = path.join(ROOT, '.venv', 'bin', 'python');

function pythonPrefixes() {
  const found = [];
  const interpreters = [fs.existsSync(PROJECT_VENV_PYTHON) && PROJECT_VENV_PYTHON, process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  for (const py of [...new Set(interpreters)]) {
    try {
      const out = execFileSync(py, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], {
        stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000,
      }).toString().trim();
      if (out) found.push({ dir: out, via: `${py} (torch.utils.cmake_prefix_path)` });
    } catch { /* no torch in this interpreter */ }
  }
  return found;
}

// What nvidia-smi sees at build time, for the build's one-line summary.
function visibleGpus() {
  try {
    const n = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30000 })
      .split('\n').filter((l) => l.startsWith('GPU ')).length;
    return `${n} device${n === 1 ? '' : 's'}`;
  } catch {
    return 'no GPU visible to nvidia-smi';
  }
}

function candidates() {
  const list = [];
  // An explicit LIBTORCH or Torch_DIR must work: falling through would build against another one.
  if (process.env.LIBTORCH) list.push({ dir: process.env.LIBTORCH, via: 'LIBTORCH', strict: true });
  if (process.env.Torch_DIR) list.push({ dir: process.env.Torch_DIR, via: 'Torch_DIR', strict: true });
  for (const p of (process.env.CMAKE_PREFIX_PATH || '').split(path.delimiter).filter(Boolean)) {
    list.push({ dir: p, via: 'CMAKE_PREFIX_PATH' });
  }
  if (process.env.TORCHBRIDGE_TORCH !== 'system') list.push(...pythonPrefixes());
  const multiarch = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  for (const dir of [`/usr/lib/${multiarch}/cmake`, '/usr/lib/cmake', '/usr/share/cmake', '/usr/local']) {
    list.push({ dir, via: 'system libtorch' });
  }
  return list;
}

// The version from the headers: 2.12+ keep the numbers in torch/headeronly/version.h and only
// include it from the C++ API's version.h, where 1.13 to 2.11 define them.
function headerVersion(prefix) {
  for (const rel of [['torch', 'headeronly', 'version.h'], ['torch', 'csrc', 'api', 'include', 'torch', 'version.h']]) {
    const file = path.join(prefix, 'include', ...rel);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    const part = (n) => (text.match(new RegExp(`#define TORCH_VERSION_${n} (\\d+)`)) || [])[1];
    if (part('MAJOR') !== undefined) return [part('MAJOR'), part('MINOR'), part('PATCH')].join('.');
  }
  return 'unknown';
}

// c10d's Gloo backend: libtorch's ProcessGroupGloo.hpp includes gloo's headers. Debian's
// libtorch-dev pairs with libgloo-dev; pip wheels ship none. The addon needs them only to parse
// that header: every gloo object it touches sits behind a shared_ptr, so no gloo layout or code
// enters the binary (scripts/check-addon.js verifies this on each build). Returns the include
// folder holding gloo/, or null.
const SYSTEM_INCLUDE_DIRS = ['/usr/include', '/usr/local/include'];
function glooHeaders(prefix) {
  if (!fs.existsSync(path.join(prefix, 'include', 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp'))) return null;
  for (const dir of [path.join(prefix, 'include'), ...SYSTEM_INCLUDE_DIRS]) {
    if (fs.existsSync(path.join(dir, 'gloo', 'config.h'))) return path.join(dir, 'gloo');
  }
  return null;
}

// The preprocessor definitions libtorch's CMake targets carry for their users (USE_DISTRIBUTED,
// USE_C10D_GLOO, ...): node-gyp needs them spelled out, and CMake takes them from here too.
function interfaceDefinitions(torchDir) {
  const file = path.join(torchDir, '..', 'Caffe2', 'Caffe2Targets.cmake');
  if (!fs.existsSync(file)) return [];
  const defs = new Set();
  for (const m of fs.readFileSync(file, 'utf8').matchAll(/INTERFACE_COMPILE_DEFINITIONS "([^"$]*)"/g)) {
    for (const d of m[1].split(';').filter(Boolean)) defs.add(`-D${d}`);
  }
  return [...defs];
}

function describe(torchDir, via) {
  // The install prefix is the ancestor that holds include/ATen (3 levels up for a libtorch zip
  // or pip wheel, 4 for Debian's multiarch layout).
  let prefix = null;
  for (let up = 2; up <= 5 && !prefix; up++) {
    const p = path.resolve(torchDir, ...Array(up).fill('..'));
    if (fs.existsSync(path.join(p, 'include', 'ATen', 'ATen.h'))) prefix = p;
  }
  if (!prefix) return null;
  const libDirs = [path.join(prefix, 'lib'), ...fs.existsSync(path.join(prefix, 'lib'))
    ? fs.readdirSync(path.join(prefix, 'lib')).filter((d) => d.endsWith('-linux-gnu')).map((d) => path.join(prefix, 'lib', d))
    : []];
  const libDir = libDirs.find((d) => fs.existsSync(path.join(d, 'libtorch_cpu.so')) || fs.existsSync(path.join(d, 'libtorch_cpu.dylib')));
  if (!libDir) return null;
  const version = headerVersion(prefix);
  const configText = fs.readFileSync(path.join(torchDir, 'TorchConfig.cmake'), 'utf8');
  const abi = (configText.match(/_GLIBCXX_USE_CXX11_ABI=(\d)/) || [])[1];
  const cuda = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  const definitions = interfaceDefinitions(torchDir);
  const gloo = definitions.includes('-DUSE_C10D_GLOO') ? glooHeaders(prefix) : null;
  // ATen's headers need C++20 from libtorch 2.12 on (C++17 before; 1.13's fail to build as C++20).
  const [major, minor] = version.split('.').map(Number);
  const cxxStandard = major > 2 || (major === 2 && minor >= 12) ? 20 : 17;
  // Linked by full path, so no other libtorch on the search path can stand in for these.
  const libFiles = [...(cuda ? ['torch_cuda'] : []), 'torch', 'torch_cpu', 'c10'].map((n) => path.join(libDir, `lib${n}.so`));
  return {
    via, torchDir, prefix, libDir, libFiles, version, cuda, gloo: gloo !== null, glooHeaders: gloo, cxxStandard,
    includeDirs: [path.join(prefix, 'include'), path.join(prefix, 'include', 'torch', 'csrc', 'api', 'include'),
      ...(gloo && !SYSTEM_INCLUDE_DIRS.includes(path.dirname(gloo)) && !gloo.startsWith(prefix) ? [path.dirname(gloo)] : [])],
    cflags: [...(abi === undefined ? [] : [`-D_GLIBCXX_USE_CXX11_ABI=${abi}`]), ...definitions,
      ...(gloo ? ['-DTB_WITH_GLOO'] : [])],
  };
}

function find() {
  const tried = [];
  for (const c of candidates()) {
    const torchDir = fs.existsSync(c.dir) ? configIn(c.dir) : null;
    const found = torchDir && describe(torchDir, c.via);
    if (found) return found;
    tried.push(`${c.via}: ${c.dir}${fs.existsSync(c.dir) ? ' (no usable TorchConfig.cmake)' : ' (missing)'}`);
    if (c.strict) break;
  }
  const err = new Error([
    'torchbridge: no libtorch found. Looked in:',
    ...tried.map((t) => `  - ${t}`),
    'Remedies (any one):',
    "  - in torchbridge's repository: npm run setup   (pip's PyTorch 2.x into .venv)",
    '  - a pip/venv PyTorch: make `python3 -c "import torch"` work, or set PYTHON=/path/to/venv/bin/python',
    '  - Debian/Ubuntu: apt-get install libtorch-dev   (PyTorch 1.13)',
    '  - an unzipped libtorch: export LIBTORCH=/path/to/libtorch',
    '  - a CMake prefix: export Torch_DIR=/path/to/share/cmake/Torch (or CMAKE_PREFIX_PATH)',
  ].join('\n'));
  err.code = 'LIBTORCH_NOT_FOUND';
  throw err;
}

// APIs that differ between libtorch versions, probed by compiling a line against this libtorch's
// headers (native/compat.h picks its branch from the resulting -D flags).
const PROBES = {
  // Each exercises exactly the calls native/compat.h makes in that branch.
  TB_AUTOCAST_PER_DEVICE_TYPE: '#include <ATen/autocast_mode.h>\nvoid f() { at::autocast::set_autocast_enabled(at::kCPU, at::autocast::is_autocast_enabled(at::kCUDA)); ' +
    'at::autocast::set_autocast_dtype(at::kCPU, at::autocast::get_autocast_dtype(at::kCUDA)); at::autocast::set_autocast_cache_enabled(at::autocast::is_autocast_cache_enabled()); }',
  TB_HAVE_ACCELERATOR_SYNC: '#include <ATen/DeviceAccelerator.h>\nvoid f() { at::accelerator::synchronizeDevice(static_cast<c10::DeviceIndex>(0)); }',
  TB_HAVE_ACCELERATOR_MEMORY: '#include <ATen/DeviceAccelerator.h>\n#if __has_include(<ATen/accelerator/Allocator.h>)\n#include <ATen/accelerator/Allocator.h>\n#endif\n' +
    'long f() { auto s = at::accelerator::getDeviceStats(static_cast<c10::DeviceIndex>(0)); at::accelerator::emptyCache(); ' +
    'return s.allocated_bytes[0].current + s.allocated_bytes[0].peak + s.reserved_bytes[0].current + s.reserved_bytes[0].peak + s.num_alloc_retries + s.num_ooms; }',
};

function features(t) {
  const cxx = process.env.CXX || 'c++';
  return Object.entries(PROBES).filter(([name, source]) => {
    try {
      execFileSync(cxx, ['-fsyntax-only', `-std=c++${t.cxxStandard}`, ...t.cflags, ...t.includeDirs.map((d) => `-I${d}`), '-x', 'c++', '-'], {
        input: source, stdio: ['pipe', 'ignore', 'ignore'], timeout: 900000,
      });
      return true;
    } catch (e) {
      // A probe that did not finish says nothing about the API: guessing would compile the wrong branch.
      if (e.signal || e.code === 'ETIMEDOUT') throw new Error(`find-libtorch: the API probe ${name} did not finish (${e.signal || e.code})`);
      return false;
    }
  }).map(([name]) => `-D${name}`);
}

module.exports = { find, features };

if (require.main === module) {
  let t;
  try {
    t = find();
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  const mode = process.argv[2] || '--describe';
  const out = {
    '--json': () => JSON.stringify(t),
    '--include-dirs': () => t.includeDirs.join(' '),
    '--lib-dir': () => t.libDir,
    // torch_cuda is linked with --no-as-needed: nothing references it directly, and without it
    // CUDA silently reports unavailable at run time.
    // Full paths, and an RPATH (not RUNPATH: it also wins over LD_LIBRARY_PATH) to this libtorch.
    '--libs': () => [`-Wl,--disable-new-dtags,-rpath,${t.libDir}`,
      ...(t.cuda ? ['-Wl,--no-as-needed', t.libFiles[0], '-Wl,--as-needed'] : []),
      ...t.libFiles.slice(t.cuda ? 1 : 0)].join(' '),
    '--lib-files': () => t.libFiles.join(';'),
    '--cflags': () => [...t.cflags, ...features(t)].join(' '),
    '--features': () => features(t).join(' '),
    '--cxx-standard': () => String(t.cxxStandard),
    '--cxx-standard-flag': () => `-std=c++${t.cxxStandard}`,
    '--describe': () => `libtorch ${t.version} at ${t.prefix} (found via ${t.via}; CUDA: ${t.cuda ? `yes (${visibleGpus()})` : 'no'}; ` +
      `Gloo: ${t.gloo ? `yes${t.glooHeaders.startsWith(t.prefix) ? '' : `, declarations from ${path.dirname(t.glooHeaders)}`}` : 'no, install libgloo-dev for torchbridge.dist'})`,
  }[mode];
  if (!out) {
    process.stderr.write(`find-libtorch: unknown option ${mode}\n`);
    process.exit(2);
  }
  process.stdout.write(`${out()}\n`);
}
