// A restricted pickle machine, like torch.load(weights_only=True): only whitelisted globals are
// ever constructed, nothing is executed, and every length is checked against the input.
import { TorchError } from '../errors';

/**
 * A Python value as torchbridge represents it. Dicts whose keys are all strings or integers, with
 * no two alike as strings and none named `__proto__`, and whose order a JS object keeps (integer
 * keys first, ascending), become plain objects; every other dict (marked in `pythonDicts`) and
 * every OrderedDict a Map. Lists and tuples become arrays, bytes Buffers, None null. Shared and
 * self-containing structure stays shared, as in Python.
 */
export type PyValue = null | boolean | number | bigint | string | Buffer | object;

/** A whitelisted global: called by REDUCE (and NEWOBJ) with the pickled arguments. */
export type PyCallable = (args: PyValue[]) => PyValue;

/**
 * A global that is a plain value rather than code, such as `torch.float16` or
 * `torch.per_tensor_affine` (Python pickles them by name): findClass may return one, and it loads
 * as data. The writer emits it as the same global.
 */
export class PyConstant {
  constructor(readonly module: string, readonly name: string) {}
  toString(): string { return `${this.module}.${this.name}`; }
}

/**
 * A global that is not allowed, or what calling or filling one made: never constructed, it only
 * stands in its place so that the loader can say where in the file it sits and what it is.
 * Passing one to a whitelisted callable refuses the file at once.
 */
export class PyRefused {
  constructor(readonly module: string, readonly name: string, readonly args: PyValue[] | null = null) {}
  get global(): string { return `${this.module}.${this.name}`; }
}

export interface UnpickleOptions {
  /** Resolves `module.name` or refuses it (throw). */
  findClass(module: string, name: string): PyCallable | object;
  /** The error for a refused global (a PyRefused from findClass) passed to an allowed callable. */
  refuse?(refused: PyRefused): Error;
  /** Whether what findClass returns may be data (the tar format's records name storage types). */
  globalsAsData?: boolean;
  /** Resolves a persistent id (storages). */
  persistentLoad?(pid: PyValue): PyValue;
}

const MARK = Symbol('mark');
/** Maps that were plain Python dicts (not OrderedDicts): io.save writes them back as dicts. */
export const pythonDicts = new WeakSet<Map<PyValue, PyValue>>();
/** Python metadata (e.g. state_dict's `_metadata`) set by BUILD on a dict. */
export const pythonState = new WeakMap<object, PyValue>();

class Tuple extends Array<PyValue> {}

export function isTuple(v: unknown): boolean {
  return v instanceof Tuple;
}

function tuple(items: PyValue[]): PyValue[] {
  const t = new Tuple();
  for (const item of items) t.push(item); // not push(...items): a spread of 200k arguments overflows the stack
  return t;
}

/** A dict while unpickling: its keys are only known once it is filled, so its JS form is chosen at the end. */
class Dict extends Map<PyValue, PyValue> {}

function dictToJs(dict: Dict): object {
  const keys = [...dict.keys()];
  let plain = keys.every((k) => (typeof k === 'string' ? k !== '__proto__' : typeof k === 'number' && Number.isSafeInteger(k)))
    && new Set(keys.map(String)).size === keys.length; // 1 and '1' would merge in an object
  let out: object = {};
  if (plain) {
    for (const [k, v] of dict) (out as Record<string, PyValue>)[String(k)] = v;
    plain = Object.keys(out).every((k, i) => k === String(keys[i])); // { b: 1, 7: 2 } would reorder
  }
  if (!plain) {
    out = new Map(dict);
    pythonDicts.add(out as Map<PyValue, PyValue>);
  }
  const state = pythonState.get(dict);
  if (state !== undefined) pythonState.set(out, state);
  return out;
}

function isContainer(v: PyValue): v is object {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v) || v instanceof Map || v instanceof Set) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Replaces every value reachable from `root` (container items, Map keys and values, Set items,
 * BUILD state) by `swap(value)`, in place, visiting each container once: shared structure costs
 * its size, not its expansion, cycles end, and nothing recurses, so any depth works. What `swap`
 * returns is visited in turn; `swap` must return the same replacement for the same object.
 */
export function rewriteGraph(root: PyValue, swap: (v: PyValue) => PyValue): PyValue {
  const seen = new Set<object>();
  const pending: object[] = [];
  const visit = (v: PyValue): PyValue => {
    const r = swap(v);
    if (isContainer(r) && !seen.has(r)) { seen.add(r); pending.push(r); }
    return r;
  };
  const out = visit(root);
  for (let c = pending.pop(); c !== undefined; c = pending.pop()) {
    const state = pythonState.get(c);
    if (state !== undefined) pythonState.set(c, visit(state));
    if (Array.isArray(c)) {
      for (let i = 0; i < c.length; i++) c[i] = visit(c[i]);
    } else if (c instanceof Map || c instanceof Set) {
      const entries = c instanceof Map ? [...c] : [...c].map((k) => [k, k]);
      let keysChanged = false;
      const swapped = entries.map(([k, v]) => {
        const nk = visit(k);
        keysChanged ||= nk !== k;
        return [nk, c instanceof Map ? visit(v) : nk] as const;
      });
      if (keysChanged) c.clear();
      for (const [k, v] of swapped) {
        if (c instanceof Map) c.set(k, v);
        else if (keysChanged) c.add(k);
      }
    } else {
      const obj = c as Record<string, PyValue>;
      for (const k of Object.keys(obj)) obj[k] = visit(obj[k]);
    }
  }
  return out;
}

function setItem(target: PyValue, key: PyValue, value: PyValue): void {
  if (target instanceof PyRefused) return; // a refused dict subclass: its items are never used
  if (!(target instanceof Map)) throw new Error('SETITEM on a non-dict');
  target.set(key, value);
}

function decodeLong(bytes: Buffer): number | bigint {
  if (bytes.length === 0) return 0;
  // Through hex: shifting a BigInt byte by byte is quadratic (a 200 kB LONG4 took 36 s).
  let v = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** An integer written in decimal (INT, LONG, protocols 0 and 1), exact at any size. */
function textInt(s: string, op: string): number | bigint {
  const digits = s.trim().replace(/L$/, '');
  if (!/^[-+]?\d+$/.test(digits)) throw new Error(`${op} argument ${JSON.stringify(s.slice(0, 40))} is not a decimal integer`);
  const v = BigInt(digits);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A float as repr() writes it (FLOAT): Number() does not know Python's 'inf' and 'nan'. */
function textFloat(s: string): number {
  const t = s.trim();
  const special: Record<string, number> = { inf: Infinity, '+inf': Infinity, '-inf': -Infinity, nan: NaN, '-nan': NaN, '+nan': NaN };
  const v = t.toLowerCase() in special ? special[t.toLowerCase()] : t === '' ? NaN : Number(t);
  if (Number.isNaN(v) && !/nan$/i.test(t)) throw new Error(`FLOAT argument ${JSON.stringify(t.slice(0, 40))} is not a number`);
  return v;
}

/** UNICODE's raw-unicode-escape: latin-1 bytes with \uXXXX and \UXXXXXXXX escapes. */
function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4, u8) => String.fromCodePoint(Number.parseInt(u4 ?? u8, 16)));
}

/** STRING's argument: a Python 2 str literal in quotes, with backslash escapes, decoded as UTF-8 like torch.load. */
function quotedString(s: string): string {
  const m = /^(['"])(.*)\1$/s.exec(s);
  if (!m) throw new Error(`STRING argument ${JSON.stringify(s.slice(0, 40))} is not a quoted string`);
  const escapes: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11 };
  const bytes: number[] = [];
  const body = m[2];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') { bytes.push(body.charCodeAt(i) & 0xff); continue; }
    const e = body[++i];
    if (e === 'x') { bytes.push(Number.parseInt(body.slice(i + 1, i + 3), 16)); i += 2; } else if (e >= '0' && e <= '7') {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      bytes.push(Number.parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else if (e in escapes) bytes.push(escapes[e]);
    else bytes.push(92, body.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Runs one pickle from `buf` at `offset`. Returns the value and the offset after STOP.
 * Errors are plain Errors describing the problem; callers add the file name.
 */
export function unpickle(buf: Buffer, offset: number, opts: UnpickleOptions): { value: PyValue; end: number } {
  let pos = offset;
  const stack: (PyValue | typeof MARK)[] = [];
  const memo = new Map<number, PyValue>();
  const need = (n: number): void => {
    if (n < 0 || pos + n > buf.length) throw new Error(`truncated pickle: needs ${n} more bytes at offset ${pos} but the data ends at ${buf.length}`);
  };
  const u8 = () => { need(1); return buf[pos++]; };
  const u16 = () => { need(2); const v = buf.readUInt16LE(pos); pos += 2; return v; };
  const u32 = () => { need(4); const v = buf.readUInt32LE(pos); pos += 4; return v; };
  const i32 = () => { need(4); const v = buf.readInt32LE(pos); pos += 4; return v; };
  const u64 = () => {
    need(8);
    const v = buf.readBigUInt64LE(pos);
    pos += 8;
    if (v > BigInt(buf.length)) throw new Error(`length ${v} at offset ${pos - 8} exceeds the data`);
    return Number(v);
  };
  const bytes = (n: number) => { need(n); const b = buf.subarray(pos, pos + n); pos += n; return b; };
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw new Error(`truncated pickle: unterminated line at offset ${pos}`);
    const s = buf.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new Error(`malformed pickle: stack underflow at offset ${pos - 1}`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new Error(`malformed pickle: empty stack at offset ${pos - 1}`);
    return v;
  };
  const popMark = (): PyValue[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) throw new Error(`malformed pickle: no MARK at offset ${pos - 1}`);
    const items = stack.splice(k) as PyValue[];
    items.shift();
    return items;
  };
  const call = (fn: PyValue, args: PyValue, op: string): PyValue => {
    if (!Array.isArray(args)) throw new Error(`${op} arguments are not a tuple`);
    if (fn instanceof PyRefused) return new PyRefused(fn.module, fn.name, args);
    if (typeof fn !== 'function') throw new Error(`${op} on a value that is not a whitelisted callable`);
    const refused = args.find((a) => a instanceof PyRefused) as PyRefused | undefined;
    if (refused) throw opts.refuse ? opts.refuse(refused) : new Error(`the pickle passes the refused global '${refused.global}' to ${op}`);
    return (fn as PyCallable)(args);
  };
  // What findClass returns is code (or a type): it may be called, never returned as data.
  const globalNames = new Map<unknown, string>();
  const findClass = (module: string, name: string): PyValue => {
    const found = opts.findClass(module, name);
    globalNames.set(found, `${module}.${name}`);
    return found;
  };
  const finish = (value: PyValue): PyValue => rewriteGraph(value, (v) => {
    const global = globalNames.get(v);
    if (global !== undefined && !opts.globalsAsData && !(v instanceof PyConstant) && !(v instanceof PyRefused)) throw new Error(`the pickle returns the global '${global}' itself, not a value it builds; only data may be loaded`);
    if (typeof v === 'function') throw new Error('the pickle returns a callable; only data may be loaded');
    return v instanceof Dict ? dictFor(v) : v;
  });
  const converted = new Map<Dict, object>();
  const dictFor = (d: Dict): object => {
    let out = converted.get(d);
    if (!out) { out = dictToJs(d); converted.set(d, out); }
    return out;
  };
  const memoGet = (k: number) => {
    if (!memo.has(k)) throw new Error(`malformed pickle: memo key ${k} is not defined`);
    return memo.get(k) as PyValue;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x2e: return { value: finish(pop()), end: pos }; // STOP
      case 0x28: stack.push(MARK); break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(bytes(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); if (n < 0) throw new Error('negative LONG4 length'); stack.push(decodeLong(bytes(n))); break; }
      case 0x49: { // INT (text); '00'/'01' are False/True in protocol 0
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : textInt(s, 'INT'));
        break;
      }
      case 0x4c: stack.push(textInt(line(), 'LONG')); break;
      case 0x46: stack.push(textFloat(line())); break; // FLOAT
      case 0x47: { need(8); stack.push(buf.readDoubleBE(pos)); pos += 8; break; } // BINFLOAT
      case 0x58: stack.push(bytes(u32()).toString('utf8')); break; // BINUNICODE
      case 0x8c: stack.push(bytes(u8()).toString('utf8')); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(bytes(u64()).toString('utf8')); break; // BINUNICODE8
      case 0x56: stack.push(rawUnicodeEscape(line())); break; // UNICODE
      // Python 2 str (BINSTRING, SHORT_BINSTRING, STRING): decoded as UTF-8, torch.load's default encoding.
      case 0x54: { const n = i32(); if (n < 0) throw new Error('negative BINSTRING length'); stack.push(bytes(n).toString('utf8')); break; }
      case 0x55: stack.push(bytes(u8()).toString('utf8')); break; // SHORT_BINSTRING
      case 0x53: stack.push(quotedString(line())); break; // STRING
      case 0x42: stack.push(Buffer.from(bytes(u32()))); break; // BINBYTES
      case 0x43: stack.push(Buffer.from(bytes(u8()))); break; // SHORT_BINBYTES
      case 0x8e: case 0x96: stack.push(Buffer.from(bytes(u64()))); break; // BINBYTES8, BYTEARRAY8
      case 0x29: stack.push(tuple([])); break;
      case 0x74: stack.push(tuple(popMark())); break;
      case 0x85: stack.push(tuple([pop()])); break;
      case 0x86: { const b = pop(); const a = pop(); stack.push(tuple([a, b])); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(tuple([a, b, c])); break; }
      case 0x5d: stack.push([]); break;
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); const l = top(); if (l instanceof PyRefused) break; if (!Array.isArray(l)) throw new Error('APPEND on a non-list'); l.push(v); break; }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (l instanceof PyRefused) break;
        if (!Array.isArray(l)) throw new Error('APPENDS on a non-list');
        for (const item of items) l.push(item);
        break;
      }
      case 0x7d: stack.push(new Dict()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        const d = new Dict();
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); setItem(top(), k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) throw new Error('ADDITEMS on a non-set'); items.forEach((i) => s.add(i)); break; }
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x67: stack.push(memoGet(Number(textInt(line(), 'GET')))); break;
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      case 0x70: memo.set(Number(textInt(line(), 'PUT')), top()); break;
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { const module = line(); const name = line(); stack.push(findClass(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new Error('STACK_GLOBAL with non-string names');
        stack.push(findClass(module, name));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args, 'REDUCE')); break; }
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args, 'NEWOBJ')); break; }
      case 0x62: { // BUILD: only dict state on containers (OrderedDict._metadata); never calls __setstate__
        const state = pop();
        const obj = top();
        if (obj && typeof obj === 'object' && state !== null) pythonState.set(obj, state);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw new Error('persistent id in a pickle that allows none');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x50: { // PERSID
        const pid = line();
        if (!opts.persistentLoad) throw new Error('persistent id in a pickle that allows none');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x69: case 0x6f: case 0x92: case 0x82: case 0x83: case 0x84:
        throw new Error(`pickle opcode 0x${op.toString(16)} (INST/OBJ/NEWOBJ_EX/EXT) would construct arbitrary objects; refused`);
      default:
        throw new Error(`unknown or unsupported pickle opcode 0x${op.toString(16)} at offset ${pos - 1}`);
    }
  }
}

// ---- writing (protocol 2, the subset torch.save emits) ----------------------------------------

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
}

/** A REDUCE of a global with arguments, optionally followed by BUILD(state). */
export class PyReduce {
  constructor(readonly fn: PyGlobal, readonly args: PyValue[], readonly state?: PyValue) {}
}

/** A number written as a Python float even when it is integral (a quantizer's scale). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A persistent id (BINPERSID) — torch's storage references. */
export class PyPersistent {
  constructor(readonly id: PyValue[]) {}
}

/** Marks a JS array to be written as a Python tuple. */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export function pickle(value: PyValue): Buffer {
  const out: Buffer[] = [];
  const push = (...b: number[]) => out.push(Buffer.from(b));
  const memo = new Map<object, number>();
  const globals = new Map<string, number>();
  const put = (obj: object) => {
    const id = memo.size + globals.size;
    memo.set(obj, id);
    if (id < 256) push(0x71, id);
    else { const b = Buffer.alloc(5); b[0] = 0x72; b.writeUInt32LE(id, 1); out.push(b); }
  };
  const get = (id: number) => {
    if (id < 256) push(0x68, id);
    else { const b = Buffer.alloc(5); b[0] = 0x6a; b.writeUInt32LE(id, 1); out.push(b); }
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(b.length, 1);
    out.push(h, b);
  };
  const int = (v: number | bigint) => {
    if (typeof v === 'number' && v >= 0 && v < 256) push(0x4b, v);
    else if (typeof v === 'number' && v >= 0 && v < 65536) { const b = Buffer.alloc(3); b[0] = 0x4d; b.writeUInt16LE(v, 1); out.push(b); }
    else if (typeof v === 'number' && v >= -(2 ** 31) && v < 2 ** 31) { const b = Buffer.alloc(5); b[0] = 0x4a; b.writeInt32LE(v, 1); out.push(b); }
    else {
      let n = BigInt(v);
      const bytes: number[] = [];
      while (true) {
        bytes.push(Number(n & 0xffn));
        n >>= 8n;
        if ((n === 0n && !(bytes[bytes.length - 1] & 0x80)) || (n === -1n && bytes[bytes.length - 1] & 0x80)) break;
      }
      push(0x8a, bytes.length, ...bytes);
    }
  };
  const global = (g: PyGlobal) => {
    const key = `${g.module}\n${g.name}`;
    const seen = globals.get(key);
    if (seen !== undefined) { get(seen); return; }
    out.push(Buffer.from([0x63]), Buffer.from(`${g.module}\n${g.name}\n`, 'latin1'));
    const id = memo.size + globals.size;
    globals.set(key, id);
    if (id < 256) push(0x71, id);
    else { const b = Buffer.alloc(5); b[0] = 0x72; b.writeUInt32LE(id, 1); out.push(b); }
  };
  const tupleOf = (items: PyValue[]) => {
    if (items.length === 0) { push(0x29); return; }
    if (items.length <= 3) { items.forEach(save); push([0x85, 0x86, 0x87][items.length - 1]); return; }
    push(0x28);
    items.forEach(save);
    push(0x74);
  };
  const setItems = (entries: [PyValue, PyValue][]) => {
    for (let i = 0; i < entries.length; i += 1000) {
      const batch = entries.slice(i, i + 1000);
      push(0x28);
      for (const [k, v] of batch) { save(k); save(v); }
      push(0x75);
    }
  };
  function save(v: PyValue): void {
    if (v === null || v === undefined) push(0x4e);
    else if (v === true) push(0x88);
    else if (v === false) push(0x89);
    else if (typeof v === 'bigint') int(v);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && Number.isSafeInteger(v) && !Object.is(v, -0)) int(v);
      else { const b = Buffer.alloc(9); b[0] = 0x47; b.writeDoubleBE(v, 1); out.push(b); }
    } else if (typeof v === 'string') str(v);
    else if (memo.has(v)) get(memo.get(v)!);
    else if (v instanceof PyGlobal) global(v);
    else if (v instanceof PyConstant) global(new PyGlobal(v.module, v.name));
    else if (v instanceof PyFloat) { const b = Buffer.alloc(9); b[0] = 0x47; b.writeDoubleBE(v.value, 1); out.push(b); }
    else if (v instanceof PyTuple) { tupleOf(v.items); put(v); } // memoised as Python does: shared tuples are written once
    else if (v instanceof PyPersistent) { tupleOf(v.id); push(0x51); }
    else if (v instanceof PyReduce) {
      global(v.fn);
      tupleOf(v.args);
      push(0x52);
      put(v);
      if (v.state !== undefined) { save(v.state); push(0x62); }
    } else if (Buffer.isBuffer(v)) {
      // bytes as protocol 2 writes them: _codecs.encode(latin1 str, 'latin1')
      global(new PyGlobal('_codecs', 'encode'));
      tupleOf([v.toString('latin1'), 'latin1']);
      push(0x52);
    } else if (Array.isArray(v)) {
      push(0x5d);
      put(v);
      if (v.length) { push(0x28); v.forEach(save); push(0x65); }
    } else if (v instanceof Map && pythonDicts.has(v)) {
      push(0x7d);
      put(v);
      setItems([...v.entries()]);
    } else if (v instanceof Map) {
      // A Map is an OrderedDict, like a state_dict.
      global(new PyGlobal('collections', 'OrderedDict'));
      push(0x29, 0x52);
      put(v);
      setItems([...v.entries()]);
      const state = pythonState.get(v);
      if (state !== undefined) { save(state); push(0x62); }
    } else if (typeof v === 'object') {
      push(0x7d);
      put(v);
      // JS object keys are strings; canonical integer strings were Python ints (optimizer state).
      setItems(Object.entries(v).map(([k, x]) => [/^(0|[1-9]\d{0,14})$/.test(k) ? Number(k) : k, x]));
    } else {
      throw new TorchError(`io.save: cannot pickle a value of type ${typeof v}`, 'INVALID_ARGUMENT');
    }
  }
  push(0x80, 2);
  save(value);
  push(0x2e);
  return Buffer.concat(out);
}
