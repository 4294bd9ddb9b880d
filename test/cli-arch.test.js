'use strict';
// train --arch (torchvision architectures other than AlexNet), --head replace / --freeze-features
// for them, --optimizer adamw, --warmup-epochs and --clip-grad-norm; validate and predict on the
// result.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createHash } = require('crypto');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { io, models, manualSeed, Tensor } = require('torchbridge');
const { tmpDir } = require('./helpers/reference');
const { threeClassData } = require('./helpers/three-classes');

const BIN = path.join(__dirname, '..', 'dist', 'bin');
let dir;
let env;
test.before(() => {
  dir = tmpDir('cli-arch');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache');
  env = { ...process.env, TORCH_HOME: path.join(dir, 'torch-home') };
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(script, args) {
  const r = spawnSync(process.execPath, [path.join(BIN, script), ...args], { cwd: dir, env, encoding: 'utf8', timeout: 600000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const jsonLines = (s) => s.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

function digest(t) {
  const a = t.toArray();
  return createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

test('--arch resnet18 with --freeze-features, adamw, warm-up and clipping trains only fc; validate and predict read it', { timeout: 600000 }, async () => {
  const data = await threeClassData(path.join(dir, 'three'));
  // A torchvision-layout ImageNet resnet18 state_dict (1000 classes), as --weights.
  manualSeed(1);
  const source = models.resnet18();
  const weights = path.join(dir, 'resnet18.pth');
  await io.save(source.stateDict(), weights);
  const before = new Map([...source.stateDict()].map(([k, t]) => [k, digest(t)]));
  source.dispose();

  const out = path.join(dir, 'run');
  const r = run('train.js', ['--arch', 'resnet18', '--data', data, '--weights', weights, '--freeze-features', '--optimizer', 'adamw',
    '--weight-decay', '0.01', '--lr', '0.003', '--warmup-epochs', '1', '--clip-grad-norm', '0.5', '--epochs', '2', '--batch-size', '4',
    '--image-size', '32', '--threads', '2', '--seed', '3', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const events = jsonLines(r.stdout);
  const config = events.find((e) => e.event === 'config').config;
  assert.equal(config.arch, 'resnet18');
  assert.equal(config.optimizer, 'adamw');
  assert.ok(events.some((e) => e.event === 'log' && /loaded weights from .*resnet18\.pth and a new fc for 3 classes/.test(e.message)));
  const epochs = events.filter((e) => e.event === 'epoch');
  assert.equal(epochs.length, 2);
  // LinearLR's first epoch runs at lr / 3 (PyTorch's start factor); then the cosine over 1 epoch starts at lr.
  assert.equal(epochs[0].lr, 0.003 * (1 / 3));
  assert.equal(epochs[1].lr, 0.003);

  const best = await io.load(path.join(out, 'best.pth'));
  assert.deepEqual(best.get('fc.weight').shape, [3, 512]);
  assert.deepEqual([...best.keys()].filter((k) => k !== 'fc.weight' && k !== 'fc.bias'), [...before.keys()].filter((k) => !k.startsWith('fc.')));
  // Frozen: every parameter but fc is the file's; BatchNorm's running statistics still moved (train mode), as in PyTorch.
  for (const [k, t] of best) {
    if (k.startsWith('fc.')) continue;
    if (/running_|num_batches/.test(k)) continue;
    assert.equal(digest(t), before.get(k), `${k} changed although frozen`);
  }
  assert.notEqual(digest(best.get('bn1.running_mean')), before.get('bn1.running_mean'));
  assert.equal(best.get('bn1.num_batches_tracked').item(), 12); // 2 epochs x 24 images / batch 4
  for (const t of best.values()) if (t instanceof Tensor) t.dispose();

  const v = run('validate.js', ['--weights', path.join(out, 'best.pth'), '--data', data, '--json', '--threads', '2']);
  assert.equal(v.status, 0, v.stderr);
  const result = JSON.parse(v.stdout);
  assert.equal(result.count, 12);
  assert.deepEqual(result.classes, ['a', 'b', 'c']);
  const image = path.join(data, 'val', 'a', fs.readdirSync(path.join(data, 'val', 'a'))[0]);
  const p = run('predict.js', ['--weights', path.join(out, 'last.ckpt'), '--json', image]);
  assert.equal(p.status, 0, p.stderr);
  const top = jsonLines(p.stdout)[0].top;
  assert.ok(top.length > 0 && top.every((t) => ['a', 'b', 'c'].includes(t.class)), JSON.stringify(top));
});

test('--arch refuses what it cannot do, naming the option', async () => {
  const data = await threeClassData(path.join(dir, 'three-b'));
  const cases = [
    [['--arch', 'resnet18', '--head', 'append'], /--head append is AlexNet's seed recipe; --arch resnet18 replaces its classifier/],
    [['--arch', 'vgg16', '--image-size', '16'], /integer >= 32 \(vgg16's smallest input\).* for imageSize but received 16/],
    [['--arch', 'resnet101'], /--arch: expected one of alexnet, resnet18/],
    [['--warmup-epochs', '3', '--epochs', '3'], /fewer than the epochs \(3\) for warmupEpochs but received 3/],
  ];
  for (const [args, pattern] of cases) {
    const r = run('train.js', ['--data', data, '--weights', 'none', '--out', path.join(dir, 'refused'), ...args]);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern, args.join(' '));
  }
});
