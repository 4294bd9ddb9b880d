'use strict';
// predict.js and validate.js as a user meets them: a folder of images with a bad file in it,
// torchvision's ImageNet classifier named by its classes, validate's default device.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { io, models, cuda, training } = require('torchbridge');
const { tmpDir, VISION_PYTHON } = require('./helpers/reference');

const BIN = path.join(__dirname, '..', 'dist', 'bin');
let dir;
let synthetic;
let twoClass;
let imagenet;

test.before(async () => {
  dir = tmpDir('cli-predict');
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache');
  synthetic = (await training.ensureSyntheticDataset()).root;
  // A 2-class model as train writes it (untrained: predictions need not be right, only made).
  const model = training.buildModel('replace', 2);
  twoClass = path.join(dir, 'two.pth');
  await io.save(training.stateDictWithMeta(model, { head: 'replace', classes: ['discs', 'stripes'], recipe: 'finetune', imageSize: 64, normalize: true }), twoClass);
  model.dispose();
  // torchvision's AlexNet layout with its 1000-way head, as a plain state_dict (no class names in it).
  const alexnet = models.alexnet();
  imagenet = path.join(dir, 'imagenet.pth');
  await io.save(alexnet.stateDict(), imagenet);
  alexnet.dispose();
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(script, args) {
  const r = spawnSync(process.execPath, [path.join(BIN, script), ...args], { cwd: dir, encoding: 'utf8', timeout: 300000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('predict DIR predicts every image under it; a bad file is reported, the others predicted, and the exit code says so', { timeout: 300000 }, () => {
  const folder = path.join(dir, 'photos');
  fs.mkdirSync(path.join(folder, 'more'), { recursive: true });
  fs.copyFileSync(path.join(synthetic, 'val', 'discs', '000.jpg'), path.join(folder, 'a.jpg'));
  fs.copyFileSync(path.join(synthetic, 'val', 'stripes', '000.jpg'), path.join(folder, 'more', 'b.JPG'));
  fs.writeFileSync(path.join(folder, 'more', 'broken.png'), 'not a png');
  fs.writeFileSync(path.join(folder, 'README.txt'), 'not an image, and not an image name either');
  const r = run('predict.js', ['--weights', twoClass, '--json', folder]);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.filter((l) => l.top).map((l) => l.image), [path.join(folder, 'a.jpg'), path.join(folder, 'more', 'b.JPG')]);
  assert.deepEqual(lines.filter((l) => l.error).map((l) => l.image), [path.join(folder, 'more', 'broken.png')]);
  for (const l of lines.filter((x) => x.top)) assert.deepEqual(l.top.map((t) => t.class).sort(), ['discs', 'stripes']);
  assert.match(r.stderr, /^predict: cannot read image \S+broken\.png: .+\npredict: 1 of 3 image\(s\) could not be read\n$/);

  const good = run('predict.js', ['--weights', twoClass, '--topk', '5', path.join(folder, 'a.jpg')]);
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /^\S+a\.jpg: (discs|stripes) \d\.\d{4}, (discs|stripes) \d\.\d{4}\n$/, '--topk above the classes lists them all');
});

test('a 1000-class ImageNet checkpoint predicts ImageNet class names (torchvision\'s list, in its order)', { timeout: 300000 }, () => {
  const image = path.join(synthetic, 'val', 'discs', '001.jpg');
  const r = run('predict.js', ['--weights', imagenet, '--topk', '3', '--json', image]);
  assert.equal(r.status, 0, r.stderr);
  const { top } = JSON.parse(r.stdout);
  assert.equal(top.length, 3);
  const { IMAGENET_CLASSES } = require(path.join(__dirname, '..', 'dist', 'training', 'imagenet-classes'));
  assert.equal(IMAGENET_CLASSES.length, 1000);
  for (const t of top) assert.ok(IMAGENET_CLASSES.includes(t.class) && !/^\d+$/.test(t.class), t.class);
  if (fs.existsSync(VISION_PYTHON)) {
    const py = spawnSync(VISION_PYTHON, ['-c', 'import json; from torchvision.models import AlexNet_Weights as W; print(json.dumps(W.DEFAULT.meta["categories"]))'], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    assert.deepEqual([...IMAGENET_CLASSES], JSON.parse(py.stdout));
  }
});

test('validate --device defaults to auto (CUDA when there is one) and reports the loss', { timeout: 300000 }, () => {
  const help = run('validate.js', ['--help']);
  assert.match(help.stdout, /--device .*\[default: "auto"\]/s);
  const r = run('validate.js', ['--weights', twoClass, '--data', synthetic, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.device, cuda.isAvailable() ? 'cuda' : 'cpu');
  assert.equal(result.count, 64);
  assert.ok(result.loss > 0 && Number.isFinite(result.loss));
});
