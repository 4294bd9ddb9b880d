'use strict';
// A small three-class ImageFolder copied from the generated two-class set, for CLI runs that must
// not be mistaken for the generated set (a fallback to it would fail on the classes).
const fs = require('fs');
const path = require('path');
const { training } = require('torchbridge');

async function threeClassData(root) {
  const synthetic = (await training.ensureSyntheticDataset()).root;
  const from = { a: ['discs', 0], b: ['stripes', 0], c: ['discs', 16] };
  for (const [split, n] of [['train', 8], ['val', 4]]) {
    for (const [cls, [src, offset]] of Object.entries(from)) {
      fs.mkdirSync(path.join(root, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) {
        const name = `${String(offset + i).padStart(3, '0')}.jpg`;
        fs.copyFileSync(path.join(synthetic, split, src, name), path.join(root, split, cls, name));
      }
    }
  }
  return root;
}

module.exports = { threeClassData };
