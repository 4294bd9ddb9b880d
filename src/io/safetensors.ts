// safetensors: 8-byte little-endian header length, a JSON header, then raw little-endian data.
// A pure codec, like zip.ts and pickle.ts: bytes in, bytes out. Tensors are serialization.ts's
// (loadSafetensors, saveSafetensors, and io.load of a safetensors file).
import type { NativeDtype } from '../native';

const TO_NATIVE: Record<string, NativeDtype> = {
  F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const FROM_NATIVE = Object.fromEntries(Object.entries(TO_NATIVE).map(([k, v]) => [v, k])) as Record<NativeDtype, string>;
const ELEMENT_SIZE: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER = 100 * 1024 * 1024;

/** Whether `buf` starts like a safetensors file (a plausible header length, then '{'). */
export function isSafetensors(buf: Buffer): boolean {
  if (buf.length < 10) return false;
  const n = buf.readBigUInt64LE(0);
  return n > 1n && n <= BigInt(Math.min(MAX_HEADER, buf.length - 8)) && buf[8] === 0x7b; // '{'
}

/** A safetensors file's tensors (their data as views of `buf`) and metadata; throws on a malformed file. */
export function parseSafetensors(buf: Buffer): { tensors: { name: string; dtype: NativeDtype; shape: number[]; data: Buffer }[]; metadata: Record<string, string> } {
  if (buf.length < 8) throw new Error('truncated safetensors header');
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw new Error(`safetensors header of ${n} bytes is longer than the file (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + n));
  } catch {
    throw new Error('safetensors header is not valid JSON');
  }
  const data = buf.subarray(8 + n);
  const tensors = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const native = TO_NATIVE[dtype];
    if (!native) throw new Error(`tensor '${name}' has unsupported dtype '${dtype}'`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`tensor '${name}' has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !(offsets[0] <= offsets[1]) || !Number.isInteger(offsets[0]) || !Number.isInteger(offsets[1])) {
      throw new Error(`tensor '${name}' has invalid data_offsets`);
    }
    const expected = shape.reduce((a, b) => a * b, 1) * ELEMENT_SIZE[dtype];
    if (offsets[1] - offsets[0] !== expected) throw new Error(`tensor '${name}' declares ${expected} bytes but data_offsets span ${offsets[1] - offsets[0]}`);
    if (offsets[1] > data.length) throw new Error(`tensor '${name}' data ends at ${offsets[1]} but the file holds ${data.length} data bytes (truncated?)`);
    tensors.push({ name, dtype: native, shape, data: data.subarray(offsets[0], offsets[1]) });
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

/** A safetensors file holding `tensors` (data in C order, little-endian), as chunks to write in order. */
export function encodeSafetensors(tensors: { name: string; dtype: NativeDtype; shape: number[]; data: Uint8Array }[], metadata?: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const { name, dtype, shape, data } of tensors) {
    header[name] = { dtype: FROM_NATIVE[dtype], shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return [head, Buffer.from(json), ...tensors.map((t) => t.data)];
}
