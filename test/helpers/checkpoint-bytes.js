'use strict';
// Hand-assembled pickles and checkpoint containers (legacy torch.save, zip), byte by byte from the
// pickle and zip specifications, so that tests can build files PyTorch would never write.

const op = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, POP: 0x30, NONE: 0x4e, TRUE: 0x88, FALSE: 0x89,
  EMPTY_LIST: 0x5d, APPEND: 0x61, APPENDS: 0x65, LIST: 0x6c, EMPTY_TUPLE: 0x29, TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86,
  EMPTY_DICT: 0x7d, DICT: 0x64, SETITEM: 0x73, SETITEMS: 0x75, REDUCE: 0x52, BUILD: 0x62, BINPERSID: 0x51,
};

const b = (...bytes) => Buffer.from(bytes);
const u32 = (n) => { const x = Buffer.alloc(4); x.writeUInt32LE(n); return x; };
const str = (s) => { const d = Buffer.from(s, 'utf8'); return Buffer.concat([b(0x58), u32(d.length), d]); }; // BINUNICODE
const int = (n) => { const x = Buffer.alloc(5); x[0] = 0x4a; x.writeInt32LE(n, 1); return x; }; // BININT
const float = (v) => { const x = Buffer.alloc(9); x[0] = 0x47; x.writeDoubleBE(v, 1); return x; }; // BINFLOAT
const put = (i) => Buffer.concat([b(0x72), u32(i)]); // LONG_BINPUT
const get = (i) => Buffer.concat([b(0x6a), u32(i)]); // LONG_BINGET
const global = (module, name) => Buffer.from(`c${module}\n${name}\n`, 'latin1');

/** A protocol-2 pickle of the given parts (Buffers, or opcode numbers) followed by STOP. */
function pickle(...parts) {
  return Buffer.concat([b(op.PROTO, 2), ...parts.map((p) => (typeof p === 'number' ? b(p) : p)), b(op.STOP)]);
}

const tuple = (items) => Buffer.concat([b(op.MARK), ...items, b(op.TUPLE)]);

/** A storage reference: persistent id ('storage', type, key, location, numel, None), the legacy form (zip files drop the None; io.load takes both). */
function storagePid(key, numel, dtype = 'FloatStorage') {
  return Buffer.concat([tuple([str('storage'), global('torch', dtype), str(key), str('cpu'), int(numel), b(op.NONE)]), b(op.BINPERSID)]);
}

/** `torch._utils._rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`; the sizes are pickle parts. */
function tensorPickle(key, numel, offset, sizeParts, strideParts, dtype = 'FloatStorage') {
  const storage = storagePid(key, numel, dtype);
  return Buffer.concat([
    global('torch._utils', '_rebuild_tensor_v2'),
    tuple([storage, offset, tuple(sizeParts), tuple(strideParts), b(op.FALSE), global('collections', 'OrderedDict'), b(op.EMPTY_TUPLE, op.REDUCE)]),
    b(op.REDUCE),
  ]);
}

/**
 * A legacy-format (PyTorch 0.4 to 1.5) checkpoint: magic, protocol version and sys info pickles,
 * the main pickle, the storage key list, then each storage as an int64 count and raw bytes.
 */
function legacyFile(mainPickle, storages = []) {
  const magic = Buffer.from('8a0a6c fc 9c 46 f9 20 6a a8 50 19'.replace(/ /g, ''), 'hex'); // LONG1 10 bytes of 0x1950a86a20f9469cfc6c
  const head = [
    pickle(magic),
    pickle(b(0x4d, 0xe9, 0x03)), // BININT2 1001
    pickle(b(op.EMPTY_DICT), str('little_endian'), b(op.TRUE, op.SETITEM)),
  ];
  const keys = pickle(b(op.EMPTY_LIST, op.MARK), ...storages.map(([key]) => str(key)), b(op.APPENDS));
  const data = storages.flatMap(([, bytes, itemSize = 4]) => {
    const count = Buffer.alloc(8);
    count.writeBigInt64LE(BigInt(bytes.length / itemSize));
    return [count, bytes];
  });
  return Buffer.concat([...head, mainPickle, keys, ...data]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const x of buf) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A stored (uncompressed) zip of `entries` ([name, bytes] pairs), as torch.save's container. */
function zipFile(entries) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    locals.push(local, n, data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + data.length;
  }
  const dir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

/** A zip-format checkpoint (PyTorch 1.6+) with `dataPkl` and storages ([key, bytes] pairs). */
function zipCheckpoint(dataPkl, storages = []) {
  return zipFile([
    ['archive/data.pkl', dataPkl],
    ...storages.map(([key, bytes]) => [`archive/data/${key}`, bytes]),
    ['archive/version', Buffer.from('3\n')],
  ]);
}


/** The entries of a zip whose entries are stored (not compressed), as [name, bytes] pairs, read from its central directory. */
function readStoredZip(buf) {
  const end = buf.length - 22;
  const count = buf.readUInt16LE(end + 10);
  let p = buf.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const skip = nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    entries.push([buf.toString('utf8', p + 46, p + 46 + nameLen), buf.subarray(start, start + size)]);
    p += 46 + skip;
  }
  return entries;
}

module.exports = { op, b, str, int, float, put, get, global, pickle, storagePid, tensorPickle, legacyFile, zipFile, zipCheckpoint, readStoredZip, crc32 };
