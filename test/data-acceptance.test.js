'use strict';
// Acceptance against torchvision on the real hymenoptera data (skipped when ../shared is absent):
// counts, classes, sample order, output sizes of every image, and the pixel difference.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { data } = require('torchbridge');
const { tmpDir, NO_VISION, haveVision, visionReference } = require('./helpers/reference');

const ROOT = path.join(__dirname, '..', '..', 'shared', 'data', 'hymenoptera_data');
const skip = (!fs.existsSync(ROOT) && `${ROOT} is not present`) || (!haveVision() && NO_VISION);

for (const split of ['train', 'val']) {
  test(`${split}: same samples, classes and image sizes as torchvision; pixels equal to torchvision+PIL`, { skip, timeout: 300000 }, async (t) => {
    const dir = tmpDir('acceptance');
    const pixels = path.join(dir, `${split}.raw`);
    const ref = visionReference('image_folder', { root: path.join(ROOT, split), size: 224, pixels });
    const tf = data.transforms;
    const ds = await data.ImageFolder.create(path.join(ROOT, split), { transform: tf.compose([tf.resize(224), tf.toTensor()]) });
    assert.equal(ds.length, split === 'train' ? 244 : 153);
    assert.deepEqual(ds.classes, ref.classes);
    assert.deepEqual(ds.classToIdx, ref.class_to_idx);
    assert.deepEqual(ds.samples, ref.samples);
    const theirs = fs.readFileSync(pixels);
    let offset = 0;
    let sum = 0;
    let count = 0;
    let worst = 0;
    const loader = new data.DataLoader(ds, { batchSize: 1 });
    let i = 0;
    for await (const { input } of loader) {
      const [c, h, w] = input.shape.slice(1);
      assert.equal(c, 3);
      assert.deepEqual([h, w], ref.sizes[i], ds.samples[i][0]);
      const ours = input.toArray();
      let imageSum = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let ch = 0; ch < 3; ch++) {
            const byte = Math.round(ours[ch * h * w + y * w + x] * 255); // ToTensor's byte / 255, undone
            imageSum += Math.abs(byte - theirs[offset + (y * w + x) * 3 + ch]) / 255;
          }
        }
      }
      offset += h * w * 3;
      sum += imageSum;
      count += h * w * 3;
      worst = Math.max(worst, imageSum / (h * w * 3));
      input.dispose();
      i++;
    }
    assert.equal(offset, theirs.length);
    const mean = sum / count;
    t.diagnostic(`${split}: ${i} images; mean |torchbridge - torchvision| = ${mean.toFixed(5)} on [0,1]; worst image ${worst.toFixed(5)}`);
    // Same decoder family (libjpeg-turbo) and PIL's resampling arithmetic: the pixels are equal.
    assert.equal(worst, 0, `pixels differ from torchvision's: mean abs difference ${mean}, worst image ${worst}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}
