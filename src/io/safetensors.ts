// safetensors: 8-byte little-endian header length, a JSON header, then raw little-endian data.
import { TorchError } from '../errors';
import { native, NativeDtype, TensorHandle } from '../native';
import { Tensor, track } from '../tensor';
import { invalid } from '../arguments';
import { readWhole, writeAtomic } from './files';
import { ELEMENT_SIZE, loadSafetensorsBuffer } from './serialization';

const TO_NATIVE: Record<string, NativeDtype> = {
  F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const FROM_NATIVE = Object.fromEntries(Object.entries(TO_NATIVE).map(([k, v]) => [v, k])) as Record<NativeDtype, string>;
const MAX_HEADER = 100 * 1024 * 1024;

export function isSafetensors(buf: Buffer): boolean {
  if (buf.length < 10) return false;
  const n = buf.readBigUInt64LE(0);
  return n > 1n && n <= BigInt(Math.min(MAX_HEADER, buf.length - 8)) && buf[8] === 0x7b; // '{'
}

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
    const expected = shape.reduce((a, b) => a * b, 1) * ELEMENT_SIZE[native];
    if (offsets[1] - offsets[0] !== expected) throw new Error(`tensor '${name}' declares ${expected} bytes but data_offsets span ${offsets[1] - offsets[0]}`);
    if (offsets[1] > data.length) throw new Error(`tensor '${name}' data ends at ${offsets[1]} but the file holds ${data.length} data bytes (truncated?)`);
    tensors.push({ name, dtype: native, shape, data: data.subarray(offsets[0], offsets[1]) });
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

/** Reads a safetensors file into a Map of CPU tensors. */
export async function loadSafetensors(file: string): Promise<Map<string, Tensor>> {
  const where = 'io.loadSafetensors';
  if (typeof file !== 'string' || file === '') throw invalid(where, 'path', 'non-empty string', file);
  const buf = await readWhole(where, file);
  if (!isSafetensors(buf)) throw new TorchError(`${where}: ${file}: not a safetensors file`, 'BAD_FILE');
  return loadSafetensorsBuffer(file, buf, {});
}

/** Writes tensors (C order, little-endian) as a safetensors file, atomically. */
export async function saveSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, file: string, opts: { metadata?: Record<string, string> } = {}): Promise<void> {
  const where = 'io.saveSafetensors';
  if (typeof file !== 'string' || file === '') throw invalid(where, 'path', 'non-empty string', file);
  const entries = tensors instanceof Map ? [...tensors] : tensors && typeof tensors === 'object' ? Object.entries(tensors) : null;
  if (!entries) throw invalid(where, 'tensors', 'Map<string, Tensor> or Record<string, Tensor>', tensors);
  entries.forEach(([k, t]) => { if (!(t instanceof Tensor)) throw invalid(where, `tensors['${k}']`, 'Tensor', t); });
  const handles = entries.map(([k, t]) => t._h(where, `tensors['${k}']`));
  await track(where, entries.map(([, t]) => t), [], () => writeTensors(where, file, entries, handles, opts.metadata));
}

async function writeTensors(where: string, file: string, entries: [string, Tensor][], handles: TensorHandle[], metadata?: Record<string, string>): Promise<void> {
  const data = entries.length ? await native.tensorBytes(handles) : [];
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  entries.forEach(([name, t], i) => {
    header[name] = { dtype: FROM_NATIVE[t.dtype], shape: t.shape, data_offsets: [offset, offset + data[i].byteLength] };
    offset += data[i].byteLength;
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await writeAtomic(where, file, [head, Buffer.from(json), ...data.map((d) => new Uint8Array(d))]);
}
