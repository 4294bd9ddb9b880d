// torch.load / torch.save file formats: the zip format (1.6 to 2.x), the legacy format (0.1.10
// to 1.5), and safetensors; the format is told by the content, never the name.
import * as path from 'path';
import { TorchError } from '../errors';
import { native, NativeDtype, TensorHandle } from '../native';
import { checkDevice, cuda, Device } from '../runtime';
import { Tensor, track } from '../tensor';
import { bool, invalid, options } from '../arguments';
import { readWhole, writeAtomic } from './files';
import { isTuple, pickle, PyCallable, PyGlobal, PyPersistent, PyReduce, PyTuple, PyValue, pythonState, rewriteGraph, unpickle } from './pickle';
import { encodeSafetensors, isSafetensors, parseSafetensors } from './safetensors';
import { entryData, isZip, readZipDirectory, zipChunks } from './zip';

const STORAGE_DTYPES: Record<string, NativeDtype> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool', UntypedStorage: 'uint8',
};
const STORAGE_CLASSES = Object.fromEntries(Object.entries(STORAGE_DTYPES).filter(([k]) => k !== 'UntypedStorage').map(([k, v]) => [v, k]));
const ELEMENT_SIZE: Record<NativeDtype, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

class StorageType {
  constructor(readonly dtype: NativeDtype) {}
}

interface StorageRef {
  key: string;
  dtype: NativeDtype;
  numel: number;
  location: string;
}

/** A tensor described by the pickle; made real once the storages are loaded. */
class TensorSpec {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

export interface LoadOptions {
  /**
   * Where tensors go, like torch.load's map_location: one device for all, or a map from saved
   * locations to devices (`{ 'cuda:1': 'cuda:0' }`, others stay). Default: where they were saved.
   */
  mapLocation?: Device | Record<string, Device>;
  /** Strip the `module.` prefix that DataParallel/DistributedDataParallel add to state_dict keys. */
  stripModulePrefix?: boolean;
}

function badFile(file: string, what: string): TorchError {
  return new TorchError(`io.load: ${file}: ${what}`, 'BAD_FILE');
}

// Sizes, strides and offsets are int64 in PyTorch; here they must also be exact in a double.
const isIndex = (x: PyValue): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** A short description of a value from a file, for messages (never String() of a deep or cyclic structure). */
function shown(v: PyValue): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) return `[${v.slice(0, 8).map((x) => (Array.isArray(x) ? '[...]' : shown(x))).join(', ')}${v.length > 8 ? ', ...' : ''}]`;
  return v === null ? 'None' : typeof v;
}

function intList(v: PyValue, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isIndex)) throw new Error(`${what} ${shown(v)} is not a tuple of integers in 0..2^53-1`);
  return v as number[];
}

const CODECS = new Map<string, BufferEncoding>([['latin1', 'latin1'], ['latin-1', 'latin1'], ['utf8', 'utf8'], ['utf-8', 'utf8']]);

/** The globals a checkpoint may name, as in torch.load(weights_only=True). */
function makeFindClass(file: string) {
  const rebuildV2: PyCallable = (args) => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRefBox)) throw new Error('_rebuild_tensor_v2 without a storage');
    if (!isIndex(offset)) throw new Error(`storage offset ${shown(offset)} is not an integer in 0..2^53-1`);
    return new TensorSpec(storage.ref, offset, intList(size, 'tensor size'), intList(stride, 'tensor stride'));
  };
  const table: Record<string, PyCallable | object> = {
    'collections.OrderedDict': (args) => new Map((args[0] as [PyValue, PyValue][] | undefined) ?? []),
    'torch._utils._rebuild_tensor_v2': rebuildV2,
    'torch._utils._rebuild_tensor': rebuildV2,
    'torch._utils._rebuild_parameter': (args) => args[0],
    'torch._utils._rebuild_parameter_with_state': (args) => args[0],
    'torch._tensor._rebuild_from_type_v2': (args) => {
      const [fn, , inner] = args;
      if (typeof fn !== 'function' || !Array.isArray(inner)) throw new Error('malformed _rebuild_from_type_v2');
      return (fn as PyCallable)(inner);
    },
    'torch.Size': (args) => intList(args[0], 'torch.Size'),
    'torch.device': (args) => {
      const [type, index] = args;
      if (typeof type !== 'string' || !(index === undefined || index === null || isIndex(index))) throw new Error('torch.device needs a type string and an optional index');
      return index === undefined || index === null ? type : `${type}:${index}`;
    },
    '_codecs.encode': (args) => {
      const [text, encoding = 'utf8'] = args;
      if (typeof text !== 'string' || !(typeof encoding === 'string' && CODECS.has(encoding))) throw new Error('_codecs.encode needs a string and latin1 or utf-8');
      return Buffer.from(text, CODECS.get(encoding));
    },
    'builtins.set': (args) => new Set((args[0] as PyValue[]) ?? []),
    'builtins.frozenset': (args) => new Set((args[0] as PyValue[]) ?? []),
    'builtins.bytearray': (args) => Buffer.from((args[0] as Buffer) ?? []),
  };
  for (const [cls, dtype] of Object.entries(STORAGE_DTYPES)) table[`torch.${cls}`] = new StorageType(dtype);
  return (module: string, name: string): PyCallable | object => {
    const found = table[`${module}.${name}`];
    if (found) return found;
    throw new TorchError(
      `io.load: refusing to load the global '${module}.${name}' from ${file}: only tensors, containers and plain values are allowed ` +
      '(like torch.load(weights_only=True)), and no code from the file was run. Save a state_dict instead of a whole object.',
      'UNSAFE_PICKLE',
    );
  };
}

class StorageRefBox {
  constructor(readonly ref: StorageRef) {}
}

function persistentLoader(refs: Map<string, StorageRef>) {
  return (pid: PyValue): PyValue => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new Error('unsupported persistent id (expected a storage)');
    const [, type, key, location, numel] = pid;
    if (!(type instanceof StorageType)) throw new Error('persistent id names no storage type');
    if (typeof key !== 'string' || typeof location !== 'string') throw new Error(`storage key ${shown(key)} or location ${shown(location)} is not a string`);
    if (!isIndex(numel)) throw new Error(`storage '${key}' has an invalid size ${shown(numel)}`);
    let ref = refs.get(key);
    if (!ref) {
      ref = { key, dtype: type.dtype, numel, location };
      refs.set(key, ref);
    }
    return new StorageRefBox(ref);
  };
}

/** Refuses a tensor whose size, stride or offset is not an index, overflows, or reaches past its storage. */
function checkSpec(file: string, spec: TensorSpec): void {
  const { size, stride, offset, storage } = spec;
  const where = `a tensor of size [${size}] and stride [${stride}] at offset ${offset}`;
  if (size.length !== stride.length) throw badFile(file, `${where} has ${size.length} sizes but ${stride.length} strides`);
  if (![...size, ...stride, offset].every(isIndex)) throw badFile(file, `${where}: sizes, strides and the offset must be integers in 0..2^53-1`);
  let numel = 1n;
  let extent = 1n;
  for (let i = 0; i < size.length; i++) {
    numel *= BigInt(size[i]);
    extent += BigInt(size[i] - 1) * BigInt(stride[i]);
  }
  if (numel > BigInt(Number.MAX_SAFE_INTEGER)) throw badFile(file, `${where} has ${numel} elements, more than 2^53-1`);
  if (numel > 0n && BigInt(offset) + extent > BigInt(storage.numel)) {
    throw badFile(file, `${where} reaches past its storage '${storage.key}' of ${storage.numel} elements`);
  }
}

async function materialize(file: string, result: PyValue, refs: Map<string, StorageRef>, bytesOf: (ref: StorageRef) => Buffer, opts: LoadOptions): Promise<PyValue> {
  const list = [...refs.values()];
  const buffers = list.map((ref) => {
    const bytes = bytesOf(ref);
    const expected = ref.numel * ELEMENT_SIZE[ref.dtype];
    if (bytes.length < expected) {
      throw badFile(file, `storage '${ref.key}' declares ${ref.numel} ${ref.dtype} elements (${expected} bytes) but its data holds ${bytes.length} bytes`);
    }
    return bytes.subarray(0, expected);
  });
  const handles = buffers.length ? await native.tensorsFromBytes(buffers, list.map((r) => r.dtype)) : [];
  const storages = new Map<StorageRef, TensorHandle>(list.map((r, i) => [r, handles[i]]));
  const mapped = (location: string): string | undefined => {
    const m = opts.mapLocation;
    if (m === undefined) return undefined;
    if (typeof m === 'string') return checkDevice('io.load', 'mapLocation', m);
    return Object.prototype.hasOwnProperty.call(m, location) ? checkDevice('io.load', `mapLocation['${location}']`, m[location]) : undefined;
  };
  const made: Tensor[] = [];
  const tensorOf = new Map<TensorSpec, Tensor>(); // a tensor pickled once and referenced twice stays one tensor
  const stripped = new Set<Map<PyValue, PyValue>>();
  const make = (spec: TensorSpec): Tensor => {
    checkSpec(file, spec);
    let t = Tensor._wrap(native.asStrided(storages.get(spec.storage)!, spec.size, spec.stride, spec.offset));
    made.push(t);
    const target = mapped(spec.storage.location);
    const device = target ?? (spec.storage.location.startsWith('cuda') ? spec.storage.location : 'cpu');
    if (device !== 'cpu') {
      if (!target && !cuda.isAvailable()) {
        throw new TorchError(`io.load: ${file} holds tensors saved on '${device}' but CUDA is not available; pass { mapLocation: 'cpu' }`, 'DEVICE_UNAVAILABLE');
      }
      const moved = t.to(checkDevice('io.load', 'device', device) as Device);
      t.dispose();
      t = moved;
      made.push(t);
    }
    return t;
  };
  try {
    return rewriteGraph(result, (v) => {
      if (v instanceof TensorSpec) {
        let t = tensorOf.get(v);
        if (!t) { t = make(v); tensorOf.set(v, t); }
        return t;
      }
      if (v instanceof StorageRefBox) throw badFile(file, `storage '${v.ref.key}' is returned bare, not inside a tensor; only tensors and plain data are loaded`);
      if (opts.stripModulePrefix && v instanceof Map && !stripped.has(v)) {
        stripped.add(v);
        stripPrefix(v);
      }
      return v;
    });
  } catch (err) {
    made.forEach((t) => t.dispose());
    throw err;
  } finally {
    for (const h of handles) native.release(h);
  }
}

/** Drops DataParallel's `module.` from a Map's keys when every key has it. */
function stripPrefix(map: Map<PyValue, PyValue>): void {
  const keys = [...map.keys()];
  if (!keys.length || !keys.every((k) => typeof k === 'string' && k.startsWith('module.'))) return;
  const entries = [...map];
  map.clear();
  for (const [k, v] of entries) map.set((k as string).slice(7), v);
}

function pickleError(file: string, err: unknown): TorchError {
  if (err instanceof TorchError) return err;
  return badFile(file, (err as Error).message);
}

async function loadZip(file: string, buf: Buffer, opts: LoadOptions): Promise<PyValue> {
  let entries;
  try {
    entries = readZipDirectory(buf);
  } catch (err) {
    throw badFile(file, (err as Error).message);
  }
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pkl) throw badFile(file, 'zip archive has no <folder>/data.pkl: not a torch.save file');
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const read = (name: string): Buffer => {
    const e = byName.get(name);
    if (!e) throw badFile(file, `missing zip entry '${name}'`);
    try {
      return entryData(buf, e);
    } catch (err) {
      throw badFile(file, (err as Error).message);
    }
  };
  const refs = new Map<string, StorageRef>();
  let value: PyValue;
  try {
    value = unpickle(read(pkl.name), 0, { findClass: makeFindClass(file), persistentLoad: persistentLoader(refs) }).value;
  } catch (err) {
    throw pickleError(file, err);
  }
  const records = [...refs.values()].map((r) => ({ ref: r, entry: `${prefix}data/${r.key}` }));
  const data = records.map((r) => read(r.entry));
  const all = [read(pkl.name), ...data];
  const crcs = await native.crc32(all);
  const names = [pkl.name, ...records.map((r) => r.entry)];
  crcs.forEach((crc, i) => {
    if (crc !== byName.get(names[i])!.crc32) throw badFile(file, `corrupt zip entry '${names[i]}': CRC-32 mismatch`);
  });
  const bytes = new Map(records.map((r, i) => [r.ref, data[i]]));
  return materialize(file, value, refs, (ref) => bytes.get(ref)!, opts);
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function isLegacy(buf: Buffer): boolean {
  return buf.length > 2 && buf[0] === 0x80 && buf[1] <= 5;
}

async function loadLegacy(file: string, buf: Buffer, opts: LoadOptions): Promise<PyValue> {
  const refs = new Map<string, StorageRef>();
  let pos = 0;
  let value: PyValue;
  let keys: PyValue;
  try {
    const plain = { findClass: makeFindClass(file) };
    const magic = unpickle(buf, pos, plain);
    if (typeof magic.value !== 'bigint' || magic.value !== LEGACY_MAGIC) throw new Error('not a torch.save file (wrong magic number)');
    const protocol = unpickle(buf, magic.end, plain);
    if (protocol.value !== 1001) throw new Error(`unsupported legacy protocol version ${shown(protocol.value)}`);
    const sysInfo = unpickle(buf, protocol.end, plain);
    if ((sysInfo.value as Record<string, PyValue>)?.little_endian === false) throw new Error('big-endian checkpoints are not supported');
    const main = unpickle(buf, sysInfo.end, { findClass: makeFindClass(file), persistentLoad: persistentLoader(refs) });
    value = main.value;
    const keyList = unpickle(buf, main.end, plain);
    keys = keyList.value;
    pos = keyList.end;
  } catch (err) {
    throw pickleError(file, err);
  }
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw badFile(file, 'legacy storage key list is missing or holds non-strings');
  const bytes = new Map<string, Buffer>();
  for (const key of keys as string[]) {
    const ref = refs.get(key);
    if (pos + 8 > buf.length) throw badFile(file, `truncated: storage '${key}' has no size header at offset ${pos}`);
    const count = Number(buf.readBigInt64LE(pos));
    pos += 8;
    const size = ref ? ELEMENT_SIZE[ref.dtype] : 1;
    const length = count * size;
    if (count < 0 || pos + length > buf.length) {
      throw badFile(file, `truncated: storage '${key}' declares ${count} elements (${length} bytes) at offset ${pos} but the file ends at ${buf.length}`);
    }
    bytes.set(key, buf.subarray(pos, pos + length));
    pos += length;
  }
  return materialize(file, value, refs, (ref) => {
    const b = bytes.get(ref.key);
    if (!b) throw badFile(file, `storage '${ref.key}' has no data`);
    return b;
  }, opts);
}

function checkLoadOptions(where: string, opts: LoadOptions | undefined): LoadOptions {
  const o = options(where, opts);
  const m = o.mapLocation;
  if (typeof m === 'string') checkDevice(where, 'mapLocation', m);
  else if (m !== undefined && (m === null || typeof m !== 'object' || Array.isArray(m))) throw invalid(where, 'mapLocation', "a device or { savedLocation: device }", m);
  if (o.stripModulePrefix !== undefined) bool(where, 'stripModulePrefix', o.stripModulePrefix);
  return o;
}

/**
 * Reads a checkpoint written by torch.save (zip or legacy format) or a safetensors file, told
 * apart by content. A state_dict comes back as Map<string, Tensor>; other containers as plain
 * objects, arrays and Maps. Only tensors, containers and plain values are ever constructed.
 */
export async function load<T = PyValue>(file: string, opts?: LoadOptions): Promise<T> {
  const where = 'io.load';
  if (typeof file !== 'string' || file === '') throw invalid(where, 'path', 'non-empty string', file);
  const o = checkLoadOptions(where, opts);
  const buf = await readWhole(where, file);
  if (isZip(buf)) return (await loadZip(file, buf, o)) as T;
  if (isSafetensors(buf)) return (await loadSafetensorsBuffer(file, buf, o)) as T;
  if (isLegacy(buf)) return (await loadLegacy(file, buf, o)) as T;
  if (buf.length === 0) throw badFile(file, 'the file is empty');
  throw badFile(file, `not a PyTorch checkpoint (zip or legacy) or safetensors file: it starts with bytes ${buf.subarray(0, 8).toString('hex')}`);
}

/** Reads a safetensors file into a Map of CPU tensors. */
export async function loadSafetensors(file: string): Promise<Map<string, Tensor>> {
  const where = 'io.loadSafetensors';
  if (typeof file !== 'string' || file === '') throw invalid(where, 'path', 'non-empty string', file);
  const buf = await readWhole(where, file);
  if (!isSafetensors(buf)) throw new TorchError(`${where}: ${file}: not a safetensors file`, 'BAD_FILE');
  return loadSafetensorsBuffer(file, buf, {});
}

async function loadSafetensorsBuffer(file: string, buf: Buffer, opts: LoadOptions): Promise<Map<string, Tensor>> {
  let parsed;
  try {
    parsed = parseSafetensors(buf);
  } catch (err) {
    throw badFile(file, (err as Error).message);
  }
  const refs = new Map<string, StorageRef>();
  const result = new Map<string, PyValue>();
  const bytes = new Map<StorageRef, Buffer>();
  for (const t of parsed.tensors) {
    const ref = { key: t.name, dtype: t.dtype, numel: t.shape.reduce((a, b) => a * b, 1), location: 'cpu' };
    refs.set(t.name, ref);
    bytes.set(ref, t.data);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    result.set(t.name, new TensorSpec(ref, 0, t.shape, stride));
  }
  return (await materialize(file, result, refs, (ref) => bytes.get(ref)!, opts)) as Map<string, Tensor>;
}

// ---- saving ----------------------------------------------------------------------------------

const REBUILD = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
const MAX_SAVE_DEPTH = 1000; // about where Python's recursive pickler stops too (sys.getrecursionlimit())
const ORDERED_DICT = new PyGlobal('collections', 'OrderedDict');

/**
 * Writes `obj` in torch.save's zip format, atomically. Maps become OrderedDicts (a state_dict
 * loads into PyTorch with load_state_dict), plain objects dicts, arrays lists, tensors tensors
 * (each saved contiguous, on its device's location).
 */
export async function save(obj: PyValue, file: string): Promise<void> {
  const where = 'io.save';
  if (typeof file !== 'string' || file === '') throw invalid(where, 'path', 'non-empty string', file);
  const tensors: Tensor[] = [];
  const seen = new Set<object>();
  // A tensor or container referenced twice is converted once, so the pickle memoises it and it
  // loads back as one object, as in Python (and shared structure is not written per reference).
  const done = new Map<object, PyValue>();
  const convert = (v: PyValue): PyValue => {
    if (v !== null && typeof v === 'object' && done.has(v)) return done.get(v)!;
    if (v instanceof Tensor) {
      v._h(where, 'tensor');
      const key = String(tensors.length);
      tensors.push(v);
      const shape = v.shape;
      const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const numel = shape.reduce((a, b) => a * b, 1);
      const storage = new PyPersistent(['storage', new PyGlobal('torch', STORAGE_CLASSES[v.dtype]), key, v.device, numel]);
      const rebuilt = new PyReduce(REBUILD, [storage, 0, new PyTuple(shape), new PyTuple(stride), false, new PyReduce(ORDERED_DICT, [])]);
      done.set(v, rebuilt);
      return rebuilt;
    }
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) {
      if (typeof v === 'function' || typeof v === 'symbol' || v === undefined) throw invalid(where, 'obj', 'tensors, containers and plain values', v);
      return v;
    }
    if (seen.has(v)) throw new TorchError(`${where}: obj contains a reference cycle`, 'INVALID_ARGUMENT');
    if (seen.size >= MAX_SAVE_DEPTH) { // seen holds the path from the root; the writer recurses as deep
      throw new TorchError(`${where}: obj is nested more than ${MAX_SAVE_DEPTH} containers deep, the most io.save writes`, 'INVALID_ARGUMENT');
    }
    seen.add(v);
    let out: PyValue;
    if (v instanceof Map) {
      const m = new Map([...v.entries()].map(([k, x]) => [k, convert(x)]));
      const state = pythonState.get(v);
      if (state !== undefined) pythonState.set(m, state);
      out = m;
    } else if (Array.isArray(v)) {
      out = isTuple(v) ? new PyTuple(v.map(convert)) : v.map(convert);
    } else if (v instanceof Set) {
      out = [...v].map(convert);
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      out = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, convert(x)]));
    } else {
      throw invalid(where, 'obj', 'tensors, Maps, arrays, plain objects and plain values', v);
    }
    seen.delete(v);
    done.set(v, out);
    return out;
  };
  const converted = convert(obj);
  const handles = tensors.map((t) => t._h(where, 'tensor'));
  const stem = path.basename(file).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]/g, '_') || 'archive';
  // The tensors are read (not copied) until the file is written: updates meanwhile are refused.
  await track(where, tensors, [], async () => {
    const data = tensors.length ? (await native.tensorBytes(handles)).map((b) => new Uint8Array(b)) : [];
    const records = [
      { name: `${stem}/data.pkl`, data: pickle(converted) },
      { name: `${stem}/byteorder`, data: Buffer.from('little') },
      ...data.map((d, i) => ({ name: `${stem}/data/${i}`, data: d })),
      { name: `${stem}/version`, data: Buffer.from('3\n') },
    ];
    const crcs = await native.crc32(records.map((r) => r.data));
    await writeAtomic(where, file, zipChunks(records.map((r, i) => ({ ...r, crc32: crcs[i] }))));
  });
}

/** Writes tensors (C order, little-endian) as a safetensors file, atomically. */
export async function saveSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, file: string, opts: { metadata?: Record<string, string> } = {}): Promise<void> {
  const where = 'io.saveSafetensors';
  if (typeof file !== 'string' || file === '') throw invalid(where, 'path', 'non-empty string', file);
  const entries = tensors instanceof Map ? [...tensors] : tensors && typeof tensors === 'object' ? Object.entries(tensors) : null;
  if (!entries) throw invalid(where, 'tensors', 'Map<string, Tensor> or Record<string, Tensor>', tensors);
  entries.forEach(([k, t]) => { if (!(t instanceof Tensor)) throw invalid(where, `tensors['${k}']`, 'Tensor', t); });
  const handles = entries.map(([k, t]) => t._h(where, `tensors['${k}']`));
  await track(where, entries.map(([, t]) => t), [], async () => {
    const data = entries.length ? await native.tensorBytes(handles) : [];
    const encoded = encodeSafetensors(entries.map(([name, t], i) => ({ name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(data[i]) })), opts.metadata);
    await writeAtomic(where, file, encoded);
  });
}
