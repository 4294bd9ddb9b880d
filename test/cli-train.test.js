'use strict';
// train.js as a user meets it beyond the happy path: weights of another architecture or another
// head, unreadable images with and without --skip-bad-images, a run that fails before its first
// epoch, and early stopping.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { io, training, scope, Tensor } = require('torchbridge');
const { tmpDir, VISION_PYTHON } = require('./helpers/reference');
const { threeClassData } = require('./helpers/three-classes');

const TRAIN = path.join(__dirname, '..', 'dist', 'train.js');
let dir;
let env;
let synthetic;
let three;

test.before(async () => {
  dir = tmpDir('cli-train');
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache');
  env = { ...process.env, TORCH_HOME: path.join(dir, 'torch-home') };
  synthetic = (await training.ensureSyntheticDataset()).root;
  three = await threeClassData(path.join(dir, 'three'));
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const COMMON = ['--image-size', '64', '--threads', '2', '--seed', '1', '--json'];
function train(args) {
  const r = spawnSync(process.execPath, [TRAIN, ...args, ...COMMON], { cwd: dir, env, encoding: 'utf8', timeout: 600000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const events = (stdout) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const logs = (stdout) => events(stdout).filter((e) => e.event === 'log').map((e) => e.message);

function disposeAll(value) {
  if (value instanceof Tensor) value.dispose();
  else if (value instanceof Map) for (const v of value.values()) disposeAll(v);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) disposeAll(v);
}

test('--weights of another architecture: one short message with the first keys and the counts; no output folder is left', { skip: !fs.existsSync(VISION_PYTHON) && 'no /usr/bin/python3', timeout: 300000 }, () => {
  const resnet = path.join(dir, 'resnet18.pth');
  const py = spawnSync(VISION_PYTHON, ['-c', `import torch, torchvision; torch.save(torchvision.models.resnet18().state_dict(), ${JSON.stringify(resnet)})`], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  const r = train(['--data', three, '--weights', resnet, '--epochs', '1', '--out', 'arch']);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.length < 400, `short: ${r.stderr}`);
  assert.equal(r.stderr.trim(), `train: --weights ${resnet} is not an AlexNet state_dict: 16 of AlexNet's 16 keys are missing ` +
    "(features.0.weight, features.0.bias, features.3.weight, ...); 122 keys are not AlexNet's (conv1.weight, bn1.weight, bn1.bias, ...)");
  assert.ok(!fs.existsSync(path.join(dir, 'arch')), 'no empty output folder');
});

test("a 2-class AlexNet checkpoint with --head replace loads the backbone and gets a new head for 3 classes; for its own classes it keeps its head", { timeout: 600000 }, async () => {
  const first = train(['--data', synthetic, '--weights', 'none', '--epochs', '1', '--out', 'two']);
  assert.equal(first.status, 0, first.stderr);
  const bestPath = path.join(dir, 'two', 'best.pth');
  // lr 0: the weights stay as loaded, so the run's checkpoint shows what was loaded.
  const other = train(['--data', three, '--weights', bestPath, '--head', 'replace', '--lr', '0', '--epochs', '1', '--out', 'three-run']);
  assert.equal(other.status, 0, other.stderr);
  assert.ok(logs(other.stdout).includes(`loaded weights from ${bestPath} and a new classifier.6 for 3 classes (the file's has 2 outputs)`), logs(other.stdout).join('\n'));
  const same = train(['--data', synthetic, '--weights', bestPath, '--lr', '0', '--epochs', '1', '--out', 'two-again']);
  assert.equal(same.status, 0, same.stderr);
  assert.ok(logs(same.stdout).includes(`loaded weights from ${bestPath} with its classifier.6 trained on [discs,stripes]`), logs(same.stdout).join('\n'));

  const best = await io.load(bestPath);
  const a = await io.load(path.join(dir, 'three-run', 'last.ckpt'));
  const b = await io.load(path.join(dir, 'two-again', 'last.ckpt'));
  const equal = (x, y) => x.shape.join() === y.shape.join() && scope(() => x.eq(y).sum().item()) === x.numel();
  for (const [k, v] of best) {
    if (k.startsWith('classifier.6.')) {
      assert.equal(a.model.get(k).shape[0], 3, k);
      assert.ok(equal(v, b.model.get(k)), `${k}: the trained head kept`);
    } else {
      assert.ok(equal(v, a.model.get(k)), `${k}: the backbone loaded`);
      assert.ok(equal(v, b.model.get(k)), k);
    }
  }
  [best, a, b].forEach(disposeAll);
});

test('an unreadable image: without --skip-bad-images the error names the file and the option, and no folder is left; with it, one clean line per file', { timeout: 600000 }, () => {
  const bad = path.join(dir, 'bad');
  fs.cpSync(three, bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'train', 'a', 'notes.jpg'), 'not an image\n');
  const jpeg = fs.readFileSync(path.join(bad, 'train', 'b', '003.jpg'));
  fs.writeFileSync(path.join(bad, 'train', 'b', '003.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 3))); // truncated
  fs.writeFileSync(path.join(bad, 'val', 'c', 'empty.jpg'), '');

  const failed = train(['--data', bad, '--weights', 'none', '--epochs', '1', '--out', 'bad-run/nested']);
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /^train: data\.ImageFolder: cannot read image \S+(notes|003)\.jpg .*\(--skip-bad-images skips unreadable images with a warning\)\n$/);
  assert.ok(!fs.existsSync(path.join(dir, 'bad-run')), 'no output folder (nor its parent) is left');

  const skipped = train(['--data', bad, '--weights', 'none', '--epochs', '2', '--skip-bad-images', '--out', 'bad-skip']);
  assert.equal(skipped.status, 0, skipped.stderr);
  const output = `${skipped.stdout}\n${skipped.stderr}`;
  assert.doesNotMatch(output, /\(node:\d+\)|--trace-warnings|TorchWarning/);
  const warnings = logs(skipped.stdout).filter((m) => m.startsWith('warning:'));
  assert.deepEqual(warnings.map((m) => /^warning: skipped unreadable image (\S+): /.exec(m)?.[1]).sort(),
    [path.join(bad, 'train', 'a', 'notes.jpg'), path.join(bad, 'train', 'b', '003.jpg'), path.join(bad, 'val', 'c', 'empty.jpg')].sort(), warnings.join('\n'));
  for (const w of warnings) {
    const file = /^warning: skipped unreadable image (\S+): /.exec(w)[1];
    assert.equal(w.split(file).length, 2, `the path once: ${w}`);
    assert.ok(!w.includes('\n'));
  }
  assert.equal(skipped.stderr, '', 'nothing else on stderr');
});

test('--patience stops when --keep-best-by has not improved; the run records it and resuming it has nothing to do', { timeout: 600000 }, () => {
  // lr 0: the weights never change, so the validation loss never improves after epoch 1.
  const r = train(['--data', three, '--weights', 'none', '--lr', '0', '--epochs', '6', '--patience', '2', '--keep-best-by', 'val_loss', '--out', 'patient']);
  assert.equal(r.status, 0, r.stderr);
  const epochs = events(r.stdout).filter((e) => e.event === 'epoch');
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2, 3]);
  assert.ok(epochs.every((e) => e.valLoss === epochs[0].valLoss), 'lr 0: the same validation loss every epoch');
  const stop = `early stop after epoch 3: val_loss has not improved for 2 validation(s) (--patience 2); best ${epochs[0].valLoss.toFixed(4)} at epoch 1`;
  assert.ok(logs(r.stdout).includes(stop), logs(r.stdout).join('\n'));
  // The notice follows the epoch line it explains.
  const order = events(r.stdout).map((e) => (e.event === 'epoch' ? `epoch ${e.epoch}` : e.message));
  assert.equal(order.indexOf(stop), order.indexOf('epoch 3') + 1, order.join('\n'));
  const run = JSON.parse(fs.readFileSync(path.join(dir, 'patient', 'run.json'), 'utf8'));
  assert.equal(run.stoppedEarly, true);
  assert.deepEqual(run.best, { metric: 'val_loss', value: epochs[0].valLoss, epoch: 1, valAcc: epochs[0].valAcc });
  assert.equal(run.validation.epoch, 3);
  const again = spawnSync(process.execPath, [TRAIN, '--resume', path.join('patient', 'last.ckpt')], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^nothing to train: patient\/last\.ckpt stopped early at epoch 3 \(--patience 2 on val_loss\); resume with a larger --patience, or --patience 0 \(off\), to train on$/m);
});
