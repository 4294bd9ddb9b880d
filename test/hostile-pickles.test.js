'use strict';
// Crafted checkpoints (issue 16): exponential, cyclic and deeply nested structure, colliding and
// hostile dict keys, callables returned as data, lying tensor geometry, large tuples, integers and
// entry counts, and the temp files that a killed save leaves behind. Each pickle is assembled byte
// by byte (test/helpers/checkpoint-bytes).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { io, Tensor, tensor } = require('torchbridge');
const { tmpDir } = require('./helpers/reference');
const P = require('./helpers/checkpoint-bytes');

const { op } = P;
let dir;
test.before(() => { dir = tmpDir('hostile'); });
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

let counter = 0;
/** Writes the main pickle as both a zip and a legacy checkpoint; returns the two paths. */
function files(mainPickle, storages = []) {
  const name = `c${counter++}`;
  const zip = path.join(dir, `${name}.pth`);
  const legacy = path.join(dir, `${name}-legacy.pth`);
  fs.writeFileSync(zip, P.zipCheckpoint(mainPickle, storages));
  fs.writeFileSync(legacy, P.legacyFile(mainPickle, storages));
  return [zip, legacy];
}
const body = (p) => p.subarray(2, -1); // a pickle's opcodes without PROTO and STOP
const ONE_FLOAT = [['0', Buffer.from(new Float32Array([7]).buffer)]];

async function refused(file, code, pattern) {
  await assert.rejects(io.load(file), (e) => {
    assert.equal(e.name, 'TorchError', `${file}: ${e.stack}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `the message names the file: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/**
 * Loads `file` in a child process under a time limit, saves what it got with io.save and loads
 * that again; returns what `probe` (source of a function of a loaded value) says of both.
 */
function loadInChild(file, probe, timeout = 60000) {
  const script = `
    const { io, Tensor } = require('torchbridge');
    const fs = require('fs');
    const probe = ${probe};
    (async () => {
      const t0 = Date.now();
      const v = await io.load(process.argv[1]);
      const loaded = { ms: Date.now() - t0, rssMB: Math.round(process.memoryUsage().rss / 2 ** 20), probe: probe(v, Tensor) };
      await io.save(v, process.argv[1] + '.again');
      const again = { bytes: fs.statSync(process.argv[1] + '.again').size, probe: probe(await io.load(process.argv[1] + '.again'), Tensor) };
      console.log(JSON.stringify({ ok: true, loaded, again }));
    })().catch((e) => console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message })));`;
  const r = spawnSync(process.execPath, ['-e', script, file], { cwd: __dirname, encoding: 'utf8', timeout, maxBuffer: 1 << 24 });
  assert.equal(r.error, undefined, `the load finishes within ${timeout} ms (${r.error?.code})`);
  assert.equal(r.signal, null, `no crash: ${r.signal} ${r.stderr.slice(-2000)}`);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('a "billion laughs" pickle (40 levels, each holding the level below twice) loads in linear memory with its sharing kept, and saves so', { timeout: 180000 }, async (t) => {
  // Level 0 is a tensor; level i is a list, dict or tuple holding level i-1 twice: 2^40 leaves expanded.
  const parts = [P.tensorPickle('0', 1, P.int(0), [P.int(1)], [P.int(1)]), P.put(0), P.b(op.POP)];
  for (let i = 1; i <= 40; i++) {
    const prev = P.get(i - 1);
    if (i % 3 === 0) parts.push(P.b(op.EMPTY_LIST), P.put(i), P.b(op.MARK), prev, prev, P.b(op.APPENDS, op.POP));
    else if (i % 3 === 1) parts.push(P.b(op.EMPTY_DICT), P.put(i), P.b(op.MARK), P.str('a'), prev, P.str('b'), prev, P.b(op.SETITEMS, op.POP));
    else parts.push(P.b(op.MARK), prev, prev, P.b(op.TUPLE), P.put(i), P.b(op.POP));
  }
  parts.push(P.get(40));
  const probe = `(v, Tensor) => {
    let shared = 0;
    for (let i = 40; i >= 1; i--) {
      const [x, y] = Array.isArray(v) ? v : [v.a, v.b];
      if (x === y) shared++;
      v = x;
    }
    return { shared, leaf: v instanceof Tensor ? Array.from(v.toArray()) : String(v) };
  }`;
  for (const file of files(P.pickle(...parts), ONE_FLOAT)) {
    const r = loadInChild(file, probe);
    t.diagnostic(`${path.basename(file)}: ${JSON.stringify(r)}`);
    assert.ok(r.ok, r.message);
    assert.deepEqual(r.loaded.probe, { shared: 40, leaf: [7] }, 'every level holds one shared object twice, as in Python');
    assert.ok(r.loaded.rssMB < 1024, `RSS ${r.loaded.rssMB} MB`);
    assert.deepEqual(r.again.probe, r.loaded.probe, 'io.save keeps the sharing (pickle memo)');
    assert.ok(r.again.bytes < 20000, `saved in ${r.again.bytes} bytes`);
  }
});

test('keys 1 and "1" are never merged: such dicts, and dicts with other keys, come back as Maps', async () => {
  const setitems = P.pickle(P.b(op.EMPTY_DICT, op.MARK), P.int(1), P.str('a'), P.str('1'), P.str('b'), P.b(op.SETITEMS));
  const dictOp = P.pickle(P.b(op.MARK), P.int(1), P.str('a'), P.str('1'), P.str('b'), P.b(op.DICT));
  for (const file of [...files(setitems), ...files(dictOp)]) {
    const d = await io.load(file);
    assert.ok(d instanceof Map, `${file}: a Map, not ${JSON.stringify(d)}`);
    assert.deepEqual([...d], [[1, 'a'], ['1', 'b']]);
  }
  // A tuple key and a float key: Python allows them; so does a Map (before, the tuple key was refused).
  const odd = P.pickle(P.b(op.EMPTY_DICT), P.int(1), P.int(2), P.b(op.TUPLE2), P.str('pair'), P.b(op.SETITEM), P.float(1.5), P.str('x'), P.b(op.SETITEM));
  const m = await io.load(files(odd)[0]);
  assert.ok(m instanceof Map);
  assert.deepEqual([...m.values()], ['pair', 'x']);
  assert.deepEqual(Array.from([...m.keys()][0]), [1, 2]);
  assert.equal([...m.keys()][1], 1.5);
  // Unchanged: string or integer keys that stay distinct make a plain object (optimizer state's {0: ...}).
  const plain = P.pickle(P.b(op.EMPTY_DICT, op.MARK), P.int(0), P.str('a'), P.str('x'), P.str('b'), P.b(op.SETITEMS));
  assert.deepEqual(await io.load(files(plain)[1]), { 0: 'a', x: 'b' });
});

test('a dict key "__proto__" is an ordinary key: no loaded object gets the file\'s prototype', async () => {
  const evil = P.pickle(P.b(op.EMPTY_DICT), P.str('__proto__'), P.b(op.EMPTY_DICT), P.str('polluted'), P.int(1), P.b(op.SETITEM, op.SETITEM));
  const viaDict = P.pickle(P.b(op.MARK), P.str('__proto__'), P.b(op.MARK), P.str('polluted'), P.int(1), P.b(op.DICT, op.DICT));
  const nested = P.pickle(P.b(op.EMPTY_DICT), P.str('model'), body(evil), P.b(op.SETITEM));
  for (const file of [...files(evil), ...files(viaDict)]) {
    const d = await io.load(file);
    assert.ok(d instanceof Map, `${file}: a Map keeps "__proto__" as data`);
    assert.deepEqual(d.get('__proto__'), { polluted: 1 });
    assert.equal(d.polluted, undefined);
  }
  const n = await io.load(files(nested)[0]);
  assert.equal(Object.getPrototypeOf(n), Object.prototype);
  assert.ok(n.model instanceof Map);
  assert.equal(n.model.polluted, undefined);
  assert.equal({}.polluted, undefined);
});

test('a callable or type the pickle returns without calling it is refused: only data comes out', async () => {
  const cases = [
    [P.pickle(P.global('torch._utils', '_rebuild_tensor_v2')), /global 'torch\._utils\._rebuild_tensor_v2' itself/],
    [P.pickle(P.b(op.EMPTY_LIST), P.global('collections', 'OrderedDict'), P.b(op.APPEND)), /global 'collections\.OrderedDict' itself/],
    [P.pickle(P.global('torch', 'FloatStorage')), /global 'torch\.FloatStorage' itself/],
    // BUILD state and dict keys are data too.
    [P.pickle(P.b(op.EMPTY_DICT), P.global('torch._utils', '_rebuild_parameter'), P.b(op.BUILD)), /global 'torch\._utils\._rebuild_parameter' itself/],
    [P.pickle(P.b(op.EMPTY_DICT), P.global('torch', 'Size'), P.b(op.TUPLE1), P.int(1), P.b(op.SETITEM)), /global 'torch\.Size' itself/],
    // A callable passed where a value belongs (its source would have come out as the device's name).
    [P.pickle(P.global('torch', 'device'), P.global('torch._utils', '_rebuild_tensor_v2'), P.b(op.TUPLE1, op.REDUCE)), /torch\.device needs a type string/],
    [P.pickle(P.global('_codecs', 'encode'), P.global('torch', 'Size'), P.str('latin1'), P.b(op.TUPLE2, op.REDUCE)), /_codecs\.encode needs a string/],
  ];
  for (const [pkl, pattern] of cases) for (const file of files(pkl)) await refused(file, 'BAD_FILE', pattern);
  // A storage returned bare, not inside a tensor.
  for (const file of files(P.pickle(P.storagePid('0', 1)), ONE_FLOAT)) await refused(file, 'BAD_FILE', /storage '0' is returned bare/);
  // Globals outside the whitelist stay UNSAFE_PICKLE.
  await refused(files(P.pickle(P.global('os', 'system')))[0], 'UNSAFE_PICKLE', /refusing to load the global 'os\.system'/);
});

test('tensor sizes, strides and offsets must be integers in range (floats like 1e300 are refused)', async () => {
  const long1 = (v) => { const x = Buffer.alloc(8); x.writeBigInt64LE(v); return Buffer.concat([P.b(0x8a, 8), x]); };
  const cases = [
    [[P.float(1e300)], [P.int(0)], P.int(0), /sizes, strides and the offset must be integers|size \[1e\+300\]/],
    [[P.int(1)], [P.float(1e300)], P.int(0), /stride \[1e\+300\]/],
    [[P.float(2.5)], [P.int(1)], P.int(0), /size \[2\.5\]/],
    [[P.int(1)], [P.int(1)], P.float(1e300), /storage offset 1e\+300/],
    [[long1(2n ** 40n), long1(2n ** 40n)], [P.int(0), P.int(0)], P.int(0), /1208925819614629174706176 elements, more than 2\^53-1/],
    [[long1(2n ** 60n)], [P.int(0)], P.int(0), /size \[1152921504606846976\]/],
    [[P.int(2)], [P.int(1), P.int(1)], P.int(0), /has 1 sizes but 2 strides/],
  ];
  for (const [size, stride, offset, pattern] of cases) {
    for (const file of files(P.pickle(P.tensorPickle('0', 1, offset, size, stride)), ONE_FLOAT)) await refused(file, 'BAD_FILE', pattern);
  }
  // The same through safetensors: a zero-size dimension made the byte count 0 whatever the other one said.
  const header = Buffer.from(JSON.stringify({ t: { dtype: 'F32', shape: [0, 1e300], data_offsets: [0, 0] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const st = path.join(dir, 'huge.safetensors');
  fs.writeFileSync(st, Buffer.concat([len, header]));
  await refused(st, 'BAD_FILE', /invalid shape/);
  // Valid geometry still loads: a stride-0 view of one element.
  for (const file of files(P.pickle(P.tensorPickle('0', 1, P.int(0), [P.int(3)], [P.int(0)])), ONE_FLOAT)) {
    const t = await io.load(file);
    assert.deepEqual(Array.from(t.toArray()), [7, 7, 7]);
    t.dispose();
  }
});

test('a valid file with a 200,000-element tuple and list loads (no spread of 200k arguments)', async () => {
  const n = 200000;
  const items = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) { items[2 * i] = 0x4b; items[2 * i + 1] = i % 256; } // BININT1
  const pkl = P.pickle(P.b(op.EMPTY_DICT), P.str('tuple'), P.b(op.MARK), items, P.b(op.TUPLE, op.SETITEM),
    P.str('list'), P.b(op.EMPTY_LIST, op.MARK), items, P.b(op.APPENDS, op.SETITEM));
  for (const file of files(pkl)) {
    const v = await io.load(file);
    assert.equal(v.tuple.length, n);
    assert.equal(v.list.length, n);
    assert.equal(v.tuple[n - 1], (n - 1) % 256);
  }
});

test('a checkpoint with more than 65,535 zip entries (one per tensor) reads back: the writer adds the zip64 end record', async () => {
  const { zipChunks } = require('../dist/io/zip'); // io.save's writer; 70k real tensors would take a minute here
  const n = 70000;
  const value = Buffer.from(new Float32Array([7]).buffer);
  const records = Array.from({ length: n }, (_, i) => ({ name: `archive/data/${i}`, data: value, crc32: P.crc32(value) }));
  const pkl = P.pickle(P.tensorPickle(String(n - 1), 1, P.int(0), [], []));
  records.push({ name: 'archive/data.pkl', data: pkl, crc32: P.crc32(pkl) });
  const file = path.join(dir, 'many.pth');
  fs.writeFileSync(file, Buffer.concat(zipChunks(records)));
  const t = await io.load(file);
  assert.deepEqual(Array.from(t.toArray()), [7]);
  t.dispose();
});

test('a 200 kB integer (LONG4) loads in linear time', async () => {
  const bytes = Buffer.alloc(200000, 0x11);
  const len = Buffer.alloc(4);
  len.writeInt32LE(bytes.length);
  const t0 = Date.now();
  const v = await io.load(files(P.pickle(P.b(0x8b), len, bytes))[0]);
  const ms = Date.now() - t0;
  assert.equal(typeof v, 'bigint');
  assert.equal(v % 256n, 0x11n);
  assert.ok(ms < 5000, `${ms} ms (byte-by-byte BigInt shifts took 36 s)`);
});

test('200,000 levels of nested lists, dicts and tuples load, with a tensor at the bottom', async () => {
  const depth = 200000;
  const kinds = {
    list: [P.b(op.EMPTY_LIST), P.b(op.APPEND)],
    dict: [Buffer.concat([P.b(op.EMPTY_DICT), P.str('k')]), P.b(op.SETITEM)],
  };
  const tensorPart = P.tensorPickle('0', 1, P.int(0), [], []);
  for (const [kind, [open, close]] of Object.entries(kinds)) {
    const pkl = P.pickle(Buffer.concat(Array(depth).fill(open)), tensorPart, Buffer.concat(Array(depth).fill(close)));
    for (const file of files(pkl, ONE_FLOAT)) {
      for (const stripModulePrefix of [false, true]) {
        let v = await io.load(file, { stripModulePrefix });
        let levels = 0;
        while (!(v instanceof Tensor)) { v = kind === 'list' ? v[0] : v.k; levels++; }
        assert.equal(levels, depth, `${kind} ${file}`);
        assert.deepEqual(Array.from(v.toArray()), [7]);
        v.dispose();
        if (stripModulePrefix) continue;
        // Saving it back fails typed: the writer recurses, like Python's pickler (1,000 levels).
        await assert.rejects(io.save(await io.load(file), path.join(dir, 'deep-again.pth')), { name: 'TorchError', code: 'INVALID_ARGUMENT', message: /nested more than 1000 containers deep/ });
      }
    }
  }
  // 1,000 levels save and load back.
  let deep = tensor([7]);
  for (let i = 0; i < 999; i++) deep = i % 2 ? [deep] : { k: deep };
  await io.save(deep, path.join(dir, 'deep-1000.pth'));
  let back = await io.load(path.join(dir, 'deep-1000.pth'));
  for (let i = 998; i >= 0; i--) back = i % 2 ? back[0] : back.k;
  assert.deepEqual(Array.from(back.toArray()), [7]);
  // Tuples: ((((),),),) built by TUPLE1 from the inside out.
  const tuples = P.pickle(P.b(op.EMPTY_TUPLE), Buffer.alloc(depth, op.TUPLE1));
  let v = await io.load(files(tuples)[0]);
  let levels = 0;
  while (v.length) { v = v[0]; levels++; }
  assert.equal(levels, depth);
});

test('lists, dicts and OrderedDicts that contain themselves load as cycles', async () => {
  const list = P.pickle(P.b(op.EMPTY_LIST), P.put(0), P.get(0), P.b(op.APPEND));
  const dict = P.pickle(P.b(op.EMPTY_DICT), P.put(0), P.str('self'), P.get(0), P.str('t'),
    P.tensorPickle('0', 1, P.int(0), [], []), P.b(op.SETITEM, op.SETITEM));
  const ordered = P.pickle(P.global('collections', 'OrderedDict'), P.b(op.EMPTY_TUPLE, op.REDUCE), P.put(0), P.str('self'), P.get(0), P.b(op.SETITEM));
  for (const file of files(list)) {
    const l = await io.load(file);
    assert.equal(l[0], l);
  }
  for (const file of files(dict, ONE_FLOAT)) {
    const d = await io.load(file, { stripModulePrefix: true });
    assert.equal(d.self, d);
    assert.deepEqual(Array.from(d.t.toArray()), [7]);
    d.t.dispose();
  }
  for (const file of files(ordered)) {
    const m = await io.load(file);
    assert.ok(m instanceof Map);
    assert.equal(m.get('self'), m);
  }
});

test('a save removes the temp files of killed writers of the same file (dead pid), and keeps live ones', async () => {
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid; // exited by now
  const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    for (const [name, write] of [
      ['model.pth', (f) => io.save({ w: tensor([1, 2]) }, f)],
      ['last.ckpt', (f) => io.save({ format: 1, step: tensor([3]) }, f)], // train's checkpoints go through io.save
      ['model.safetensors', (f) => io.saveSafetensors({ w: tensor([1, 2]) }, f)],
    ]) {
      const file = path.join(dir, name);
      const stale = path.join(dir, `.${name}.${deadPid}.0badf00d.tmp`);
      const kept = [path.join(dir, `.${name}.${live.pid}.0123abcd.tmp`), path.join(dir, `.other-${name}.${deadPid}.0badf00d.tmp`)];
      for (const f of [stale, ...kept]) fs.writeFileSync(f, 'partial');
      await write(file);
      assert.equal(fs.existsSync(stale), false, `${name}: the dead writer's temp file is removed`);
      for (const f of kept) assert.ok(fs.existsSync(f), `${name}: ${path.basename(f)} is kept`);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(`.${name}.`) && !kept.includes(path.join(dir, f))), [], 'no temp file of ours is left');
      kept.forEach((f) => fs.rmSync(f));
    }
  } finally {
    live.kill();
  }
});

test('text opcodes (protocols 0 and 1), refused globals wherever they hide, and lying quantizers give clear errors', async () => {
  const text = (s) => Buffer.from(s, 'latin1');
  const tup = (items) => Buffer.concat([P.b(op.MARK), ...items, P.b(op.TUPLE)]);
  const list = (items) => Buffer.concat([P.b(op.MARK), ...items, P.b(op.LIST)]);
  const badFile = [
    [P.pickle(text('I12x\n')), /INT argument "12x" is not a decimal integer/],
    [P.pickle(text('Fabc\n')), /FLOAT argument "abc" is not a number/],
    [P.pickle(text('Sabc\n')), /STRING argument "abc" is not a quoted string/],
    [P.pickle(text('g7\n')), /memo key 7 is not defined/],
    // _rebuild_qtensor over a float storage, with a scheme it does not know, with a string scale.
    ...[
      [P.global('torch', 'per_tensor_affine'), P.float(0.5), P.int(0), 'FloatStorage', /_rebuild_qtensor over a float32 storage/],
      [P.global('torch', 'per_tensor_symmetric'), P.float(0.5), P.int(0), 'QInt8Storage', /scheme torch\.per_tensor_symmetric is not supported/],
      [P.global('torch', 'per_tensor_affine'), P.str('0.5'), P.int(0), 'QInt8Storage', /per_tensor_affine needs a float scale and an integer zero point, got "0\.5"/],
      // Per channel, lists of scales and zero points: fewer than the channels, or an axis the tensor lacks
      // (libtorch would read past them when it dequantizes).
      [P.global('torch', 'per_channel_affine'), list([P.float(0.5)]), list([P.int(0)]), 'QInt8Storage', /along axis 0 needs 4 scales and zero points, not 1 and 1/, P.int(0)],
      [P.global('torch', 'per_channel_affine'), list([P.float(0.5)]), list([P.int(0)]), 'QInt8Storage', /along axis 1 needs an axis it has/, P.int(1)],
    ].map(([scheme, scale, zero, storage, pattern, axis]) => [P.pickle(
      P.global('torch._utils', '_rebuild_qtensor'),
      tup([P.storagePid('0', 4, storage), P.int(0), tup([P.int(4)]), tup([P.int(1)]), tup(axis ? [scheme, scale, zero, axis] : [scheme, scale, zero]), P.b(op.FALSE)]),
      P.b(op.REDUCE),
    ), pattern]),
  ];
  const FOUR_BYTES = [['0', Buffer.alloc(4), 1]];
  for (const [pkl, pattern] of badFile) for (const file of files(pkl, FOUR_BYTES)) await refused(file, 'BAD_FILE', pattern);
  const unsafe = [
    // In a dict's BUILD state (where OrderedDict keeps _metadata), and as a Set item.
    [P.pickle(P.b(op.EMPTY_DICT, op.EMPTY_DICT), P.str('k'), P.global('os', 'system'), P.b(op.SETITEM, op.BUILD)), /global 'os\.system'/],
    // Passed to an allowed callable: refused before the callable sees it.
    [P.pickle(P.global('torch', 'device'), P.global('os', 'system'), P.b(op.TUPLE1, op.REDUCE)), /global 'os\.system'/],
    // Called and filled like a dict subclass: the refusal names it and where it sits.
    [P.pickle(P.b(op.EMPTY_DICT), P.str('hparams'), P.global('my.module', 'Config'), P.b(op.EMPTY_TUPLE, op.REDUCE, op.MARK), P.str('lr'), P.float(0.1), P.b(op.SETITEMS, op.SETITEM)), /global 'my\.module\.Config' from .* \(at checkpoint\['hparams'\]\)/],
  ];
  for (const [pkl, pattern] of unsafe) for (const file of files(pkl)) await refused(file, 'UNSAFE_PICKLE', pattern);
  // Python 2's names and text forms: __builtin__.set, a quoted STRING with escapes, a 64-bit INT, FLOAT inf.
  const py2 = P.pickle(P.global('__builtin__', 'set'), P.b(op.MARK), text("S'a\\x41\\n\\''\n"), text('I9007199254740993\n'), text('Finf\n'), P.b(op.LIST, op.TUPLE1, op.REDUCE));
  for (const file of files(py2)) assert.deepEqual(await io.load(file), new Set(['aA\n\'', 9007199254740993n, Infinity]));
});
