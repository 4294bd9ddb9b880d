'use strict';
// Issue 14: every file that torch.load reads, written during the run by pip's PyTorch (PYTHON) and
// by Debian's 1.13 (VISION_PYTHON): legacy files in pickle protocols 0, 1 and 2, quantized state
// dicts (per tensor, per channel, quantize_dynamic), torch.<dtype> values, the pre-0.1.10 tar
// format (read, though PyTorch 2.x's weights_only refuses it); and the refusals that say what a file is: TorchScript, a Lightning checkpoint with a
// pickled class, a numpy scalar. What loads saves back to a file PyTorch reads bitwise.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { io, Tensor } = require('torchbridge');
const { havePyTorch, tmpDir, PYTHON, NO_PYTORCH, torchVersionOf } = require('./helpers/reference');

const VISION_PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'python', 'checkpoint_formats.py');
const run = (python, command, args) => JSON.parse(execFileSync(python, [SCRIPT, command, JSON.stringify(args)], {
  encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'],
}));

const skip = !havePyTorch() && NO_PYTORCH;
const debianVersion = torchVersionOf(VISION_PYTHON);
let dir;
const written = {}; // writer name -> { version, files }
test.before(() => {
  dir = tmpDir('checkpoint-formats');
  if (skip) return;
  const writers = [['pip', PYTHON]];
  if (debianVersion && PYTHON !== VISION_PYTHON) writers.push(['debian', VISION_PYTHON]);
  for (const [name, python] of writers) {
    fs.mkdirSync(path.join(dir, name));
    written[name] = { ...run(python, 'write', { dir: path.join(dir, name) }), python };
  }
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The same JSON form as checkpoint_formats.py's describe(), built from what io.load returned. */
function describe(v) {
  if (v instanceof Tensor) {
    if (v.isQuantized) {
      const out = { tensor: v.dtype, shape: v.shape, qscheme: v.qscheme(), int: temporary(v.intRepr()), dequantized: temporary(v.dequantize()) };
      if (v.qscheme() === 'per_tensor_affine') Object.assign(out, { scale: v.qScale(), zeroPoint: v.qZeroPoint() });
      else Object.assign(out, { scales: temporary(v.qPerChannelScales()), zeroPoints: temporary(v.qPerChannelZeroPoints()), axis: v.qPerChannelAxis() });
      return out;
    }
    return { tensor: v.dtype, shape: v.shape, values: numbers(v) };
  }
  if (v instanceof io.PyConstant) return { const: String(v) };
  if (Buffer.isBuffer(v)) return { bytes: v.toString('hex') };
  if (Array.isArray(v)) return { list: [...v].map(describe) }; // tuples too, as in describe()
  if (v instanceof Map) return dict([...v]);
  if (v !== null && typeof v === 'object') return dict(Object.entries(v).map(([k, x]) => [/^(0|[1-9]\d*)$/.test(k) ? Number(k) : k, x]));
  return typeof v === 'number' || typeof v === 'bigint' ? number(v) : v;
}
const dict = (entries) => ({ dict: entries.map(([k, x]) => [describe(k), describe(x)]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)) });
function number(x) {
  if (typeof x === 'bigint') return Number.isSafeInteger(Number(x)) ? Number(x) : String(x);
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return x;
}
const numbers = (t) => [...t.toArray()].map(number);
function temporary(t) {
  const values = numbers(t);
  t.dispose();
  return values;
}

async function loadsAsWritten(t, writer, name) {
  const file = written[writer].files[name];
  const loaded = await io.load(file.path);
  assert.deepEqual(describe(loaded), file.expected, `${writer} ${written[writer].version}: ${name}`);
  t.diagnostic(`${writer} ${written[writer].version} ${name}: loads as written (PyTorch's torch.load: ${file.full}; weights_only=True: ${file.weightsOnly})`);
  return loaded;
}

/** Resaves loaded files with io.save, then asks each PyTorch (one run each) whether they hold exactly what the originals do. */
class Resaves {
  pairs = [];

  async add(loaded, reference, name) {
    const ours = path.join(dir, `resaved-${name}`);
    await io.save(loaded, ours);
    this.pairs.push([ours, reference]);
  }

  check(t) {
    for (const python of Object.values(written).map((w) => w.python)) {
      const { differences } = run(python, 'check', { pairs: this.pairs });
      differences.forEach((d, i) => assert.equal(d, null, `${this.pairs[i][0]}: PyTorch ${torchVersionOf(python)} reads our resave differently: ${d}`));
      t.diagnostic(`PyTorch ${torchVersionOf(python)} reads ${this.pairs.length} resaved files bitwise as the originals`);
    }
  }
}

const writersOf = (name) => Object.keys(written).filter((w) => written[w].files[name]);

test('legacy files in pickle protocols 0, 1 and 2 load as written, from both PyTorches, and resave losslessly', { skip }, async (t) => {
  const resaves = new Resaves();
  for (const protocol of [0, 1, 2]) {
    for (const kind of ['mixed', 'plain']) {
      const name = `${kind}-p${protocol}.pth`;
      for (const writer of writersOf(name)) {
        const loaded = await loadsAsWritten(t, writer, name);
        if (kind === 'mixed') {
          // A tensor pickled once and referenced twice stays one tensor.
          assert.equal(loaded.get('shared')[0], loaded.get('shared')[1]);
        }
        // Protocol 0 writes storage ids that PyTorch itself cannot read back (its full loader fails
        // on mixed-p0): compare the resave with a protocol 2 file of the same content instead.
        const reference = written[writer].files[name].full === 'ok' ? written[writer].files[name].path : written[writer].files[`${kind}-p2.pth`].path;
        await resaves.add(loaded, reference, `${writer}-${name}`);
      }
    }
  }
  assert.equal(written.pip.files['mixed-p0.pth'].full, 'AssertionError', "PyTorch's own loader still refuses protocol 0 storages");
  resaves.check(t);
});

test('quantized state dicts (per tensor, per channel, quantize_dynamic) load with their quantizers, and resave bitwise', { skip }, async (t) => {
  const resaves = new Resaves();
  for (const name of ['quantized.pth', 'quantized-legacy.pth']) {
    for (const writer of writersOf(name)) {
      const sd = await loadsAsWritten(t, writer, name);
      const w = sd.get('pt_qint8');
      assert.equal(w.dtype, 'qint8');
      assert.equal(w.qscheme(), 'per_tensor_affine');
      assert.equal(sd.get('pc_axis1').qPerChannelAxis(), 1);
      assert.equal(sd.get('pc_float_qparams').qscheme(), 'per_channel_affine_float_qparams');
      assert.throws(() => sd.get('pc_axis0').qScale(), (e) => e.code === 'INVALID_ARGUMENT' && /per_channel_affine; use qPerChannelScales/.test(e.message));
      assert.equal(sd.get('dynamic.0._packed_params.dtype').name, 'qint8');
      assert.equal(sd.get('dynamic.0._packed_params._packed_params')[0].dtype, 'qint8'); // quantize_dynamic's weight
      await resaves.add(sd, written[writer].files[name].path, `${writer}-${name}`);
    }
  }
  resaves.check(t);
});

test('torch.<dtype> and torch.<qscheme> values load as PyConstant and save back as the same globals', { skip }, async (t) => {
  const resaves = new Resaves();
  for (const name of ['dtypes.pth', 'dtypes-legacy-p1.pth']) {
    for (const writer of writersOf(name)) {
      const loaded = await loadsAsWritten(t, writer, name);
      assert.ok(loaded.dtype instanceof io.PyConstant);
      assert.equal(String(loaded.dtype), 'torch.float16');
      await resaves.add(loaded, written[writer].files[name].path, `${writer}-${name}`);
    }
  }
  resaves.check(t);
});

async function refused(file, code, patterns) {
  await assert.rejects(io.load(file), (e) => {
    assert.equal(e.name, 'TorchError', e.stack);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `the message names the file: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('a TorchScript archive is named as such, with the Python to get its state dict', { skip }, async () => {
  for (const writer of writersOf('script.pt')) {
    await refused(written[writer].files['script.pt'].path, 'BAD_FILE', [/is a TorchScript archive/, /torch\.jit\.load\(path\)\.state_dict\(\)/]);
  }
});

test('the pre-0.1.10 tar format loads as PyTorch reads it, and resaves bitwise', { skip }, async (t) => {
  const resaves = new Resaves();
  for (const writer of writersOf('tar.pth')) {
    assert.equal(written[writer].files['tar.pth'].full, 'ok', "PyTorch's full loader reads the tar fixture");
    const loaded = await loadsAsWritten(t, writer, 'tar.pth');
    await resaves.add(loaded, written[writer].files['tar.pth'].path, `${writer}-tar.pth`);
  }
  // A tar archive that is not a checkpoint says which format it looks like.
  const other = path.join(dir, 'other.tar');
  execFileSync('tar', ['-cf', other, '-C', __dirname, 'python']);
  await refused(other, 'BAD_FILE', [/a tar archive without a 'storages' member: not a torch\.save file of PyTorch before 0\.1\.10/]);
  resaves.check(t);
});

test("a Lightning checkpoint's pickled class is named with where it sits, and its state_dict saved alone loads", { skip }, async () => {
  for (const writer of writersOf('lightning.ckpt')) {
    const files = written[writer].files;
    await refused(files['lightning.ckpt'].path, 'UNSAFE_PICKLE', [
      /refusing to load the global 'pytorch_lightning\.utilities\.parsing\.AttributeDict'/,
      /at checkpoint\['hyper_parameters'\]/, /written by PyTorch Lightning/, /torch\.save\(checkpoint\['state_dict'\], 'weights\.pth'\)/,
    ]);
    // The advice holds: that file loads, in PyTorch with weights_only=True and here.
    assert.equal(files['lightning-state-dict.pth'].weightsOnly, 'ok');
    const sd = await io.load(files['lightning-state-dict.pth'].path);
    assert.deepEqual(describe(sd), files['lightning-state-dict.pth'].expected);
  }
});

test('a pickled numpy scalar is named, with how to avoid it', { skip }, async () => {
  for (const writer of writersOf('numpy-scalar.pth')) {
    await refused(written[writer].files['numpy-scalar.pth'].path, 'UNSAFE_PICKLE', [
      /global 'numpy\.(_core|core)\.multiarray\.scalar'/, /at checkpoint\['best_acc'\]/, /numpy scalar \(numpy dtype 'f8'\)/, /float\(x\) or x\.item\(\)/,
    ]);
  }
});

test('the Debian PyTorch lane was exercised when it is installed', { skip: skip || (!debianVersion && 'no Debian python3-torch') || (PYTHON === VISION_PYTHON && 'PYTHON is Debian\'s PyTorch already') }, () => {
  assert.ok(written.debian, `Debian's PyTorch ${debianVersion} wrote fixtures`);
  assert.match(written.debian.version, /^1\./);
});
