'use strict';
// The drivers: option parsing, the no-arguments run and its artifacts, Ctrl-C/SIGTERM with exact
// resume, validate and predict, the seed recipe, and train() as a library.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { io, training, scope, Tensor } = require('torchbridge');
const { havePyTorch, haveVision, pyTorchHasVision, PYTHON, VISION_PYTHON, tmpDir, NO_PYTORCH } = require('./helpers/reference');
const { threeClassData } = require('./helpers/three-classes');

const BIN = path.join(__dirname, '..', 'dist', 'bin');
let dir;
let env;
test.before(() => {
  dir = tmpDir('train-cli');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache'); // this process generates the set where the children look
  env = { ...process.env, TORCH_HOME: path.join(dir, 'torch-home') };
});

async function syntheticData() {
  return (await training.ensureSyntheticDataset()).root;
}
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(script, args, opts = {}) {
  const r = spawnSync(process.execPath, [path.join(BIN, script), ...args], { cwd: opts.cwd ?? dir, env, encoding: 'utf8', timeout: 600000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function disposeAll(value) {
  if (value instanceof Tensor) value.dispose();
  else if (value instanceof Map) for (const v of value.values()) disposeAll(v);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) disposeAll(v);
}

const jsonLines = (s) => s.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const COMMON = ['--image-size', '64', '--threads', '2', '--seed', '3', '--json'];

test('--help documents every option with its default; bad options exit non-zero naming the problem', () => {
  const help = run('train.js', ['--help']);
  assert.equal(help.status, 0);
  for (const opt of ['--data', '--weights', '--head', '--recipe', '--epochs', '--batch-size', '--lr', '--optimizer', '--momentum', '--weight-decay',
    '--scheduler', '--t-max', '--freeze-features', '--exact', '--amp', '--device', '--threads', '--seed', '--out', '--resume', '--eval-every', '--skip-bad-images', '--json']) {
    assert.ok(help.stdout.includes(opt), `--help mentions ${opt}`);
  }
  assert.match(help.stdout, /\[default: "finetune"\]/);
  const cases = [
    [['--bogus', '1'], /Unknown argument: --bogus/],
    [['--optimizer', 'rmsprop'], /optimizer.*rmsprop|Invalid values/s],
    [['--data', path.join(dir, 'nope')], /--data .*nope has no train\/ folder/],
    [['--weights', path.join(dir, 'missing.pth'), '--data', 'x'], /./],
    [['--head', 'append', '--freeze-features'], /--freeze-features trains only the classifier, which needs --head replace/],
    [['--epochs', '0'], /--epochs: expected a positive integer, got '0'/],
    [['--image-size', '32'], /Expected integer >= 63 \(AlexNet's smallest input.* for imageSize but received 32/],
    [['--resume', path.join(dir, 'none.ckpt')], /--resume .*none\.ckpt does not exist/],
    [['--amp', 'fp32'], /amp.*fp32|Invalid values/s],
    [['--amp', 'fp16', '--recipe', 'seed', '--device', 'cuda'], /--amp fp16|cuda/],
    ...(require('torchbridge').cuda.isAvailable() ? [] : [[['--amp', 'fp16'], /--amp fp16 needs a CUDA device/]]),
  ];
  for (const [args, pattern] of cases) {
    const r = run('train.js', args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test("--image-size: 63 is AlexNet's real minimum, so 62 is refused before training, naming it", async () => {
  const { models, noGrad, zeros } = require('torchbridge');
  const data = await syntheticData();
  const out = path.join(dir, 'size');
  assert.throws(() => training.resolveConfig({ data, out, imageSize: 62 }), { code: 'INVALID_ARGUMENT', message: /integer >= 63 \(AlexNet's smallest input.* for imageSize but received 62/ });
  assert.equal(training.resolveConfig({ data, out, imageSize: 63 }).imageSize, 63);
  const net = models.alexnet();
  net.eval();
  const at = (side) => noGrad(() => net.forward(zeros([1, 3, side, side])));
  assert.deepEqual((await at(63)).shape, [1, 1000]);
  await assert.rejects(at(62), /Output size is too small/);
  net.dispose();
});

test('--amp bf16 trains under bfloat16 autocast on CPU and records it', { timeout: 300000 }, async () => {
  const data = await threeClassData(path.join(dir, 'three-amp')); // 24 images: bfloat16 on CPU is slow
  const out = path.join(dir, 'amp-bf16');
  const r = run('train.js', ['--data', data, '--weights', 'none', '--epochs', '1', '--device', 'cpu', '--amp', 'bf16', '--out', out, ...COMMON]);
  assert.equal(r.status, 0, r.stderr);
  const steps = jsonLines(r.stdout).filter((e) => e.event === 'step');
  assert.ok(steps.length > 0 && steps.every((e) => Number.isFinite(e.loss) && e.loss > 0), r.stdout);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).config.amp, 'bf16');
  // The same run in float32 draws the same batches and weights, so only bfloat16 math can make
  // the first loss differ.
  const fp32 = run('train.js', ['--data', data, '--weights', 'none', '--epochs', '1', '--device', 'cpu', '--amp', 'off', '--out', `${out}-fp32`, ...COMMON]);
  assert.equal(fp32.status, 0, fp32.stderr);
  const fp32First = jsonLines(fp32.stdout).find((e) => e.event === 'step').loss;
  assert.notEqual(steps[0].loss, fp32First);
  assert.ok(Math.abs(steps[0].loss - fp32First) < 0.05, `bf16 ${steps[0].loss} vs fp32 ${fp32First}`);
});

// finetune_recipe.py needs torchvision next to the same-version torch: Debian's for the 1.13 lane
// (test/lane-1.13.test.js runs this file there); pip's torchvision builds need a CUDA torch.
test("--recipe finetune is PyTorch's own script: the same seed gives the same epoch figures to the last digit", { skip: (!havePyTorch() && NO_PYTORCH) || (!pyTorchHasVision() && `${PYTHON} has no torchvision (the 1.13 lane runs this test)`), timeout: 300000 }, async () => {
  const data = await syntheticData();
  const out = path.join(dir, 'finetune-parity');
  const r = run('train.js', ['--data', data, '--weights', 'none', '--epochs', '2', '--out', out, ...COMMON]);
  assert.equal(r.status, 0, r.stderr);
  const ours = jsonLines(r.stdout).filter((e) => e.event === 'epoch');
  const py = spawnSync(PYTHON, [path.join(__dirname, '..', 'bench', 'python', 'finetune_recipe.py'), data, '2', '32', '2', '3', '64'], { encoding: 'utf8', timeout: 300000 });
  assert.equal(py.status, 0, py.stderr);
  const theirs = jsonLines(py.stdout);
  assert.equal(ours.length, 2);
  ours.forEach((e, k) => {
    for (const key of ['trainLoss', 'trainAcc', 'valAcc']) assert.equal(e[key], theirs[k][key], `epoch ${k + 1} ${key}`);
  });
  assert.ok(ours[1].trainLoss !== ours[0].trainLoss, 'training moved');
});

test('no arguments: a generated data set, a from-scratch notice, every artifact, and Python reads best.pth', { timeout: 600000 }, (t) => {
  const cwd = path.join(dir, 'fresh');
  fs.mkdirSync(cwd, { recursive: true });
  const r = run('train.js', ['--epochs', '2', '--out', 'out'], { cwd });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /(generated|using) a two-class data set \(discs vs stripes, real JPEG files\)/);
  assert.match(r.stdout, /no pretrained weights at .*alexnet-owt-7be5be79\.pth: training from scratch \(to fine-tune, put torchvision's alexnet-owt-7be5be79\.pth there/);
  assert.match(r.stdout, /^config: .*recipe=finetune head=replace epochs=2 batchSize=32/m);
  assert.match(r.stdout, /^epoch 2\/2 {2}train loss \d\.\d{4} {2}train acc \d\.\d{4} {2}val loss \d\.\d{4} {2}val acc \d\.\d{4} {2}lr \S+ {2}\d+\.\ds$/m);
  const out = path.join(cwd, 'out');
  assert.match(r.stdout, new RegExp(`results in ${out.replace(/[/.]/g, '\\$&')}`));
  const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map(JSON.parse);
  assert.deepEqual(metrics.map((m) => m.epoch), [1, 2]);
  assert.ok(metrics.every((m) => typeof m.trainLoss === 'number' && typeof m.valAcc === 'number' && typeof m.valLoss === 'number'));
  // The lr every step of the epoch used (cosine over 2 epochs from 1e-4), and the next epoch's.
  assert.deepEqual(metrics.map((m) => [m.lr, m.nextLr]), [[1e-4, 5e-5], [5e-5, 0]]);
  const png = fs.readFileSync(path.join(out, 'curves.png'));
  assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  assert.equal(png.readUInt32BE(16), 800);
  const runJson = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
  assert.equal(runJson.config.epochs, 2);
  // The last validation, per class, with its confusion matrix (rows: true class).
  assert.equal(runJson.validation.epoch, 2);
  assert.deepEqual(runJson.validation.classes, ['discs', 'stripes']);
  assert.equal(runJson.validation.accuracy, metrics[1].valAcc);
  assert.equal(runJson.validation.loss, metrics[1].valLoss);
  assert.deepEqual(runJson.validation.perClass.map((p) => p.count), [32, 32]);
  assert.deepEqual(runJson.validation.confusion.map((row) => row.reduce((a, b) => a + b, 0)), [32, 32]);
  assert.equal(runJson.validation.perClass[0].accuracy, runJson.validation.confusion[0][0] / 32);
  assert.equal(runJson.libtorch, require('torchbridge').buildInfo().torchVersion);
  assert.ok(fs.existsSync(path.join(out, 'last.ckpt')));
  if (haveVision()) {
    const check = spawnSync(VISION_PYTHON, ['-c', `
import torch, torchvision
m = torchvision.models.alexnet()
m.classifier[6] = torch.nn.Linear(4096, 2)
print(m.load_state_dict(torch.load(${JSON.stringify(path.join(out, 'best.pth'))}), strict=True))
ck = torch.load(${JSON.stringify(path.join(out, 'last.ckpt'))})
print(ck['epoch'], sorted(ck['optimizer'].keys()))`], { encoding: 'utf8' });
    assert.equal(check.stdout, "<All keys matched successfully>\n2 ['param_groups', 'state']\n", check.stderr);
  }
  t.diagnostic(r.stdout.split('\n').filter((l) => l.startsWith('epoch')).join(' | '));
});

test('Ctrl-C and SIGTERM write a resumable checkpoint; resuming is bitwise the uninterrupted run', { timeout: 600000 }, async () => {
  const data = await syntheticData();
  const args = (out) => ['--data', data, '--epochs', '2', '--weights', 'none', '--out', out, ...COMMON];
  const full = run('train.js', args(path.join(dir, 'full')));
  assert.equal(full.status, 0, full.stderr);

  const interrupt = (extra, signal, atStep) => new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(BIN, 'train.js'), ...args(path.join(dir, 'cut')), ...extra], { cwd: dir, env });
    let buffer = '';
    let sent = false;
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const steps = jsonLines(buffer.slice(0, buffer.lastIndexOf('\n') + 1)).filter((e) => e.event === 'step');
      if (!sent && steps.some((s) => s.epoch === atStep[0] && s.step === atStep[1])) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('exit', (code) => resolve({ code, stdout: buffer }));
  });
  const first = await interrupt([], 'SIGINT', [1, 2]);
  assert.equal(first.code, 130, first.stdout);
  assert.match(first.stdout, /SIGINT: finishing the current step/);
  const ckpt = path.join(dir, 'cut', 'last.ckpt');
  const saved = await io.load(ckpt);
  assert.equal(saved.epoch, 0);
  assert.ok(saved.batch >= 2 && saved.batch < 4, `stopped mid-epoch at batch ${saved.batch}`);
  const second = await interrupt(['--resume', ckpt], 'SIGTERM', [2, 1]);
  assert.equal(second.code, 143, second.stdout);
  const last = run('train.js', [...args(path.join(dir, 'cut')), '--resume', ckpt]);
  assert.equal(last.status, 0, last.stderr);

  const a = await io.load(path.join(dir, 'full', 'last.ckpt'));
  const b = await io.load(ckpt);
  assert.deepEqual([...b.model.keys()], [...a.model.keys()]);
  for (const [k, v] of a.model) assert.equal(scope(() => v.eq(b.model.get(k)).sum().item()), v.numel(), k);
  for (const ck of [saved, a, b]) disposeAll(ck); // 3 x 0.7 GB: not left for a GC during the next test
  const strip = (file) => fs.readFileSync(file, 'utf8').trim().split('\n').map(JSON.parse).map(({ seconds, ...m }) => m);
  assert.deepEqual(strip(path.join(dir, 'cut', 'metrics.jsonl')), strip(path.join(dir, 'full', 'metrics.jsonl')));
});

test('validate and predict read a trained checkpoint (and explain a head mismatch)', { timeout: 300000 }, async () => {
  const data = await syntheticData();
  const out = path.join(dir, 'full');
  if (!fs.existsSync(path.join(out, 'best.pth'))) {
    assert.equal(run('train.js', ['--data', data, '--epochs', '1', '--weights', 'none', '--out', out, ...COMMON]).status, 0);
  }
  const v = run('validate.js', ['--weights', path.join(out, 'best.pth'), '--data', data, '--json']);
  assert.equal(v.status, 0, v.stderr);
  const result = JSON.parse(v.stdout);
  assert.equal(result.count, 64);
  assert.deepEqual(result.classes, ['discs', 'stripes']);
  assert.equal(result.confusion.flat().reduce((x, y) => x + y, 0), 64);
  assert.equal(result.accuracy, (result.confusion[0][0] + result.confusion[1][1]) / 64);
  const text = run('validate.js', ['--weights', path.join(out, 'last.ckpt'), '--data', data]);
  assert.match(text.stdout, /^accuracy \d\.\d{4} \(\d+\/64\)/);
  assert.match(text.stdout, /confusion matrix \(rows: true class, columns: predicted\)/);

  const three = path.join(dir, 'three');
  for (const c of ['a', 'b', 'c']) {
    fs.mkdirSync(path.join(three, c), { recursive: true });
    fs.copyFileSync(path.join(data, 'val', 'discs', '000.jpg'), path.join(three, c, 'x.jpg'));
  }
  const mismatch = run('validate.js', ['--weights', path.join(out, 'best.pth'), '--data', three]);
  assert.notEqual(mismatch.status, 0);
  assert.match(mismatch.stderr, /the model's head has 2 outputs \(classifier\.6\) but .*three has 3 classes/);

  if (haveVision()) {
    // A .pth written by PyTorch for the same architecture (torchvision AlexNet, 2-class head).
    const pth = path.join(dir, 'from-python.pth');
    spawnSync(VISION_PYTHON, ['-c', `
import torch, torchvision
m = torchvision.models.alexnet()
m.classifier[6] = torch.nn.Linear(4096, 2)
torch.save(m.state_dict(), ${JSON.stringify(pth)})`]);
    const py = run('validate.js', ['--weights', pth, '--data', data, '--json']);
    assert.equal(py.status, 0, py.stderr);
    assert.equal(JSON.parse(py.stdout).count, 64);
  }

  const images = [path.join(data, 'val', 'discs', '001.jpg'), path.join(data, 'val', 'stripes', '001.jpg')];
  const p = run('predict.js', ['--weights', path.join(out, 'best.pth'), '--json', ...images]);
  assert.equal(p.status, 0, p.stderr);
  const predictions = jsonLines(p.stdout);
  assert.deepEqual(predictions.map((x) => x.image), images);
  for (const x of predictions) {
    assert.deepEqual(x.top.map((t) => t.class).sort(), ['discs', 'stripes']);
    assert.ok(Math.abs(x.top[0].probability + x.top[1].probability - 1) < 1e-5);
    assert.ok(x.top[0].probability >= x.top[1].probability);
  }
  const bad = run('predict.js', ['--weights', path.join(out, 'best.pth'), path.join(dir, 'nope.jpg')]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /cannot read image .*nope\.jpg/);
});

test('--recipe seed: append head, batch 1, Adam 1e-8, cosine tMax 50, gradients accumulated per epoch', { timeout: 300000 }, async () => {
  const tiny = path.join(dir, 'tiny');
  const data = await syntheticData();
  for (const split of ['train', 'val']) {
    for (const c of ['discs', 'stripes']) {
      fs.mkdirSync(path.join(tiny, split, c), { recursive: true });
      for (const i of ['000', '001', '002']) fs.copyFileSync(path.join(data, split, c, `${i}.jpg`), path.join(tiny, split, c, `${i}.jpg`));
    }
  }
  // The seed resizes without cropping: images of another shape must still train and validate.
  const sharp = require('sharp');
  for (const split of ['train', 'val']) {
    await sharp(path.join(data, split, 'discs', '003.jpg')).resize(96, 130).jpeg().toFile(path.join(tiny, split, 'discs', '003.jpg'));
  }
  const r = run('train.js', ['--recipe', 'seed', '--epochs', '2', '--data', tiny, '--weights', 'none', '--out', path.join(dir, 'seed'), ...COMMON]);
  assert.equal(r.status, 0, r.stderr);
  const v = run('validate.js', ['--weights', path.join(dir, 'seed', 'best.pth'), '--data', tiny, '--json']);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(JSON.parse(v.stdout).count, 7);
  const events = jsonLines(r.stdout);
  const config = events.find((e) => e.event === 'config').config;
  assert.equal(config.head, 'append');
  assert.equal(config.batchSize, 1);
  assert.equal(config.lr, 1e-8);
  assert.equal(config.tMax, 50);
  assert.equal(config.normalize, false);
  assert.equal(config.zeroGradPerEpoch, true);
  const steps = events.filter((e) => e.event === 'step');
  assert.equal(steps.length, 14);
  // Softmax output fed to CrossEntropyLoss: each 2-class loss lies in [0.3133, 1.3133].
  assert.ok(steps.every((s) => s.loss >= 0.3132 && s.loss <= 1.3134));
  const epochs = events.filter((e) => e.event === 'epoch');
  // lr: what the epoch's steps used (the first epoch the initial 1e-8); nextLr: after the scheduler's step.
  assert.deepEqual(epochs.map((e) => e.lr), [1e-8, 9.990133642141358e-9]);
  assert.deepEqual(epochs.map((e) => e.nextLr), [9.990133642141358e-9, 9.96057350657239e-9]);
  for (const e of epochs) assert.ok(steps.filter((s) => s.epoch === e.epoch).every((s) => s.lr === e.lr), 'every step used the epoch lr');
  for (const e of epochs) {
    const mean = steps.filter((s) => s.epoch === e.epoch).reduce((a, s) => a + s.loss, 0) / 7;
    assert.ok(Math.abs(e.trainLoss - mean) < 1e-9);
  }
});

test('train() as a library: typed progress events, the event loop keeps ticking, AbortSignal cancels', { timeout: 300000 }, async () => {
  const data = await syntheticData();
  const controller = new AbortController();
  const steps = [];
  const stepTimes = [performance.now()];
  let maxGap = 0;
  let last = performance.now();
  const timer = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now; }, 10);
  const result = await training.train({ data, out: path.join(dir, 'lib'), weights: 'none', epochs: 3, imageSize: 64, seed: 1 }, {
    onStep: (e) => { steps.push(e); stepTimes.push(performance.now()); if (steps.length === 2) controller.abort(); },
    signal: controller.signal,
  });
  clearInterval(timer);
  const secondStepMs = stepTimes[2] - stepTimes[1];
  assert.equal(result.interrupted, true);
  assert.equal(steps.length, 2);
  assert.deepEqual(Object.keys(steps[0]).sort(), ['epoch', 'loss', 'lr', 'step', 'steps']);
  assert.ok(fs.existsSync(path.join(dir, 'lib', 'last.ckpt')));
  // Work done on the JS thread would stall the timer for a whole step; a slower machine slows both.
  assert.ok(maxGap < secondStepMs / 2, `largest event-loop gap ${maxGap.toFixed(0)} ms, one training step ${secondStepMs.toFixed(0)} ms`);
  console.log(`# largest event-loop gap ${maxGap.toFixed(0)} ms during train(); one step ${secondStepMs.toFixed(0)} ms`);
});
