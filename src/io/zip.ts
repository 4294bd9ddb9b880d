// The zip container of torch.save (1.6+): stored entries, 64-byte aligned data, one top-level
// folder. Reading also accepts deflated entries and zip64 sizes.
import { inflateRawSync } from 'zlib';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32LE(0) === LOCAL;
}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('zip64 size out of range');
  return Number(v);
}

/** Lists the central directory. Throws a plain Error describing any inconsistency. */
export function readZipDirectory(buf: Buffer): ZipEntry[] {
  const minEocd = 22;
  if (buf.length < minEocd) throw new Error('file is too short to be a zip archive (truncated?)');
  let eocd = -1;
  for (let i = buf.length - minEocd; i >= Math.max(0, buf.length - minEocd - 65535); i--) {
    if (buf.readUInt32LE(i) === EOCD) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('no zip end-of-central-directory record (the file is truncated or not a zip)');
  let count = buf.readUInt16LE(eocd + 10);
  let dirSize = buf.readUInt32LE(eocd + 12);
  let dirOffset = buf.readUInt32LE(eocd + 16);
  if (eocd >= 20 && buf.readUInt32LE(eocd - 20) === EOCD64_LOCATOR) {
    const at = u64(buf, eocd - 20 + 8);
    if (at + 56 > buf.length || buf.readUInt32LE(at) !== EOCD64) throw new Error('corrupt zip64 end-of-central-directory record');
    count = u64(buf, at + 32);
    dirSize = u64(buf, at + 40);
    dirOffset = u64(buf, at + 48);
  }
  if (dirOffset + dirSize > buf.length) throw new Error(`zip central directory (${dirSize} bytes at ${dirOffset}) lies beyond the end of the file (truncated?)`);
  const entries: ZipEntry[] = [];
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL) throw new Error(`corrupt zip central directory entry ${i}`);
    const method = buf.readUInt16LE(p + 10);
    const crc32 = buf.readUInt32LE(p + 16);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    if (p + 46 + nameLen + extraLen > buf.length) throw new Error(`corrupt zip central directory entry ${i}`);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extra field: present values replace the 0xFFFFFFFF placeholders, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) { size = u64(buf, q); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = u64(buf, q); q += 8; }
        if (localOffset === 0xffffffff) { localOffset = u64(buf, q); }
      }
      e += 4 + len;
    }
    entries.push({ name, method, crc32, compressedSize, size, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** The entry's bytes: a view into `buf` for stored entries, inflated for deflated ones. */
export function entryData(buf: Buffer, e: ZipEntry): Buffer {
  const p = e.localOffset;
  if (p + 30 > buf.length || buf.readUInt32LE(p) !== LOCAL) throw new Error(`corrupt zip entry '${e.name}': bad local header`);
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  if (start + e.compressedSize > buf.length) {
    throw new Error(`zip entry '${e.name}' needs ${e.compressedSize} bytes at offset ${start} but the file ends at ${buf.length} (truncated?)`);
  }
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) {
    if (e.size !== e.compressedSize) throw new Error(`corrupt zip entry '${e.name}': stored sizes differ`);
    return raw;
  }
  if (e.method === 8) {
    const out = inflateRawSync(raw, { maxOutputLength: e.size + 1 });
    if (out.length !== e.size) throw new Error(`corrupt zip entry '${e.name}': inflated to ${out.length} bytes, expected ${e.size}`);
    return out;
  }
  throw new Error(`zip entry '${e.name}' uses unsupported compression method ${e.method}`);
}

export interface ZipRecord {
  name: string;
  data: Uint8Array;
  crc32: number;
}

/**
 * The bytes of a stored (uncompressed) zip with each record's data aligned to 64 bytes, as
 * torch.save writes it, returned as chunks to write in order (data is not copied).
 */
export function zipChunks(records: ZipRecord[]): Buffer[] {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const big = (n: number) => n >= 0xffffffff;
  let needs64 = false;
  for (const r of records) {
    const name = Buffer.from(r.name, 'utf8');
    const headerLen = 30 + name.length + 4; // + the padding extra field header
    const zip64 = big(r.data.length) || big(offset);
    needs64 ||= zip64;
    const z64Local = zip64 ? 20 : 0;
    const pad = (64 - ((offset + headerLen + z64Local) % 64)) % 64;
    const local = Buffer.alloc(30 + name.length + z64Local + 4 + pad);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date
    local.writeUInt32LE(r.crc32 >>> 0, 14);
    local.writeUInt32LE(zip64 ? 0xffffffff : r.data.length, 18);
    local.writeUInt32LE(zip64 ? 0xffffffff : r.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(z64Local + 4 + pad, 28);
    name.copy(local, 30);
    let e = 30 + name.length;
    if (zip64) {
      local.writeUInt16LE(0x0001, e); local.writeUInt16LE(16, e + 2);
      local.writeBigUInt64LE(BigInt(r.data.length), e + 4); local.writeBigUInt64LE(BigInt(r.data.length), e + 12);
      e += 20;
    }
    local.writeUInt16LE(0x4246, e); // 'FB': padding so the data starts 64-byte aligned
    local.writeUInt16LE(pad, e + 2);
    chunks.push(local, Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength));

    const z64Central = zip64 ? 28 : 0;
    const c = Buffer.alloc(46 + name.length + z64Central);
    c.writeUInt32LE(CENTRAL, 0);
    c.writeUInt16LE(zip64 ? 45 : 20, 4);
    c.writeUInt16LE(zip64 ? 45 : 20, 6);
    c.writeUInt16LE(0x0800, 8);
    c.writeUInt32LE(r.crc32 >>> 0, 16);
    c.writeUInt32LE(zip64 ? 0xffffffff : r.data.length, 20);
    c.writeUInt32LE(zip64 ? 0xffffffff : r.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(z64Central, 30);
    c.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    name.copy(c, 46);
    if (zip64) {
      const q = 46 + name.length;
      c.writeUInt16LE(0x0001, q); c.writeUInt16LE(24, q + 2);
      c.writeBigUInt64LE(BigInt(r.data.length), q + 4); c.writeBigUInt64LE(BigInt(r.data.length), q + 12);
      c.writeBigUInt64LE(BigInt(offset), q + 20);
    }
    central.push(c);
    offset += local.length + r.data.byteLength;
  }
  const dirOffset = offset;
  const dirSize = central.reduce((a, c) => a + c.length, 0);
  for (const c of central) chunks.push(c); // not push(...central): one argument per entry overflows the stack at ~100k
  if (needs64 || big(dirOffset + dirSize) || records.length >= 0xffff) { // the plain end record counts entries in 16 bits
    const e64 = Buffer.alloc(56 + 20);
    e64.writeUInt32LE(EOCD64, 0);
    e64.writeBigUInt64LE(44n, 4);
    e64.writeUInt16LE(45, 12); e64.writeUInt16LE(45, 14);
    e64.writeBigUInt64LE(BigInt(records.length), 24); e64.writeBigUInt64LE(BigInt(records.length), 32);
    e64.writeBigUInt64LE(BigInt(dirSize), 40); e64.writeBigUInt64LE(BigInt(dirOffset), 48);
    e64.writeUInt32LE(EOCD64_LOCATOR, 56);
    e64.writeBigUInt64LE(BigInt(dirOffset + dirSize), 64);
    e64.writeUInt32LE(1, 72);
    chunks.push(e64);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(Math.min(records.length, 0xffff), 8);
  end.writeUInt16LE(Math.min(records.length, 0xffff), 10);
  end.writeUInt32LE(Math.min(dirSize, 0xffffffff), 12);
  end.writeUInt32LE(Math.min(dirOffset, 0xffffffff), 16);
  chunks.push(end);
  return chunks;
}
