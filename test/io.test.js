'use strict';
// Checkpoint interop with PyTorch: fixtures written by Debian's PyTorch 1.13.1 at test time.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { io, nn, tensor, rand, TorchError } = require('torchbridge');
const { havePyTorch, PYTHON, tmpDir, NO_PYTORCH } = require('./helpers/reference');

const skip = !havePyTorch() && NO_PYTORCH;
let dir;
let expect;
test.before(() => {
  if (skip) return;
  dir = tmpDir('io');
  expect = JSON.parse(execFileSync(PYTHON, [path.join(__dirname, 'python', 'make_fixtures.py'), dir], { encoding: 'utf8' }));
});
test.after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));
const f = (name) => path.join(dir, name);

test('every dtype loads from the zip and the legacy format', { skip }, async () => {
  for (const file of ['dtypes.pth', 'dtypes-legacy.pth']) {
    const sd = await io.load(f(file));
    assert.ok(sd instanceof Map);
    assert.deepEqual([...sd.keys()], Object.keys(expect.dtypes));
    for (const [name, t] of sd) {
      assert.equal(t.dtype, expect.dtypes[name].dtype, `${file} ${name}`);
      const values = Array.from(t.toArray(), (v) => (typeof v === 'bigint' ? Number(v) : v));
      assert.deepEqual(values, name === 'bool' ? expect.dtypes[name].values.map(Number) : expect.dtypes[name].values, `${file} ${name}`);
    }
  }
});

test('views: strides, storage offsets and shared storages come back as PyTorch had them', { skip }, async () => {
  for (const file of ['views.pth', 'views-legacy.pth']) {
    const views = await io.load(f(file));
    for (const [name, e] of Object.entries(expect.views)) {
      assert.deepEqual(views[name].shape, e.shape, `${file} ${name}`);
      assert.deepEqual(Array.from(views[name].toArray()), e.values, `${file} ${name}`);
    }
  }
});

test('nested checkpoints, OrderedDict _metadata and the module. prefix', { skip }, async () => {
  const ck = await io.load(f('nested.pth'));
  assert.deepEqual(Object.keys(ck), ['model', 'optimizer', 'epoch', 'name', 'ratio', 'flags', 'big', 'blob']);
  assert.ok(ck.model instanceof Map);
  assert.deepEqual([...ck.model.keys()], expect.nested.keys);
  const metadata = io.pythonState.get(ck.model)._metadata;
  assert.deepEqual([...metadata.keys()].sort(), expect.nested.metadata_keys);
  assert.equal(ck.epoch, 3);
  assert.equal(ck.name, 'run');
  assert.equal(ck.ratio, 0.5);
  assert.deepEqual([...ck.flags], [true, false, null]);
  assert.equal(ck.big, 2n ** 62n);
  assert.deepEqual([...ck.blob], [0, 1, 255]);
  assert.deepEqual(Array.from(ck.optimizer.state[0].exp_avg.toArray()), expect.nested.exp_avg_0);
  assert.equal(ck.optimizer.state[0].step.item(), 1);
  assert.deepEqual(ck.optimizer.param_groups[0].params, [0, 1, 2, 3]);
  // The optimizer state loads into our Adam as it is.
  const model = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU(), new nn.Linear(2, 1));
  await model.loadStateDict(ck.model);
  const { optim } = require('torchbridge');
  const opt = new optim.Adam(model.parameters(), { lr: 0.5 });
  opt.loadStateDict(ck.optimizer);
  assert.equal(opt.paramGroups[0].lr, 0.01);

  const plain = await io.load(f('dataparallel.pth'));
  assert.ok([...plain.keys()].every((k) => k.startsWith('module.')));
  const stripped = await io.load(f('dataparallel.pth'), { stripModulePrefix: true });
  assert.deepEqual([...stripped.keys()], expect.nested.keys);
});

test('mapLocation: a checkpoint saved on CUDA loads on CPU only when mapped, as torch.load', { skip }, async () => {
  const file = f('saved-on-cuda.pth');
  const ref = expect.saved_on_cuda;
  assert.equal(ref.python_refuses_without_map_location, !require('torchbridge').cuda.isAvailable());
  if (!require('torchbridge').cuda.isAvailable()) {
    await assert.rejects(io.load(file), { code: 'DEVICE_UNAVAILABLE', message: /saved-on-cuda\.pth holds tensors saved on 'cuda:0' but CUDA is not available; pass \{ mapLocation: 'cpu' \}/ });
  }
  for (const mapLocation of ['cpu', { 'cuda:0': 'cpu' }]) {
    const sd = await io.load(file, { mapLocation });
    for (const [k, values] of Object.entries(ref.values)) {
      assert.equal(sd[k].device, 'cpu'); // a plain dict comes back as an object
      assert.deepEqual(Array.from(sd[k].toArray()), values, `${JSON.stringify(mapLocation)} ${k}`);
    }
  }
  await assert.rejects(io.load(file, { mapLocation: 'gpu' }), { code: 'INVALID_ARGUMENT', message: /mapLocation/ });
  await assert.rejects(io.load(file, { mapLocation: { 'cuda:0': 'tpu' } }), { code: 'INVALID_ARGUMENT', message: /mapLocation\['cuda:0'\]/ });
  await assert.rejects(io.load(file, { mapLocation: ['cpu'] }), { code: 'INVALID_ARGUMENT', message: /mapLocation/ });
});

test('the zip layout of other versions: any folder name, byteorder, serialization_id, 7-argument rebuild', { skip }, async () => {
  const sd = await io.load(f('v2-layout.pth'));
  assert.deepEqual(sd.get('w').shape, [2, 3]);
  assert.deepEqual(Array.from(sd.get('w').toArray()), expect.v2.flat());
});

test('safetensors: read (by content, whatever the name) and written', { skip }, async () => {
  for (const load of [io.loadSafetensors, io.load]) {
    const m = await load(f('tensors.safetensors'));
    for (const [k, e] of Object.entries(expect.safetensors)) {
      assert.deepEqual(m.get(k).shape, e.shape);
      assert.deepEqual(Array.from(m.get(k).toArray(), Number), e.values);
    }
  }
  fs.copyFileSync(f('tensors.safetensors'), f('renamed.pth'));
  assert.ok((await io.load(f('renamed.pth'))).has('a'));
  const mine = new Map([['x', rand([3, 4])], ['y', tensor([1, 2], { dtype: 'int64' })], ['z', tensor([0.5], { dtype: 'bfloat16' })]]);
  await io.saveSafetensors(mine, f('mine.safetensors'), { metadata: { source: 'torchbridge' } });
  const back = await io.loadSafetensors(f('mine.safetensors'));
  for (const [k, t] of mine) {
    assert.equal(back.get(k).dtype, t.dtype);
    assert.deepEqual(back.get(k).toArray(), t.toArray());
  }
});

test('tensors of every dtype and view layout saved here load in PyTorch equal to the originals', { skip }, async () => {
  const { reference } = require('./helpers/reference');
  for (const name of ['dtypes', 'views']) {
    const loaded = await io.load(f(`${name}.pth`));
    await io.save(loaded instanceof Map ? loaded : new Map(Object.entries(loaded)), f(`${name}-ours.pth`));
    const check = reference('check_saved', { ours: f(`${name}-ours.pth`), reference: f(`${name}.pth`), alexnet: false });
    assert.deepEqual(check, { type: 'OrderedDict', keys: true, bitwise: true, strict: 'None' }, name);
  }
});

test('a malicious pickle is refused naming the global, and its code never runs', { skip }, async () => {
  await assert.rejects(io.load(f('malicious.pth')), (e) => {
    assert.ok(e instanceof TorchError);
    assert.equal(e.code, 'UNSAFE_PICKLE');
    assert.match(e.message, /refusing to load the global 'posix\.system' from .*malicious\.pth/);
    return true;
  });
  assert.equal(fs.existsSync(expect.malicious_marker), false);
});

test('bad files give a TorchError naming the file and the problem, never a crash', { skip }, async () => {
  const good = fs.readFileSync(f('dtypes.pth'));
  const legacy = fs.readFileSync(f('dtypes-legacy.pth'));
  const st = fs.readFileSync(f('tensors.safetensors'));
  const write = (name, bytes) => { fs.writeFileSync(f(name), bytes); return f(name); };
  const corrupt = Buffer.from(good);
  const nameAt = corrupt.indexOf(Buffer.from('dtypes/data/0')); // in the first (local) header
  const dataStart = nameAt + corrupt.readUInt16LE(nameAt - 4) + corrupt.readUInt16LE(nameAt - 2);
  corrupt[dataStart + 1] ^= 0xff; // flip a byte of the first storage's data
  const lie = Buffer.from(st);
  const header = Buffer.from(JSON.stringify({ a: { dtype: 'F32', shape: [1000], data_offsets: [0, 4000] } }));
  const lying = Buffer.concat([Buffer.from(new BigUint64Array([BigInt(header.length)]).buffer), header, Buffer.alloc(16)]);
  const cases = [
    ['missing.pth', null, 'IO_ERROR', /no such file/],
    ['empty.pth', Buffer.alloc(0), 'BAD_FILE', /empty/],
    ['random.pth', Buffer.from('this is not a checkpoint at all'), 'BAD_FILE', /not a PyTorch checkpoint .* starts with bytes/],
    ['truncated-zip.pth', good.subarray(0, Math.floor(good.length / 2)), 'BAD_FILE', /truncated|end-of-central-directory/],
    ['truncated-tail.pth', good.subarray(0, good.length - 30), 'BAD_FILE', /./],
    ['corrupt-entry.pth', corrupt, 'BAD_FILE', /CRC-32 mismatch|corrupt/],
    ['truncated-legacy.pth', legacy.subarray(0, legacy.length - 5), 'BAD_FILE', /truncated/],
    ['legacy-head.pth', legacy.subarray(0, 40), 'BAD_FILE', /truncated/],
    ['truncated.safetensors', st.subarray(0, st.length - 4), 'BAD_FILE', /truncated/],
    ['lying.safetensors', lying, 'BAD_FILE', /data ends at 4000 but the file holds 16/],
    ['lie.safetensors', Buffer.concat([lie.subarray(0, 8), Buffer.from('{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 4]}}     ')]), 'BAD_FILE', /./],
  ];
  for (const [name, bytes, code, pattern] of cases) {
    const file = bytes ? write(name, bytes) : f(name);
    await assert.rejects(io.load(file).then(() => { throw new Error(`${name} loaded`); }), (e) => {
      assert.ok(e instanceof TorchError, `${name}: ${e}`);
      assert.equal(e.code, code, `${name}: ${e.message}`);
      assert.ok(e.message.includes(file), `${name}: message names the file: ${e.message}`);
      assert.match(e.message, pattern, name);
      return true;
    });
  }
  await assert.rejects(io.load(dir), { code: 'IO_ERROR' });
});

test('a pickle that lies about a storage size is caught', { skip }, async () => {
  // Rewrite a zip so that storage '0' declares more elements than its record holds.
  const script = `
import torch, zipfile, io, sys
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as o:
    for n in z.namelist():
        data = z.read(n)
        if n.endswith('data/0'):
            data = data[:4]
        o.writestr(n, data)
`;
  execFileSync(PYTHON, ['-c', script, f('dtypes.pth'), f('short-storage.pth')]);
  await assert.rejects(io.load(f('short-storage.pth')), (e) => {
    assert.equal(e.code, 'BAD_FILE');
    assert.match(e.message, /storage '0' declares \d+ float32 elements \(\d+ bytes\) but its data holds 4 bytes/);
    return true;
  });
});
