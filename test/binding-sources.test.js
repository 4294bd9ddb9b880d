'use strict';
// The two build paths compile the same files: CMakeLists.txt globs native/**/*.cc, binding.gyp
// (the node-gyp fallback) lists them by hand, so a new .cc file must be added there too.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');

function ccFiles(dir) {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return ccFiles(rel);
    return e.name.endsWith('.cc') ? [rel] : [];
  });
}

test("binding.gyp's sources are exactly native/**/*.cc", () => {
  const gyp = JSON.parse(fs.readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8'));
  const listed = gyp.targets.find((t) => t.target_name === 'torchbridge').sources;
  assert.equal(new Set(listed).size, listed.length, 'binding.gyp lists a source twice');
  assert.deepEqual([...listed].sort(), ccFiles('native').sort());
});
