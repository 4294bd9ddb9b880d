'use strict';
// Checkpoints across PyTorch versions: what pip's PyTorch 2.x writes, torchbridge reads and
// writes back, and Debian's PyTorch 1.13 reads bitwise; and the other way round.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { io } = require('torchbridge');
const { runReference: run, tmpDir, torchVersionOf, VISION_PYTHON } = require('./helpers/reference');

const ROOT = path.join(__dirname, '..');
const PYTHONS = { '2.x': path.join(ROOT, '.venv', 'bin', 'python'), '1.13': VISION_PYTHON };
const versions = Object.fromEntries(Object.entries(PYTHONS).map(([k, py]) => [k, fs.existsSync(py) ? torchVersionOf(py) : null]));
const skip = (!versions['2.x'] || !versions['1.13']) && `needs both pip's PyTorch 2.x in .venv and Debian's 1.13 (found ${JSON.stringify(versions)})`;

for (const [writer, reader] of [['2.x', '1.13'], ['1.13', '2.x']]) {
  test(`PyTorch ${writer} writes, torchbridge reads and saves, PyTorch ${reader} reads it bitwise`, { skip, timeout: 300000 }, async (t) => {
    const dir = tmpDir(`interop-${writer}`);
    const f = (n) => path.join(dir, n);
    run(PYTHONS[writer], 'alexnet_checkpoint', { seed: 5, threads: 1, zip: f('zip.pth'), legacy: f('legacy.pth'), input: f('input.pth') });
    const zip = await io.load(f('zip.pth'));
    const legacy = await io.load(f('legacy.pth'));
    assert.equal(zip.size, 16);
    for (const [k, v] of zip) assert.deepEqual(Buffer.from(v.toArray().buffer), Buffer.from(legacy.get(k).toArray().buffer), k);
    await io.save(zip, f('ours.pth'));
    const check = run(PYTHONS[reader], 'check_saved', { ours: f('ours.pth'), reference: f('zip.pth') });
    assert.deepEqual(check, { type: 'OrderedDict', keys: true, bitwise: true, strict: '<All keys matched successfully>' });
    t.diagnostic(`written by ${versions[writer]}, read back by ${versions[reader]}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}
