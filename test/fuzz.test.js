'use strict';
// Seeded mutations of small checkpoints in every format io.load reads (zip, legacy, safetensors),
// each loaded in a child process: byte flips, truncations, zip directory damage, lying sizes,
// opcode swaps, and hostile values (floats, huge ints, globals, '__proto__') put in place of a value. Any crash (signal), hang, failure that is not a TorchError naming the file, or
// loaded value that is not plain data (a function, an internal object, an out-of-range shape)
// fails the test.
// A failure prints the mutation (base, index, kind, detail) and keeps the files for replay.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { io, tensor } = require('torchbridge');
const { havePyTorch, PYTHON, tmpDir } = require('./helpers/reference');
const P = require('./helpers/checkpoint-bytes');

const { op } = P;
const SEED = Number(process.env.FUZZ_SEED ?? 16);
const PER_BASE = Number(process.env.FUZZ_PER_BASE ?? 70);
const BATCH = 45; // files per child: one libtorch start-up serves many loads
const STALL_MS = 20000; // no progress for this long is a hang

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Every opcode the unpickler knows, the refused ones, and two it does not.
const OPCODES = [0x80, 0x95, 0x2e, 0x28, 0x30, 0x31, 0x32, 0x4e, 0x88, 0x89, 0x4a, 0x4b, 0x4d, 0x8a, 0x8b, 0x49, 0x4c, 0x46, 0x47,
  0x58, 0x8c, 0x8d, 0x56, 0x54, 0x55, 0x53, 0x42, 0x43, 0x8e, 0x96, 0x29, 0x74, 0x85, 0x86, 0x87, 0x5d, 0x6c, 0x61, 0x65, 0x7d,
  0x64, 0x73, 0x75, 0x8f, 0x90, 0x91, 0x67, 0x68, 0x6a, 0x70, 0x71, 0x72, 0x94, 0x63, 0x93, 0x52, 0x81, 0x62, 0x51, 0x50,
  0x69, 0x6f, 0x92, 0x82, 0x83, 0x84, 0x00, 0xff];

/** A hand-made state: an OrderedDict with _metadata, a view, an int64 tensor, memo references, a torch.Size, a long. */
function handPickle() {
  const long62 = Buffer.alloc(8);
  long62.writeBigInt64LE(2n ** 62n);
  return P.pickle(
    P.b(op.EMPTY_DICT), P.put(0), P.b(op.MARK),
    P.str('model'), P.global('collections', 'OrderedDict'), P.b(op.EMPTY_TUPLE, op.REDUCE), P.put(1), P.b(op.MARK),
    P.str('w'), P.tensorPickle('0', 6, P.int(0), [P.int(2), P.int(3)], [P.int(3), P.int(1)]), P.put(2),
    P.str('wt'), P.tensorPickle('0', 6, P.int(1), [P.int(2), P.int(2)], [P.int(1), P.int(3)]),
    P.str('idx'), P.tensorPickle('1', 4, P.int(0), [P.int(4)], [P.int(1)], 'LongStorage'),
    P.b(op.SETITEMS),
    P.b(op.EMPTY_DICT), P.str('_metadata'), P.b(op.EMPTY_DICT), P.str(''), P.b(op.EMPTY_DICT), P.str('version'), P.int(1),
    P.b(op.SETITEM, op.SETITEM, op.SETITEM, op.BUILD),
    P.str('epoch'), P.int(3), P.str('ratio'), P.float(0.5),
    P.str('flags'), P.b(op.EMPTY_LIST, op.MARK, op.TRUE, op.FALSE, op.NONE, op.APPENDS),
    P.str('shape'), P.global('torch', 'Size'), P.b(op.MARK), P.int(2), P.int(3), P.b(op.TUPLE, op.TUPLE1, op.REDUCE),
    P.str('again'), P.get(2), P.str('big'), P.b(0x8a, 8), long62,
    P.b(op.SETITEMS),
  );
}
const HAND_STORAGES = [
  ['0', Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6]).buffer), 4],
  ['1', Buffer.from(new BigInt64Array([1n, -2n, 3n, -4n]).buffer), 8],
];

async function makeBases(dir) {
  const bases = [];
  const ours = path.join(dir, 'ours.pth');
  await io.save({ model: new Map([['w', tensor([[1, 2, 3], [4, 5, 6]])], ['b', tensor([1, 2], { dtype: 'int64' })]]),
    step: 5, name: 'x', list: [1.5, null, true], blob: Buffer.from([0, 1, 255]), big: 2n ** 62n }, ours);
  bases.push({ name: 'zip-iosave', kind: 'zip', entries: P.readStoredZip(fs.readFileSync(ours)), file: fs.readFileSync(ours) });
  const handEntries = [['archive/data.pkl', handPickle()], ...HAND_STORAGES.map(([k, d]) => [`archive/data/${k}`, d]), ['archive/version', Buffer.from('3\n')]];
  bases.push({ name: 'zip-hand', kind: 'zip', entries: handEntries, file: P.zipFile(handEntries) });
  if (havePyTorch()) {
    const py = path.join(dir, 'pytorch.pth');
    execFileSync(PYTHON, ['-c', `import torch, collections
sd = collections.OrderedDict(w=torch.arange(6.).reshape(2, 3), b=torch.tensor([1, 2]), h=torch.ones(3, dtype=torch.float16))
torch.save({'model': sd, 'epoch': 2, 'pair': (1, 'a'), 'view': sd['w'].t()}, ${JSON.stringify(py)})`]);
    bases.push({ name: 'zip-pytorch', kind: 'zip', entries: P.readStoredZip(fs.readFileSync(py)), file: fs.readFileSync(py) });
  }
  bases.push({ name: 'legacy-hand', kind: 'legacy', main: handPickle(), file: P.legacyFile(handPickle(), HAND_STORAGES) });
  const st = path.join(dir, 'base.safetensors');
  await io.saveSafetensors({ w: tensor([[1, 2, 3], [4, 5, 6]]), idx: tensor([1, 2, 3, 4], { dtype: 'int64' }), h: tensor([1, 2, 3], { dtype: 'float16' }) }, st);
  bases.push({ name: 'safetensors', kind: 'safetensors', file: fs.readFileSync(st) });
  return bases;
}

const int = (rng, n) => Math.floor(rng() * n);
const pick = (rng, list) => list[int(rng, list.length)];
function lyingNumber(rng, honest) {
  return pick(rng, [0, 1, honest + 1, honest - 1, honest * 2, 0xffffffff, 0x7fffffff, int(rng, 1 << 30), -1, 1e300, 2.5, 2 ** 53]);
}

function flipBytes(rng, buf, from = 0, to = buf.length) {
  const out = Buffer.from(buf);
  const n = 1 + int(rng, 8);
  const at = [];
  for (let k = 0; k < n; k++) {
    const p = from + int(rng, to - from);
    out[p] ^= 1 + int(rng, 255);
    at.push(p);
  }
  return [out, `at ${at.join(',')}`];
}

const ARG_BYTES = { 0x80: 1, 0x4b: 1, 0x68: 1, 0x71: 1, 0x4d: 2, 0x4a: 4, 0x6a: 4, 0x72: 4, 0x47: 8, 0x95: 8 };
const ARG_LENGTH = { 0x8c: 1, 0x43: 1, 0x55: 1, 0x8a: 1, 0x58: 4, 0x42: 4, 0x54: 4, 0x8b: 4, 0x8d: 8, 0x8e: 8, 0x96: 8 }; // bytes of the length prefix
const ARG_LINES = { 0x63: 2, 0x49: 1, 0x4c: 1, 0x46: 1, 0x53: 1, 0x56: 1, 0x67: 1, 0x70: 1, 0x50: 1 };
const PUSHES_SCALAR = new Set([0x4b, 0x4d, 0x4a, 0x47, 0x8a, 0x58, 0x8c, 0x4e, 0x88, 0x89]);

/** [start, end) of each opcode of a well-formed pickle. */
function opcodeSpans(pkl) {
  const spans = [];
  for (let p = 0; p < pkl.length;) {
    const code = pkl[p];
    let end = p + 1;
    if (code in ARG_BYTES) end += ARG_BYTES[code];
    else if (code in ARG_LENGTH) {
      const n = ARG_LENGTH[code];
      end += n + Number(n === 1 ? pkl[end] : n === 4 ? pkl.readUInt32LE(end) : pkl.readBigUInt64LE(end));
    } else for (let k = ARG_LINES[code] ?? 0; k > 0; k--) end = pkl.indexOf(0x0a, end) + 1;
    spans.push([p, end]);
    p = end;
  }
  return spans;
}

// One value each, to put where the pickle pushes one: what PyTorch would refuse or never write.
const HOSTILE_VALUES = [
  P.float(1e300), P.float(2.5), P.float(-1), P.float(NaN), Buffer.concat([P.b(0x8a, 8), Buffer.from('0000000000000010', 'hex')]), P.int(-1),
  P.global('torch._utils', '_rebuild_tensor_v2'), P.global('torch', 'FloatStorage'), P.str('__proto__'), P.b(op.EMPTY_DICT), P.b(op.EMPTY_LIST),
];

/** The pickle-level mutations: the container is rebuilt around the mutated pickle (with valid CRCs), so the loader gets past them. */
function mutatePickle(rng, pkl) {
  const how = pick(rng, ['flip', 'opcode', 'truncate', 'splice', 'value', 'value']);
  if (how === 'value') { // a scalar replaced by a hostile value, the rest intact
    const spans = opcodeSpans(pkl).filter(([p]) => PUSHES_SCALAR.has(pkl[p]));
    const [from, to] = pick(rng, spans);
    const k = int(rng, HOSTILE_VALUES.length);
    return [Buffer.concat([pkl.subarray(0, from), HOSTILE_VALUES[k], pkl.subarray(to)]), `pickle value at ${from} -> hostile ${k}`];
  }
  if (how === 'flip') { const [out, d] = flipBytes(rng, pkl); return [out, `pickle flip ${d}`]; }
  if (how === 'truncate') { const n = int(rng, pkl.length); return [pkl.subarray(0, n), `pickle truncate to ${n}`]; }
  if (how === 'splice') {
    const a = int(rng, pkl.length);
    const b = Math.min(pkl.length, a + int(rng, 16));
    const c = int(rng, pkl.length);
    return [Buffer.concat([pkl.subarray(0, a), pkl.subarray(c, c + int(rng, 16)), pkl.subarray(b)]), `pickle splice ${a}-${b} <- ${c}`];
  }
  const out = Buffer.from(pkl);
  const at = [];
  for (let k = 1 + int(rng, 3); k > 0; k--) {
    const p = 2 + int(rng, out.length - 2);
    out[p] = pick(rng, OPCODES);
    at.push(`${p}=${out[p].toString(16)}`);
  }
  return [out, `pickle opcodes ${at.join(',')}`];
}

const MUTATIONS = {
  zip: {
    flip: (rng, base) => flipBytes(rng, base.file),
    truncate: (rng, base) => { const n = int(rng, base.file.length); return [base.file.subarray(0, n), `to ${n}`]; },
    directory: (rng, base) => { // overwrite a field of the central directory or end record
      const out = Buffer.from(base.file);
      const dirStart = out.readUInt32LE(out.length - 6);
      const p = dirStart + int(rng, out.length - dirStart - 4);
      const v = pick(rng, [0, 0xffffffff, int(rng, 2 ** 32), out.readUInt32LE(p) + 1]);
      out.writeUInt32LE(v >>> 0, p);
      return [out, `u32 ${v >>> 0} at ${p}`];
    },
    sizes: (rng, base) => { // an entry whose sizes lie, or one that points elsewhere (CRC kept honest)
      const entries = base.entries.map(([n, d]) => [n, d]);
      const k = int(rng, entries.length);
      const out = P.zipFile(entries);
      let p = out.readUInt32LE(out.length - 6);
      for (let i = 0; i < k; i++) p += 46 + out.readUInt16LE(p + 28) + out.readUInt16LE(p + 30) + out.readUInt16LE(p + 32);
      const field = pick(rng, [20, 24, 42]); // compressed size, size, local header offset
      const v = lyingNumber(rng, out.readUInt32LE(p + field));
      out.writeUInt32LE((Number.isInteger(v) ? v : 7) >>> 0, p + field);
      return [out, `entry ${entries[k][0]} field ${field} = ${v}`];
    },
    pickle: (rng, base) => {
      const entries = base.entries.map(([n, d]) => [n, d]);
      const i = entries.findIndex(([n]) => n.endsWith('data.pkl'));
      const [pkl, d] = mutatePickle(rng, entries[i][1]);
      entries[i][1] = pkl;
      return [P.zipFile(entries), d];
    },
    storage: (rng, base) => { // a storage entry shorter or longer than its pickle says
      const entries = base.entries.map(([n, d]) => [n, d]);
      const data = entries.filter(([n]) => /\/data\/\d+$/.test(n));
      const e = pick(rng, data);
      const n = int(rng, e[1].length + 8);
      e[1] = Buffer.concat([e[1], Buffer.alloc(8)]).subarray(0, n);
      return [P.zipFile(entries), `${e[0]} resized to ${n}`];
    },
  },
  legacy: {
    flip: (rng, base) => flipBytes(rng, base.file),
    truncate: (rng, base) => { const n = int(rng, base.file.length); return [base.file.subarray(0, n), `to ${n}`]; },
    pickle: (rng, base) => { const [pkl, d] = mutatePickle(rng, base.main); return [P.legacyFile(pkl, HAND_STORAGES), d]; },
    sizes: (rng, base) => { // a storage's int64 element count lies
      const out = Buffer.from(base.file);
      const k = int(rng, HAND_STORAGES.length);
      let p = out.length - HAND_STORAGES.reduce((a, [, d]) => a + 8 + d.length, 0);
      for (let i = 0; i < k; i++) p += 8 + HAND_STORAGES[i][1].length;
      const v = pick(rng, [0n, 1n, -1n, 2n ** 62n, BigInt(out.length), BigInt(int(rng, 100))]);
      out.writeBigInt64LE(v, p);
      return [out, `storage ${k} count ${v}`];
    },
  },
  safetensors: {
    flip: (rng, base) => flipBytes(rng, base.file),
    truncate: (rng, base) => { const n = int(rng, base.file.length); return [base.file.subarray(0, n), `to ${n}`]; },
    header: (rng, base) => { // the JSON header lies about a shape, an offset or a dtype
      const n = Number(base.file.readBigUInt64LE(0));
      const header = JSON.parse(base.file.toString('utf8', 8, 8 + n));
      const name = pick(rng, Object.keys(header).filter((k) => k !== '__metadata__'));
      const field = pick(rng, ['shape', 'data_offsets', 'dtype', 'delete', '__proto__']);
      if (field === 'dtype') header[name].dtype = pick(rng, ['F32', 'I64', 'F16', 'BOOL', 'U8', 'X9', 7]);
      else if (field === 'delete') delete header[name].data_offsets;
      else if (field === '__proto__') header[name] = JSON.parse('{"__proto__": {"dtype": "F32"}}');
      else {
        const list = header[name][field];
        const i = int(rng, list.length + 1);
        list[i] = lyingNumber(rng, list[i] ?? 0);
      }
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return [Buffer.concat([len, json, base.file.subarray(8 + n)]), `${name}.${field} -> ${JSON.stringify(header[name])}`];
    },
    length: (rng, base) => { // the header length field lies
      const out = Buffer.from(base.file);
      const v = BigInt(lyingNumber(rng, Number(out.readBigUInt64LE(0))) >>> 0);
      out.writeBigUInt64LE(v, 0);
      return [out, `header length ${v}`];
    },
  },
};

/** Loads one batch in a child; resolves with the indices it did not get to (after a crash or hang). */
function loadBatch(dir, cases, batch, results) {
  const list = path.join(dir, `batch-${batch[0]}.txt`);
  fs.writeFileSync(list, batch.map((i) => cases[i].file).join('\n'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'helpers', 'fuzz-child.js'), list], { cwd: __dirname, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let current = -1;
    let finished = 0;
    let stalled = false;
    let timer;
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => { stalled = true; child.kill('SIGKILL'); }, STALL_MS); };
    arm();
    child.stdout.on('data', (d) => {
      out += d;
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = JSON.parse(out.slice(0, nl));
        out = out.slice(nl + 1);
        if (line.started) current = line.i;
        else { results[batch[line.i]] = line; finished = line.i + 1; current = -1; }
        arm();
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (finished === batch.length) { resolve([]); return; }
      // The file being loaded (or, between files, the next one) is charged, so the run always moves on.
      const charged = current >= 0 ? current : finished;
      results[batch[charged]] = { outcome: stalled ? 'hang' : 'crash', message: `child exit ${code}, signal ${signal}: ${err.slice(-1000)}` };
      resolve(batch.slice(charged + 1));
    });
  });
}

/** Loads every case in child processes, BATCH files each, two at a time. */
async function loadAll(dir, cases) {
  const results = new Array(cases.length);
  const queue = cases.map((_, i) => i);
  const worker = async () => {
    while (queue.length) queue.unshift(...await loadBatch(dir, cases, queue.splice(0, BATCH), results));
  };
  await Promise.all([worker(), worker()]);
  return results;
}

test('fuzzed checkpoints (zip, legacy, safetensors): no crash, no hang, only TorchErrors', { timeout: 300000 }, async (t) => {
  const dir = tmpDir('fuzz');
  const rng = mulberry32(SEED);
  const bases = await makeBases(dir);
  const cases = [];
  for (const base of bases) {
    const kinds = Object.keys(MUTATIONS[base.kind]);
    for (let i = 0; i < PER_BASE; i++) {
      const kind = kinds[i % kinds.length];
      const [bytes, detail] = MUTATIONS[base.kind][kind](rng, base);
      const file = path.join(dir, `${base.name}-${i}.bin`);
      fs.writeFileSync(file, bytes);
      cases.push({ file, what: `${base.name} #${i} ${kind}: ${detail}` });
    }
  }
  const t0 = Date.now();
  const results = await loadAll(dir, cases);
  const count = (f) => results.filter(f).length;
  const codes = {};
  for (const r of results) if (r.outcome === 'TorchError') codes[r.code] = (codes[r.code] ?? 0) + 1;
  const bad = results.map((r, i) => ({ ...r, what: cases[i].what, file: cases[i].file }))
    .filter((r) => r.outcome !== 'loaded' && !(r.outcome === 'TorchError' && r.namesFile));
  t.diagnostic(`seed ${SEED}: ${cases.length} mutated files from ${bases.map((b) => b.name).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.diagnostic(`loaded ${count((r) => r.outcome === 'loaded')}, TorchError ${count((r) => r.outcome === 'TorchError')} ${JSON.stringify(codes)}, ` +
    `crashes ${count((r) => r.outcome === 'crash')}, hangs ${count((r) => r.outcome === 'hang')}, other errors ${count((r) => r.outcome === 'other')}, ` +
    `loaded but not plain data ${count((r) => r.outcome === 'malformed')}, ` +
    `TorchErrors not naming the file ${count((r) => r.outcome === 'TorchError' && !r.namesFile)}`);
  for (const r of bad.slice(0, 20)) t.diagnostic(`${r.outcome}: ${r.what}\n  ${r.file}\n  ${r.message}${r.stack ? `\n  ${r.stack}` : ''}`);
  assert.equal(bad.length, 0, `${bad.length} bad outcomes (files kept in ${dir})`);
  assert.ok(count((r) => r.outcome === 'loaded') > 0 && count((r) => r.outcome === 'TorchError') > 0, 'the mutations both load and fail');
  fs.rmSync(dir, { recursive: true, force: true });
});
