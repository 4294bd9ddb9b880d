// torch.load / torch.save file formats: the zip format (1.6 to 2.x), the legacy format (0.1.10
// to 1.5), and safetensors; the format is told by the content, never the name.
import * as path from 'path';
import { TorchError } from '../errors';
import { native, NativeDtype, TensorHandle } from '../native';
import { checkDevice, cuda, Device } from '../runtime';
import { Tensor, track } from '../tensor';
import { bool, invalid, options } from '../arguments';
import { readWhole, writeAtomic } from './files';
import { isTuple, pickle, PyCallable, PyConstant, PyFloat, PyGlobal, PyPersistent, PyReduce, PyRefused, PyTuple, PyValue, pythonDicts, pythonState, rewriteGraph, unpickle } from './pickle';
import { encodeSafetensors, isSafetensors, parseSafetensors } from './safetensors';
import { entryData, isZip, readZipDirectory, zipChunks } from './zip';

const STORAGE_DTYPES: Record<string, NativeDtype> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool', UntypedStorage: 'uint8',
  // Quantized storages hold the integer values (int_repr); _rebuild_qtensor adds scale and zero point.
  QInt8Storage: 'int8', QUInt8Storage: 'uint8', QInt32Storage: 'int32',
};
const STORAGE_CLASSES: Record<string, string> = Object.fromEntries(Object.entries(STORAGE_DTYPES).filter(([k]) => k !== 'UntypedStorage' && !k.startsWith('Q')).map(([k, v]) => [v, k]));
const QUANTIZED_STORAGE_CLASSES: Record<string, string> = { qint8: 'QInt8Storage', quint8: 'QUInt8Storage', qint32: 'QInt32Storage' };

/** torch.<dtype> and torch.<qscheme> globals: names of values, loaded as PyConstant and saved back as the same global. */
const TORCH_CONSTANTS = [
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int64', 'long', 'int32', 'int', 'int16', 'short',
  'int8', 'uint8', 'bool', 'complex32', 'complex64', 'complex128', 'cfloat', 'cdouble', 'chalf', 'qint8', 'quint8', 'qint32',
  'quint4x2', 'quint2x4', 'uint16', 'uint32', 'uint64', 'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz',
  'per_tensor_affine', 'per_channel_affine', 'per_channel_affine_float_qparams', 'per_tensor_symmetric', 'per_channel_symmetric',
];
export const ELEMENT_SIZE: Record<NativeDtype, number> = {
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

/** _rebuild_qtensor's quantizer parameters. */
type Quantizer =
  | { qscheme: 'per_tensor_affine'; scale: number; zeroPoint: number }
  | { qscheme: 'per_channel_affine'; scales: TensorSpec | number[]; zeroPoints: TensorSpec | number[]; axis: number; floatLists: boolean };

/** A quantized tensor: integer values in the storage plus its quantizer. */
class QuantizedSpec extends TensorSpec {
  constructor(storage: StorageRef, offset: number, size: number[], stride: number[], readonly quantizer: Quantizer) {
    super(storage, offset, size, stride);
  }
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

const isConstant = (v: PyValue, name: string) => v instanceof PyConstant && v.module === 'torch' && v.name === name;

function quantizer(params: PyValue): Quantizer {
  if (!Array.isArray(params) || !params.length) throw new Error(`_rebuild_qtensor: quantizer parameters ${shown(params)} are not a tuple`);
  const [scheme, ...rest] = params;
  if (isConstant(scheme, 'per_tensor_affine')) {
    const [scale, zeroPoint] = rest;
    if (typeof scale !== 'number' || !Number.isSafeInteger(zeroPoint)) throw new Error(`_rebuild_qtensor: per_tensor_affine needs a float scale and an integer zero point, got ${shown(scale)} and ${shown(zeroPoint)}`);
    return { qscheme: 'per_tensor_affine', scale, zeroPoint: zeroPoint as number };
  }
  if (isConstant(scheme, 'per_channel_affine') || isConstant(scheme, 'per_channel_affine_float_qparams')) {
    const [scales, zeroPoints, axis] = rest;
    const channelValues = (v: PyValue) => v instanceof TensorSpec || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
    if (!channelValues(scales) || !channelValues(zeroPoints) || !isIndex(axis)) {
      throw new Error(`_rebuild_qtensor: per_channel_affine needs scale and zero point tensors and an axis, got ${shown(scales)}, ${shown(zeroPoints)} and ${shown(axis)}`);
    }
    // Given as tensors, the zero points' dtype tells float qparams apart; given as lists, the scheme does.
    const floatLists = isConstant(scheme, 'per_channel_affine_float_qparams');
    return { qscheme: 'per_channel_affine', scales: scales as TensorSpec | number[], zeroPoints: zeroPoints as TensorSpec | number[], axis, floatLists };
  }
  throw new Error(`_rebuild_qtensor: quantization scheme ${scheme instanceof PyConstant ? String(scheme) : shown(scheme)} is not supported (per_tensor_affine and per_channel_affine are)`);
}

const CODECS = new Map<string, BufferEncoding>([['latin1', 'latin1'], ['latin-1', 'latin1'], ['utf8', 'utf8'], ['utf-8', 'utf8']]);

/** The globals a checkpoint may name, as in torch.load(weights_only=True). */
function makeFindClass() {
  const rebuildV2: PyCallable = (args) => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRefBox)) throw new Error('_rebuild_tensor_v2 without a storage');
    if (!isIndex(offset)) throw new Error(`storage offset ${shown(offset)} is not an integer in 0..2^53-1`);
    return new TensorSpec(storage.ref, offset, intList(size, 'tensor size'), intList(stride, 'tensor stride'));
  };
  const rebuildQuantized: PyCallable = (args) => {
    const [storage, offset, size, stride, params] = args;
    const spec = rebuildV2([storage, offset, size, stride]) as TensorSpec;
    if (!['int8', 'uint8', 'int32'].includes(spec.storage.dtype)) throw new Error(`_rebuild_qtensor over a ${spec.storage.dtype} storage (a quantized tensor needs a QInt8, QUInt8 or QInt32 storage)`);
    return new QuantizedSpec(spec.storage, spec.offset, spec.size, spec.stride, quantizer(params));
  };
  const table: Record<string, PyCallable | object> = {
    'torch._utils._rebuild_qtensor': rebuildQuantized,
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
  for (const name of TORCH_CONSTANTS) table[`torch.${name}`] = new PyConstant('torch', name);
  // Anything else is refused, but only once the whole pickle is read, so the message can say where it sits.
  // Python 2's module names, which Python 3's unpickler maps too (fix_imports).
  return (module: string, name: string): PyCallable | object => table[`${module === '__builtin__' ? 'builtins' : module}.${name}`] ?? new PyRefused(module, name);
}

/** Where a refused global sits in the loaded structure, as Python indexing (`['hyper_parameters']`), or '' at the top. */
function findRefused(root: PyValue): { refused: PyRefused; path: string } | null {
  const seen = new Set<object>();
  const queue: [PyValue, string][] = [[root, '']];
  for (let i = 0; i < queue.length; i++) {
    const [v, at] = queue[i];
    if (v instanceof PyRefused) return { refused: v, path: at };
    if (v === null || typeof v !== 'object' || seen.has(v) || Buffer.isBuffer(v)) continue;
    seen.add(v);
    const state = pythonState.get(v); // BUILD state, such as a state_dict's _metadata
    if (state !== undefined) queue.push([state, at]);
    const key = (k: PyValue) => `[${typeof k === 'string' ? `'${k}'` : shown(k)}]`;
    if (v instanceof Map) for (const [k, x] of v) queue.push([k, at], [x, at + key(k)]);
    else if (Array.isArray(v) || v instanceof Set) [...v].forEach((x, j) => queue.push([x, `${at}[${j}]`]));
    else if (v instanceof QuantizedSpec && v.quantizer.qscheme === 'per_channel_affine') continue;
    else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const [k, x] of Object.entries(v)) queue.push([x, at + key(Number.isSafeInteger(Number(k)) && /^\d+$/.test(k) ? Number(k) : k)]);
    }
  }
  return null;
}

/** What a refused global is, and how to write a file that loads instead. */
function refusalAdvice(refused: PyRefused, root: PyValue, path: string): string {
  const { module, name } = refused;
  if (/^numpy(\._core|\.core)?\.multiarray$/.test(module) && name === 'scalar') {
    const dtype = refused.args?.[0] instanceof PyRefused ? refused.args[0].args?.[0] : undefined;
    return `It is a pickled numpy scalar${typeof dtype === 'string' ? ` (numpy dtype '${dtype}')` : ''}, such as a metric computed with numpy. ` +
      'Save a Python number instead: float(x) or x.item() before torch.save.';
  }
  if (module.startsWith('numpy')) return 'It is a pickled numpy object: save torch.from_numpy(a) (a tensor) or a.tolist() instead.';
  if (module.startsWith('__torch__')) return 'It is a TorchScript class: see the TorchScript advice for torch.jit.save files.';
  const top = root instanceof Map ? root.get('state_dict') : root !== null && typeof root === 'object' && !Array.isArray(root) ? (root as Record<string, PyValue>).state_dict : undefined;
  if (top !== undefined && !path.startsWith("['state_dict']") && findRefused(top) === null) {
    const lightning = root instanceof Map ? root.has('pytorch-lightning_version') : Object.prototype.hasOwnProperty.call(root, 'pytorch-lightning_version');
    return `This is a training checkpoint${lightning ? ' written by PyTorch Lightning' : ''} whose 'state_dict' holds only loadable values: ` +
      "in Python, torch.save(checkpoint['state_dict'], 'weights.pth') writes a file that loads (torch.load(p, weights_only=False) reads the whole checkpoint there).";
  }
  return 'Only tensors, containers and plain values are allowed; save a state_dict (model.state_dict()) rather than a whole object.';
}

function refusal(file: string, refused: PyRefused, where = '', advice = ''): TorchError {
  return new TorchError(
    `io.load: refusing to load the global '${refused.global}' from ${file}${where ? ` (at checkpoint${where})` : ''}: it is not one that ` +
    `torch.load(weights_only=True) allows, and no code from the file was run. ${advice}`.trimEnd(),
    'UNSAFE_PICKLE',
  );
}

/** Refuses a loaded pickle that holds a refused global anywhere, saying where and what it is. */
function refuseLeftovers(file: string, value: PyValue): void {
  const found = findRefused(value);
  if (found) throw refusal(file, found.refused, found.path, refusalAdvice(found.refused, value, found.path));
}

function unpickleOptions(file: string, refs?: Map<string, StorageRef>) {
  return {
    findClass: makeFindClass(),
    refuse: (r: PyRefused) => refusal(file, r, '', 'Only tensors, containers and plain values are allowed.'),
    persistentLoad: refs ? persistentLoader(refs) : undefined,
  };
}

class StorageRefBox {
  constructor(readonly ref: StorageRef) {}
}

/**
 * Protocol 0 writes a persistent id as str() of torch's tuple (PERSID), which PyTorch itself cannot
 * read back: "('storage', <class 'torch.FloatStorage'>, '94', 'cpu', 6, None)". It is read here.
 */
function textStorageId(pid: string): PyValue[] {
  const m = /^\('storage', <class 'torch\.(\w+)'>, '([^']*)', '([^']*)', (\d+)(?:, None)?\)$/.exec(pid);
  const type = m && STORAGE_DTYPES[m[1]];
  if (!m || !type) throw new Error(`unsupported persistent id ${shown(pid)} (expected a storage)`);
  return ['storage', new StorageType(type), m[2], m[3], Number(m[4])];
}

function persistentLoader(refs: Map<string, StorageRef>) {
  return (id: PyValue): PyValue => {
    const pid = typeof id === 'string' ? textStorageId(id) : id;
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
  const channelParam = (v: TensorSpec | number[], dtype: NativeDtype): TensorHandle => {
    if (v instanceof TensorSpec) return tensorFor(v)._h('io.load');
    const t = Tensor._wrap(native.fromData(new Float64Array(v), [v.length], dtype, 'cpu'));
    made.push(t);
    return t._h('io.load');
  };
  const quantized = (spec: QuantizedSpec): TensorHandle => {
    const storage = storages.get(spec.storage)!;
    const where = { size: spec.size, stride: spec.stride, offset: spec.offset };
    const q = spec.quantizer;
    if (q.qscheme === 'per_channel_affine') {
      // libtorch trusts these when it dequantizes: one scale and zero point per index along the axis.
      const channels = spec.size[q.axis];
      const length = (v: TensorSpec | number[]) => (v instanceof TensorSpec ? (v.size.length === 1 ? v.size[0] : -1) : v.length);
      if (channels === undefined || length(q.scales) !== channels || length(q.zeroPoints) !== channels) {
        throw badFile(file, `a per-channel quantized tensor of size [${spec.size}] along axis ${q.axis} needs ${channels ?? 'an axis it has, and'} ` +
          `scales and zero points, not ${length(q.scales)} and ${length(q.zeroPoints)}`);
      }
    }
    try {
      if (q.qscheme === 'per_tensor_affine') return native.makeQuantized(storage, { ...where, ...q });
      // Lists of scales and zero points become tensors as in PyTorch's _rebuild_qtensor.
      const channelParams = [channelParam(q.scales, q.floatLists ? 'float32' : 'float64'), channelParam(q.zeroPoints, q.floatLists ? 'float32' : 'int64')];
      return native.makeQuantized(storage, { ...where, qscheme: 'per_channel_affine', axis: q.axis, channelParams });
    } catch (err) {
      throw badFile(file, `a quantized tensor of size [${spec.size}] (${q.qscheme}) cannot be rebuilt: ${(err as Error).message}`);
    }
  };
  const make = (spec: TensorSpec): Tensor => {
    checkSpec(file, spec);
    let t = Tensor._wrap(spec instanceof QuantizedSpec ? quantized(spec) : native.asStrided(storages.get(spec.storage)!, spec.size, spec.stride, spec.offset));
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
  const tensorFor = (v: TensorSpec): Tensor => {
    let t = tensorOf.get(v);
    if (!t) { t = make(v); tensorOf.set(v, t); }
    return t;
  };
  try {
    return rewriteGraph(result, (v) => {
      if (v instanceof TensorSpec) return tensorFor(v);
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
  if (entries.some((e) => /^[^/]+\/(constants\.pkl|code\/)/.test(e.name))) throw torchScript(file);
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
    value = unpickle(read(pkl.name), 0, unpickleOptions(file, refs)).value;
    refuseLeftovers(file, value);
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

/**
 * Whether the file starts with the legacy format's magic number, as a pickle of any protocol:
 * protocol 2 writes `\x80\x02\x8a\x0a...`, protocols 0 and 1 the text `L1195...L\n.`.
 */
function isLegacy(buf: Buffer): boolean {
  try {
    // The magic number's pickle is at most 28 bytes in every protocol.
    return unpickle(buf.subarray(0, 64), 0, { findClass: () => { throw new Error('no globals here'); } }).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

/** The tar format of torch.save before PyTorch 0.1.10 (2017): a POSIX tar of sys_info, pickle, storages and tensors. */
function isTar(buf: Buffer): boolean {
  return buf.length >= 512 && buf.toString('latin1', 257, 262) === 'ustar';
}

function torchScript(file: string): TorchError {
  return new TorchError(
    `io.load: ${file} is a TorchScript archive (written by torch.jit.save or torch.jit.trace(...).save), not a torch.save ` +
    'checkpoint: it holds a compiled program, and torchbridge reads weights only. In Python, write its weights as a state_dict: ' +
    "torch.save(torch.jit.load(path).state_dict(), 'weights.pth'), then load weights.pth.",
    'BAD_FILE',
  );
}

async function loadLegacy(file: string, buf: Buffer, opts: LoadOptions): Promise<PyValue> {
  const refs = new Map<string, StorageRef>();
  let pos = 0;
  let value: PyValue;
  let keys: PyValue;
  try {
    const plain = unpickleOptions(file);
    const magic = unpickle(buf, pos, plain);
    if (typeof magic.value !== 'bigint' || magic.value !== LEGACY_MAGIC) throw new Error('not a torch.save file (wrong magic number)');
    const protocol = unpickle(buf, magic.end, plain);
    if (protocol.value !== 1001) throw new Error(`unsupported legacy protocol version ${shown(protocol.value)}`);
    const sysInfo = unpickle(buf, protocol.end, plain);
    if ((sysInfo.value as Record<string, PyValue>)?.little_endian === false) throw new Error('big-endian checkpoints are not supported');
    const main = unpickle(buf, sysInfo.end, unpickleOptions(file, refs));
    value = main.value;
    refuseLeftovers(file, value);
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

/** The members of a POSIX tar archive, by name. */
function tarMembers(file: string, buf: Buffer): Map<string, Buffer> {
  const members = new Map<string, Buffer>();
  for (let pos = 0; pos + 512 <= buf.length;) {
    const header = buf.subarray(pos, pos + 512);
    if (header.every((b) => b === 0)) break;
    const field = (at: number, length: number) => header.toString('latin1', at, at + length).replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || pos + 512 + size > buf.length) throw badFile(file, `truncated tar member '${field(0, 100)}' at offset ${pos}`);
    const type = field(156, 1);
    if (type === '' || type === '0') members.set(field(0, 100), buf.subarray(pos + 512, pos + 512 + size));
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return members;
}

/**
 * torch.save's format before PyTorch 0.1.10: a tar of `storages` (each pickled as key, location
 * and type, then a count and the bytes, then views into them), `tensors` (pickled key and storage
 * id, then ndim, sizes, strides and offset as binary integers) and `pickle`, whose persistent ids
 * name the tensors.
 */
async function loadTar(file: string, buf: Buffer, opts: LoadOptions): Promise<PyValue> {
  const members = tarMembers(file, buf);
  const member = (name: string): Buffer => {
    const m = members.get(name);
    if (!m) throw badFile(file, `a tar archive without a '${name}' member: not a torch.save file of PyTorch before 0.1.10`);
    return m;
  };
  const storagesData = member('storages');
  const tensorsData = member('tensors');
  const pickleData = member('pickle');
  const refs = new Map<string, StorageRef>();
  const bytes = new Map<string, Buffer>();
  const views = new Map<string, { ref: StorageRef; offset: number }>();
  const specs = new Map<string, TensorSpec>();
  let value: PyValue;
  try {
    const plain = unpickleOptions(file);
    const records = { ...plain, globalsAsData: true }; // (key, location, torch.FloatStorage)
    const counted = (data: Buffer, at: number, what: string) => {
      const r = unpickle(data, at, plain);
      if (!isIndex(r.value)) throw new Error(`the ${what} count ${shown(r.value)} is not an integer`);
      return { count: r.value, end: r.end };
    };
    let { count, end: pos } = counted(storagesData, 0, 'storage');
    for (let i = 0; i < count; i++) {
      const record = unpickle(storagesData, pos, records);
      const [key, location, type] = Array.isArray(record.value) ? record.value : [];
      if (!(type instanceof StorageType) || typeof location !== 'string' || !isIndex(key)) throw new Error(`storage record ${shown(record.value)} is not (key, location, storage type)`);
      pos = record.end;
      if (pos + 8 > storagesData.length) throw new Error(`storage ${key} has no size`);
      const numel = Number(storagesData.readBigInt64LE(pos));
      const length = numel * ELEMENT_SIZE[type.dtype];
      if (numel < 0 || pos + 8 + length > storagesData.length) throw new Error(`storage ${key} declares ${numel} elements but the member ends at ${storagesData.length}`);
      const ref = { key: String(key), dtype: type.dtype, numel, location };
      refs.set(ref.key, ref);
      views.set(ref.key, { ref, offset: 0 });
      bytes.set(ref.key, storagesData.subarray(pos + 8, pos + 8 + length));
      pos += 8 + length;
    }
    const viewList = unpickle(storagesData, pos, plain).value;
    for (const view of Array.isArray(viewList) ? viewList : []) {
      const [target, root, offset] = Array.isArray(view) ? view : [];
      const base = views.get(String(root));
      if (!base || !isIndex(offset) || !isIndex(target)) throw new Error(`storage view ${shown(view)} names no storage`);
      views.set(String(target), { ref: base.ref, offset: base.offset + offset });
    }
    ({ count, end: pos } = counted(tensorsData, 0, 'tensor'));
    for (let i = 0; i < count; i++) {
      const record = unpickle(tensorsData, pos, records);
      const [key, storageId] = Array.isArray(record.value) ? record.value : [];
      const storage = views.get(String(storageId));
      if (!isIndex(key) || !storage) throw new Error(`tensor record ${shown(record.value)} names no storage`);
      pos = record.end;
      if (pos + 8 > tensorsData.length) throw new Error(`tensor ${key} is truncated`);
      const ndim = tensorsData.readInt32LE(pos);
      if (ndim < 0 || pos + 16 + 16 * ndim > tensorsData.length) throw new Error(`tensor ${key} has ${ndim} dimensions but the member ends at ${tensorsData.length}`);
      const ints = (at: number, n: number) => Array.from({ length: n }, (_, j) => Number(tensorsData.readBigInt64LE(at + 8 * j)));
      const size = ints(pos + 8, ndim);
      const stride = ints(pos + 8 + 8 * ndim, ndim);
      const [offset] = ints(pos + 8 + 16 * ndim, 1);
      specs.set(String(key), new TensorSpec(storage.ref, storage.offset + offset, size, stride));
      pos += 16 + 16 * ndim;
    }
    value = unpickle(pickleData, 0, {
      ...plain,
      persistentLoad: (pid: PyValue) => {
        if (Array.isArray(pid)) return pid[0]; // a module's class and source: refused below
        const spec = specs.get(String(pid));
        if (!spec) throw new Error(`persistent id ${shown(pid)} names no tensor`);
        return spec;
      },
    }).value;
    refuseLeftovers(file, value);
  } catch (err) {
    throw pickleError(file, err);
  }
  return materialize(file, value, refs, (ref) => bytes.get(ref.key)!, opts);
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
  if (isTar(buf)) return (await loadTar(file, buf, o)) as T;
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
const REBUILD_QUANTIZED = new PyGlobal('torch._utils', '_rebuild_qtensor');
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
  const channelTensors: Tensor[] = []; // per-channel scales and zero points, disposed once written
  const convert = (v: PyValue): PyValue => {
    if (v !== null && typeof v === 'object' && done.has(v)) return done.get(v)!;
    if (v instanceof Tensor) {
      const q = native.quantizedParams(v._h(where, 'tensor'));
      const key = String(tensors.length);
      tensors.push(v);
      const shape = v.shape;
      const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      const numel = shape.reduce((a, b) => a * b, 1);
      const storageClass = q ? QUANTIZED_STORAGE_CLASSES[q.dtype] : STORAGE_CLASSES[v.dtype];
      const storage = new PyPersistent(['storage', new PyGlobal('torch', storageClass), key, v.device, numel]);
      let rebuilt: PyReduce;
      if (q) {
        // As Tensor.__reduce_ex__ writes it; float-qparams tensors are saved as per_channel_affine too.
        let params: PyTuple;
        if (q.qscheme === 'per_tensor_affine') {
          params = new PyTuple([new PyConstant('torch', 'per_tensor_affine'), new PyFloat(q.scale!), q.zeroPoint!]);
        } else {
          const scales = Tensor._wrap(q.scales!);
          const zeroPoints = Tensor._wrap(q.zeroPoints!);
          channelTensors.push(scales, zeroPoints);
          params = new PyTuple([new PyConstant('torch', 'per_channel_affine'), convert(scales), convert(zeroPoints), q.axis!]);
        }
        rebuilt = new PyReduce(REBUILD_QUANTIZED, [storage, 0, new PyTuple(shape), new PyTuple(stride), params, false, new PyReduce(ORDERED_DICT, [])]);
      } else {
        rebuilt = new PyReduce(REBUILD, [storage, 0, new PyTuple(shape), new PyTuple(stride), false, new PyReduce(ORDERED_DICT, [])]);
      }
      done.set(v, rebuilt);
      return rebuilt;
    }
    if (v instanceof PyConstant) {
      if (v.module !== 'torch' || !TORCH_CONSTANTS.includes(v.name)) throw invalid(where, 'obj', 'PyConstants that name a torch dtype or qscheme', String(v));
      return v;
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
      if (pythonDicts.has(v)) pythonDicts.add(m);
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
  let converted: PyValue;
  try {
    converted = convert(obj);
  } catch (err) {
    channelTensors.forEach((t) => t.dispose());
    throw err;
  }
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
  }).finally(() => channelTensors.forEach((t) => t.dispose()));
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
