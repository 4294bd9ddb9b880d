'use strict';
// The package as npm packs it: the Node versions it claims, its licence, source maps that need
// no missing files, and a README that shows the bin names.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const semver = require('semver');

const ROOT = path.join(__dirname, '..');
const pkg = require('../package.json');

function packedFiles() {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return new Set(JSON.parse(out)[0].files.map((f) => f.path));
}

test('engines.node admits only Node versions every runtime dependency supports', () => {
  const ours = pkg.engines.node;
  const lowest = semver.minVersion(ours).version;
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = path.join(ROOT, 'node_modules', name, 'package.json');
    if (!fs.existsSync(file)) return; // an optional dependency for another platform
    const dep = JSON.parse(fs.readFileSync(file, 'utf8'));
    const theirs = dep.engines?.node;
    if (theirs) {
      for (const version of [lowest, '22.0.0', '24.0.0']) {
        if (semver.satisfies(version, ours)) assert.ok(semver.satisfies(version, theirs), `Node ${version} satisfies engines.node '${ours}' but not ${name}'s '${theirs}'`);
      }
    }
    for (const d of Object.keys({ ...dep.dependencies, ...dep.optionalDependencies })) visit(d);
  };
  Object.keys(pkg.dependencies).forEach(visit);
  assert.ok(seen.has('sharp'));
});

test('a LICENSE file with the licence package.json names is packed', () => {
  assert.equal(pkg.license, 'BSD-3-Clause');
  const text = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  assert.match(text, /^BSD 3-Clause License\n\nCopyright \(c\) \d{4}, torchbridge contributors\n/);
  assert.match(text, /Neither the name of the copyright holder nor the names of its\s+contributors may be used to endorse or promote products/);
  assert.ok(packedFiles().has('LICENSE'));
});

test('every packed source map carries its sources or points at packed files', () => {
  const files = packedFiles();
  const maps = [...files].filter((f) => f.endsWith('.js.map'));
  assert.ok(maps.length > 0, 'dist is built and packed');
  for (const map of maps) {
    const json = JSON.parse(fs.readFileSync(path.join(ROOT, map), 'utf8'));
    json.sources.forEach((source, i) => {
      const target = path.posix.join(path.posix.dirname(map), source);
      assert.ok(files.has(target) || typeof json.sourcesContent?.[i] === 'string', `${map} points at ${target}, which is not packed, and does not inline it`);
    });
  }
});

test('the README shows the bin names beside node dist/*.js', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const bin of Object.keys(pkg.bin)) assert.match(readme, new RegExp(`npx ${bin} `), bin);
});

test('every bin is packed and starts with a shebang; node dist/train.js (the README\'s) runs the training CLI', () => {
  const files = packedFiles();
  for (const [bin, file] of Object.entries(pkg.bin)) {
    assert.ok(files.has(file), `${bin}: ${file} is packed`);
    assert.match(fs.readFileSync(path.join(ROOT, file), 'utf8'), /^#!\/usr\/bin\/env node\n/, `${bin}: ${file}`);
  }
  assert.ok(files.has('dist/train.js'));
  const help = execFileSync(process.execPath, [path.join(ROOT, 'dist', 'train.js'), '--help'], { encoding: 'utf8' });
  assert.match(help, /^torchbridge-train \[options\]/);
});
