'use strict';
// ImageFolder, transforms and DataLoader on small images this test makes with sharp.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { spawnSync } = require('child_process');
const sharp = require('sharp');
const { data, TorchError } = require('torchbridge');
const { tmpDir, NO_VISION, haveVision, visionReference } = require('./helpers/reference');

const tf = data.transforms;
let root;

function gradient(width, height) {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      buf[o] = (x * 255) / Math.max(width - 1, 1);
      buf[o + 1] = (y * 255) / Math.max(height - 1, 1);
      buf[o + 2] = 100;
    }
  }
  return sharp(buf, { raw: { width, height, channels: 3 } });
}

// A PNG whose header claims width x height (the pixel data is a tiny stand-in).
function pngClaiming(width, height) {
  const small = zlib.deflateSync(Buffer.alloc(10));
  const chunk = (type, body) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type), body])));
    return Buffer.concat([len, Buffer.from(type), body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', small), chunk('IEND', Buffer.alloc(0))]);
}

test.before(async () => {
  root = tmpDir('imagefolder');
  fs.rmSync(root, { recursive: true, force: true });
  const mk = (p) => fs.mkdirSync(path.join(root, p), { recursive: true });
  mk('cats/nested'); mk('dogs'); mk('elsewhere/more'); mk('zebra');
  const at = (p) => path.join(root, p);
  await gradient(50, 40).jpeg().toFile(at('cats/b image with spaces.jpg'));
  await gradient(40, 50).png().toFile(at('cats/a.PNG'));
  await gradient(30, 30).webp().toFile(at('cats/nested/c.webp'));
  await gradient(30, 20).tiff().toFile(at('cats/d.tiff'));
  await gradient(20, 20).gif().toFile(at('cats/e.gif')); // not an ImageFolder extension
  fs.writeFileSync(at('cats/notes.txt'), 'not an image');
  // Colour modes: grey, RGBA with transparent pixels, palette, 16-bit, CMYK JPEG.
  await sharp(Buffer.alloc(48, 128), { raw: { width: 8, height: 6, channels: 1 } }).png().toFile(at('dogs/grey.png'));
  const rgba = Buffer.alloc(8 * 6 * 4);
  for (let i = 0; i < 48; i++) rgba.set([10, 20, 30, i % 2 ? 0 : 255], i * 4);
  await sharp(rgba, { raw: { width: 8, height: 6, channels: 4 } }).png().toFile(at('dogs/rgba.png'));
  await gradient(8, 6).png({ palette: true }).toFile(at('dogs/palette.png'));
  await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toColourspace('rgb16').toFile(at('dogs/sixteen.png'));
  await gradient(8, 6).toColourspace('cmyk').jpeg().toFile(at('dogs/cmyk.jpg'));
  await gradient(40, 20).withMetadata({ orientation: 6 }).jpeg().toFile(at('dogs/rotated.jpg'));
  await gradient(12, 10).jpeg().toFile(at('elsewhere/more/f.jpeg'));
  fs.symlinkSync(at('elsewhere'), at('dogs/linked'));
  await gradient(9, 9).png().toFile(at('zebra/z.png'));
});

test.after(() => fs.rmSync(root, { recursive: true, force: true }));

test('ImageFolder finds classes and samples in torchvision\'s order, following links, by extension', async () => {
  const ds = await data.ImageFolder.create(root);
  assert.deepEqual(ds.classes, ['cats', 'dogs', 'elsewhere', 'zebra']);
  assert.deepEqual(ds.classToIdx, { cats: 0, dogs: 1, elsewhere: 2, zebra: 3 });
  const rel = ds.samples.map(([p, c]) => [path.relative(root, p), c]);
  assert.deepEqual(rel, [
    ['cats/a.PNG', 0], ['cats/b image with spaces.jpg', 0], ['cats/d.tiff', 0], ['cats/nested/c.webp', 0],
    ['dogs/cmyk.jpg', 1], ['dogs/grey.png', 1], ['dogs/palette.png', 1], ['dogs/rgba.png', 1], ['dogs/rotated.jpg', 1], ['dogs/sixteen.png', 1],
    ['dogs/linked/more/f.jpeg', 1],
    ['elsewhere/more/f.jpeg', 2],
    ['zebra/z.png', 3],
  ]);
});

test('every colour mode becomes 3-channel RGB like PIL convert(\'RGB\'); no EXIF rotation unless asked', async () => {
  const ds = await data.ImageFolder.create(root);
  const get = async (name) => (await ds.get(ds.samples.findIndex(([p]) => p.endsWith(name)))).input;
  for (const [name] of ds.samples) {
    const input = await get(path.basename(path.dirname(name)) + '/' + path.basename(name));
    assert.equal(input.shape[0], 3, name);
    assert.equal(input.dtype, 'float32');
    const v = input.toArray();
    assert.ok(v.every((x) => x >= 0 && x <= 1), name);
  }
  const grey = (await get('dogs/grey.png')).toArray();
  assert.ok(grey.every((x) => Math.abs(x - 128 / 255) < 1e-6));
  const rgba = await get('dogs/rgba.png');
  // Alpha is dropped, not composited: the transparent pixel (x = 1) keeps its colour too.
  assert.deepEqual(Array.from(rgba.toArray()).filter((_, i) => i % 48 < 2).map((x) => Math.round(x * 255)), [10, 10, 20, 20, 30, 30]);
  const sixteen = (await get('dogs/sixteen.png')).toArray();
  assert.deepEqual([sixteen[0], sixteen[48], sixteen[96]].map((x) => Math.round(x * 255)), [200, 100, 50]);
  assert.deepEqual((await get('dogs/rotated.jpg')).shape, [3, 20, 40]);
  const rotating = await data.ImageFolder.create(root, { exifRotate: true });
  const k = rotating.samples.findIndex(([p]) => p.endsWith('rotated.jpg'));
  assert.deepEqual((await rotating.get(k)).input.shape, [3, 40, 20]);
});

test('resize, centerCrop, randomResizedCrop, flip and normalize follow torchvision', async () => {
  const dir = path.join(root, '..', 'sizes');
  fs.mkdirSync(path.join(dir, 'x'), { recursive: true });
  await gradient(500, 375).png().toFile(path.join(dir, 'x', 'wide.png'));
  await gradient(333, 500).png().toFile(path.join(dir, 'x', 'tall.png'));
  const shapeOf = async (steps) => {
    const ds = await data.ImageFolder.create(dir, { transform: tf.compose(steps) });
    return [(await ds.get(0, { seed: 1 })).input.shape, (await ds.get(1, { seed: 1 })).input.shape];
  };
  assert.deepEqual(await shapeOf([tf.resize(224), tf.toTensor()]), [[3, 336, 224], [3, 224, 298]]);
  assert.deepEqual(await shapeOf([tf.resize([100, 120]), tf.toTensor()]), [[3, 100, 120], [3, 100, 120]]);
  assert.deepEqual(await shapeOf([tf.resize(256), tf.centerCrop(224), tf.toTensor()]), [[3, 224, 224], [3, 224, 224]]);
  assert.deepEqual(await shapeOf([tf.randomResizedCrop(64), tf.toTensor()]), [[3, 64, 64], [3, 64, 64]]);
  assert.deepEqual(await shapeOf([tf.resize(20), tf.centerCrop([40, 30]), tf.toTensor()]), [[3, 40, 30], [3, 40, 30]]);

  // centerCrop picks the middle; a flip mirrors columns; normalize is (x - mean) / std.
  const ds = await data.ImageFolder.create(dir, { transform: tf.compose([tf.centerCrop([1, 3]), tf.toTensor()]) });
  const plain = Array.from((await ds.get(1)).input.toArray());
  const flippedDs = await data.ImageFolder.create(dir, { transform: tf.compose([tf.centerCrop([1, 3]), tf.randomHorizontalFlip(1), tf.toTensor()]) });
  const flipped = Array.from((await flippedDs.get(1)).input.toArray());
  assert.deepEqual(flipped, [plain[2], plain[1], plain[0], plain[5], plain[4], plain[3], plain[8], plain[7], plain[6]]);
  assert.ok(plain[0] < plain[2], 'red grows to the right');
  const normDs = await data.ImageFolder.create(dir, { transform: tf.compose([tf.centerCrop([1, 3]), tf.toTensor(), tf.normalize([0.5, 0.25, 0], [0.5, 2, 1])]) });
  const norm = Array.from((await normDs.get(1)).input.toArray());
  norm.forEach((v, i) => {
    const c = Math.floor(i / 3);
    const expected = Math.fround(Math.fround(plain[i] - Math.fround([0.5, 0.25, 0][c])) / Math.fround([0.5, 2, 1][c]));
    assert.equal(v, expected);
  });
  assert.throws(() => tf.compose([tf.toTensor(), tf.resize(10)]), { code: 'INVALID_ARGUMENT', message: /comes after toTensor/ });
  assert.throws(() => tf.compose([tf.normalize([0, 0, 0], [1, 1, 1])]), /after toTensor/);
  assert.throws(() => tf.resize(-1), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => tf.normalize([0, 0], [1, 1, 1]), { code: 'INVALID_ARGUMENT' });
});

test('resampling equals PIL byte for byte: upscaling, downscaling, both at once, and crops of the result', { skip: !haveVision() && NO_VISION }, async () => {
  const dir = path.join(root, '..', 'resample');
  fs.mkdirSync(path.join(dir, 'x'), { recursive: true });
  const file = path.join(dir, 'x', 'noise.png');
  const pixels = Buffer.alloc(157 * 93 * 3);
  for (let i = 0, s = 7; i < pixels.length; i++) pixels[i] = (s = (s * 48271) % 2147483647) & 255;
  await sharp(pixels, { raw: { width: 157, height: 93, channels: 3 } }).png().toFile(file);
  const cases = [
    [['centerCrop', [40, 30]], ['resize', [224, 224]]], // both axes grow
    [['centerCrop', [90, 150]], ['resize', [64, 300]]], // one shrinks, one grows
    [['resize', 61]], // both shrink, RandomResizedCrop's and Resize's usual case
    [['resize', [93, 80]]], // one axis only
    // A crop after a resize (the evaluation path: Resize(256), CenterCrop(224)) is computed in the
    // resample itself: both axes, each axis alone, and a crop larger than the image (padded).
    [['resize', 70], ['centerCrop', [50, 61]]],
    [['resize', [93, 80]], ['centerCrop', [41, 37]]],
    [['resize', [40, 157]], ['centerCrop', [33, 100]]],
    [['resize', 20], ['centerCrop', [40, 30]]],
  ];
  const theirs = visionReference('transform_pixels', { file, cases });
  for (const [i, steps] of cases.entries()) {
    const ds = await data.ImageFolder.create(dir, { transform: tf.compose([...steps.map(([name, size]) => tf[name](size)), tf.toTensor()]) });
    const { input } = await ds.get(0);
    const [, h, w] = input.shape;
    assert.deepEqual([h, w], theirs[i].size);
    const ours = input.toArray();
    let differing = 0;
    for (let k = 0; k < h * w * 3; k++) {
      const [y, x, c] = [Math.floor(k / (w * 3)), Math.floor(k / 3) % w, k % 3];
      if (Math.round(ours[c * h * w + y * w + x] * 255) !== theirs[i].pixels[k]) differing++;
    }
    assert.equal(differing, 0, `${JSON.stringify(steps)}: ${differing} of ${h * w * 3} values differ from PIL's`);
  }
});

test('DataLoader: batches, int64 targets, seeded shuffling and random transforms whatever the concurrency', async () => {
  const transform = tf.compose([tf.randomResizedCrop(16), tf.randomHorizontalFlip(), tf.toTensor()]);
  const ds = await data.ImageFolder.create(root, { transform });
  const epochOf = async (opts) => {
    const loader = new data.DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7, ...opts });
    const out = [];
    for await (const b of loader) out.push({ shape: b.input.shape, target: Array.from(b.target.toArray(), Number), sum: b.input.sum().item(), dtype: b.target.dtype });
    return out;
  };
  const a = await epochOf({ concurrency: 1, prefetch: 0 });
  const b = await epochOf({ concurrency: 8, prefetch: 3 });
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((x) => x.shape), [[4, 3, 16, 16], [4, 3, 16, 16], [4, 3, 16, 16], [1, 3, 16, 16]]);
  assert.equal(a[0].dtype, 'int64');
  assert.notDeepEqual(a.map((x) => x.target).flat(), ds.samples.map(([, t]) => t), 'shuffled');
  const dropped = await epochOf({ dropLast: true });
  assert.equal(dropped.length, 3);
  const loader = new data.DataLoader(ds, { batchSize: 4, shuffle: true, seed: 7 });
  const first = [];
  for await (const x of loader) first.push(Array.from(x.target.toArray(), Number));
  const second = [];
  for await (const x of loader) second.push(Array.from(x.target.toArray(), Number));
  assert.notDeepEqual(second, first, 'a new epoch reshuffles');
  assert.equal(loader.length, 4);
});

test("rng 'torch': the batches of torch's DataLoader + torchvision's random transforms after the same manual_seed", { skip: !haveVision() && NO_VISION }, async () => {
  const { manualSeed, rand } = require('torchbridge');
  const dir = tmpDir('torch-rng');
  fs.rmSync(dir, { recursive: true, force: true });
  const sizes = [[40, 30], [23, 31], [64, 48], [17, 17], [50, 20], [33, 60], [28, 28], [45, 39], [20, 52]];
  for (const [k, [w, h]] of sizes.entries()) {
    fs.mkdirSync(path.join(dir, `c${k % 2}`), { recursive: true });
    await gradient(w, h).png().toFile(path.join(dir, `c${k % 2}`, `img${k}.png`));
  }
  const spec = { root: dir, seed: 11, size: 8, batch: 4, epochs: 3, between: 5 };
  const theirs = visionReference('torch_loader', spec);
  manualSeed(spec.seed);
  const ds = await data.ImageFolder.create(dir, { transform: tf.compose([tf.randomResizedCrop(spec.size), tf.randomHorizontalFlip(), tf.toTensor()]) });
  const loader = new data.DataLoader(ds, { batchSize: spec.batch, shuffle: true, rng: 'torch', concurrency: 3 });
  const ours = [];
  for (let e = 0; e < spec.epochs; e++) {
    for await (const b of loader) {
      ours.push({ targets: Array.from(b.target.toArray(), Number), pixels: Array.from(b.input.toArray()) });
      rand([spec.between]).dispose();
    }
  }
  assert.equal(ours.length, theirs.length);
  ours.forEach((b, k) => {
    assert.deepEqual(b.targets, theirs[k].targets, `batch ${k} targets`);
    assert.deepEqual(b.pixels, theirs[k].pixels, `batch ${k} pixels`);
  });
  assert.throws(() => new data.DataLoader(ds, { rng: 'torch', prefetch: 2 }), { code: 'INVALID_ARGUMENT', message: /prefetch 2 with rng 'torch'/ });
  await assert.rejects(async () => { for await (const _ of loader.iterate({ startBatch: 1 })) { /* */ } }, { code: 'INVALID_ARGUMENT', message: /epochSeed/ });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('cache keeps decoded images across epochs and gives the same batches', async () => {
  const ds = await data.ImageFolder.create(root, { transform: tf.compose([tf.resize([10, 10]), tf.toTensor()]) });
  const sums = async (loader) => { const s = []; for await (const b of loader) s.push(b.input.sum().item()); return s; };
  const plain = await sums(new data.DataLoader(ds, { batchSize: 5 }));
  const cached = new data.DataLoader(ds, { batchSize: 5, cache: true });
  assert.deepEqual(await sums(cached), plain);
  assert.deepEqual(await sums(cached), plain);
  const randomDs = await data.ImageFolder.create(root, { transform: tf.compose([tf.randomResizedCrop(8), tf.toTensor()]) });
  const r1 = await sums(new data.DataLoader(randomDs, { batchSize: 5, seed: 3, cache: true }));
  const r2 = await sums(new data.DataLoader(randomDs, { batchSize: 5, seed: 3 }));
  assert.deepEqual(r1, r2, 'caching the decoded source does not change random crops');
});

test('pinMemory gives page-locked batches with CUDA, and without it warns once and loads normally', async () => {
  const ds = await data.ImageFolder.create(root, { transform: tf.compose([tf.resize([10, 10]), tf.toTensor()]) });
  const warnings = [];
  const onWarning = (w) => warnings.push(w.message);
  process.on('warning', onWarning);
  const sums = [];
  const pinned = [];
  for await (const b of new data.DataLoader(ds, { batchSize: 5, pinMemory: true })) {
    sums.push(b.input.sum().item());
    pinned.push(b.input.isPinned());
  }
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  const plain = [];
  for await (const b of new data.DataLoader(ds, { batchSize: 5 })) plain.push(b.input.sum().item());
  assert.deepEqual(sums, plain);
  const withCuda = require('torchbridge').cuda.isAvailable();
  assert.ok(pinned.every((p) => p === withCuda), `pinned: ${pinned}`);
  if (!withCuda) assert.match(warnings.join('\n'), /pinMemory is set but no CUDA device is available/);
  assert.throws(() => new data.DataLoader(ds, { pinMemory: 'yes' }), { code: 'INVALID_ARGUMENT', message: /pinMemory/ });
});

test('images of different sizes: fine at batch size 1, a clear error suggesting centerCrop above', async () => {
  const ds = await data.ImageFolder.create(root, { transform: tf.compose([tf.resize(12), tf.toTensor()]) });
  let n = 0;
  for await (const b of new data.DataLoader(ds, { batchSize: 1 })) { n += b.input.shape[0]; }
  assert.equal(n, ds.length);
  await assert.rejects(async () => { for await (const _ of new data.DataLoader(ds, { batchSize: 4 })) { /* consume */ } }, (e) => {
    assert.ok(e instanceof TorchError);
    assert.match(e.message, /different sizes .* add transforms\.centerCrop\(224\)/);
    return true;
  });
});

test('bad folders and bad files give errors naming the path; skipBadImages continues with a warning', async () => {
  const bad = path.join(root, '..', 'bad');
  fs.rmSync(bad, { recursive: true, force: true });
  await assert.rejects(data.ImageFolder.create(path.join(bad, 'missing')), { code: 'IO_ERROR', message: /cannot read the root folder .*missing: no such directory/ });
  fs.mkdirSync(path.join(bad, 'noclasses'), { recursive: true });
  fs.writeFileSync(path.join(bad, 'noclasses', 'x.jpg'), 'x');
  await assert.rejects(data.ImageFolder.create(path.join(bad, 'noclasses')), { message: /couldn't find any class folder in .*noclasses/ });
  fs.mkdirSync(path.join(bad, 'emptyclass', 'a'), { recursive: true });
  fs.mkdirSync(path.join(bad, 'emptyclass', 'b'), { recursive: true });
  await gradient(8, 8).jpeg().toFile(path.join(bad, 'emptyclass', 'a', 'ok.jpg'));
  await assert.rejects(data.ImageFolder.create(path.join(bad, 'emptyclass')), { message: /found no valid file for the classes b in .*Supported extensions are: \.jpg/ });

  const files = path.join(bad, 'files', 'c');
  fs.mkdirSync(files, { recursive: true });
  const good = await gradient(16, 16).jpeg().toBuffer();
  fs.writeFileSync(path.join(files, '1-good.jpg'), good);
  fs.writeFileSync(path.join(files, '2-truncated.jpg'), good.subarray(0, good.length / 2));
  fs.writeFileSync(path.join(files, '3-text.jpg'), 'this is text, not a JPEG');
  fs.writeFileSync(path.join(files, '4-empty.png'), Buffer.alloc(0));
  fs.writeFileSync(path.join(files, '5-huge.png'), pngClaiming(20000, 20000));
  fs.writeFileSync(path.join(files, '6-good.jpg'), good);
  const ds = await data.ImageFolder.create(path.join(bad, 'files'), { transform: tf.compose([tf.resize([8, 8]), tf.toTensor()]) });
  for (let i = 1; i <= 4; i++) {
    await assert.rejects(ds.get(i), (e) => {
      assert.equal(e.code, 'BAD_FILE');
      assert.ok(e.message.includes(ds.samples[i][0]), e.message);
      return true;
    });
  }
  await assert.rejects(async () => { for await (const _ of new data.DataLoader(ds, { batchSize: 2 })) { /* consume */ } }, { code: 'BAD_FILE', message: /2-truncated\.jpg/ });

  const warnings = [];
  const onWarning = (w) => warnings.push(w.message);
  process.on('warning', onWarning);
  const loader = new data.DataLoader(ds, { batchSize: 2, skipBadImages: true });
  const seen = [];
  for await (const b of loader) seen.push(...b.paths.map((p) => path.basename(p)));
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.deepEqual(seen, ['1-good.jpg', '6-good.jpg']);
  assert.deepEqual(loader.skippedFiles.map((s) => path.basename(s.path)), ['2-truncated.jpg', '3-text.jpg', '4-empty.png', '5-huge.png']);
  assert.match(warnings.join('\n'), /skipped 4 unreadable image\(s\): .*2-truncated\.jpg/);

  // A file that disappears mid-epoch is reported with its path.
  const vanishing = await data.ImageFolder.create(path.join(bad, 'files'), { transform: tf.compose([tf.resize([8, 8]), tf.toTensor()]) });
  fs.rmSync(path.join(files, '6-good.jpg'));
  await assert.rejects(vanishing.get(5), { code: 'BAD_FILE', message: /6-good\.jpg/ });
  fs.rmSync(bad, { recursive: true, force: true });
});

test('decoding and batching in parallel for a while, with garbage collection, does not corrupt memory', { timeout: 120000 }, () => {
  // imagesToBatch used to release its references to the pixel buffers on a worker thread, which
  // corrupted V8's handles: this loop crashed the process in 7 runs of 8 here.
  const script = `
    const { data } = require('torchbridge');
    (async () => {
      const ds = await data.ImageFolder.create(${JSON.stringify(root)}, { transform: data.transforms.compose([data.transforms.resize(20), data.transforms.toTensor()]) });
      for (let round = 0; round < 300; round++) {
        await Promise.all(Array.from({ length: 16 }, () => ds.get(0)));
        if (round % 50 === 0) global.gc();
      }
      console.log('done');
    })();`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', cwd: __dirname });
  assert.equal(r.status, 0, `exit ${r.status} (${r.signal}): ${r.stderr.slice(-2000)}`);
  assert.equal(r.stdout.trim(), 'done');
});
