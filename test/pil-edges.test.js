'use strict';
// Unusual images become exactly the tensor torchvision gives: ImageFolder's loader
// (Image.open(path).convert('RGB')) and ToTensor, on images Pillow writes here.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');
const { data } = require('torchbridge');
const { tmpDir, VISION_PYTHON } = require('./helpers/reference');

const haveVision = (() => {
  try {
    execFileSync(VISION_PYTHON, ['-c', 'import PIL, torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const tf = data.transforms;
let dir;
let modes;

test.before(async () => {
  if (!haveVision) return;
  dir = tmpDir('pil-edges');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // A real CMYK ICC profile to embed (libvips ships one); PIL must ignore it, as it does.
  const withProfile = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#336699' } })
    .toColourspace('cmyk').withIccProfile('cmyk').jpeg().toBuffer();
  const profile = path.join(dir, 'cmyk.icc');
  fs.writeFileSync(profile, (await sharp(withProfile).metadata()).icc);
  const out = execFileSync(VISION_PYTHON, [path.join(__dirname, 'python', 'pil_edges.py'), path.join(dir, 'images', 'x'), path.join(dir, 'expected'), profile], { encoding: 'utf8' });
  modes = JSON.parse(out);
});

test.after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

function expected(name) {
  const b = fs.readFileSync(path.join(dir, 'expected', `${name}.f32`));
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

async function compareAll(transform, suffix) {
  const ds = await data.ImageFolder.create(path.join(dir, 'images'), { transform, extensions: ['.png', '.jpg', '.gif', '.tif'] });
  assert.equal(ds.length, Object.keys(modes).length);
  const differing = [];
  for (let i = 0; i < ds.length; i++) {
    const name = path.basename(ds.samples[i][0]);
    const ours = (await ds.get(i)).input;
    const theirs = expected(name + suffix);
    const values = ours.toArray();
    let worst = 0;
    for (let k = 0; k < theirs.length; k++) worst = Math.max(worst, Math.abs(values[k] - theirs[k]));
    if (values.length !== theirs.length || worst !== 0) differing.push(`${name} (PIL mode ${modes[name]}): shape ${ours.shape}, max abs difference ${worst}`);
  }
  assert.deepEqual(differing, []);
}

test("each colour mode gives torchvision's ToTensor of PIL's convert('RGB'), bit for bit", { skip: !haveVision && 'Debian python3-torchvision not installed' }, async () => {
  // What Pillow opens them as: the conversions at stake.
  assert.deepEqual(modes, {
    'cmyk-no-adobe.jpg': 'CMYK', 'cmyk-profile.jpg': 'CMYK', 'cmyk.jpg': 'CMYK', 'gif-named.png': 'P',
    'grey-transparent.png': 'L', 'grey16-low.png': 'I', 'grey16-transparent.png': 'I', 'grey16.png': 'I',
    'grey16.tif': 'I;16', 'la.png': 'LA', 'la16.png': 'RGBA', 'one-bit.png': '1', 'palette-transparent.png': 'P',
    'rgb16.png': 'RGB', 'rgba.png': 'RGBA', 'rgba16.png': 'RGBA', 'transparent.gif': 'P',
  });
  await compareAll(tf.compose([tf.toTensor()]), '');
});

test('the same after a Resize: the conversion comes before resampling, as in PIL', { skip: !haveVision && 'Debian python3-torchvision not installed' }, async () => {
  await compareAll(tf.compose([tf.resize(29), tf.toTensor()]), '.resized');
});

test('a file linked to itself: "too many levels of symbolic links", naming it', async () => {
  const root = tmpDir('self-link');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'x'), { recursive: true });
  const file = path.join(root, 'x', 'loop.jpg');
  fs.symlinkSync('loop.jpg', file);
  try {
    const ds = await data.ImageFolder.create(root);
    assert.deepEqual(ds.samples, [[file, 0]]); // torchvision lists it too, and fails on opening it
    await assert.rejects(ds.get(0), (e) => {
      assert.equal(e.code, 'BAD_FILE');
      assert.ok(e.message.includes(file), e.message);
      assert.match(e.message, /too many levels of symbolic links \(ELOOP\)/);
      assert.doesNotMatch(e.message, /missing/);
      return true;
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
