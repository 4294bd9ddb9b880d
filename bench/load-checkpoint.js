'use strict';
// Load time of a ~233 MiB AlexNet-shaped state dict (random float32 weights, torch.save's zip
// format): torchbridge's io.load against torch.load in the same run. Not run by the tests.
//   node bench/load-checkpoint.js [repetitions]   (needs a Python PyTorch: PYTHON or .venv)
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { io } = require('..');

const reps = Number(process.argv[2] ?? 5);
const python = process.env.PYTHON ?? path.join(__dirname, '..', '.venv', 'bin', 'python');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-load-bench-'));
const file = path.join(dir, 'alexnet.pth');

const SHAPES = {
  'features.0.weight': [64, 3, 11, 11], 'features.0.bias': [64],
  'features.3.weight': [192, 64, 5, 5], 'features.3.bias': [192],
  'features.6.weight': [384, 192, 3, 3], 'features.6.bias': [384],
  'features.8.weight': [256, 384, 3, 3], 'features.8.bias': [256],
  'features.10.weight': [256, 256, 3, 3], 'features.10.bias': [256],
  'classifier.1.weight': [4096, 9216], 'classifier.1.bias': [4096],
  'classifier.4.weight': [4096, 4096], 'classifier.4.bias': [4096],
  'classifier.6.weight': [1000, 4096], 'classifier.6.bias': [1000],
};

const PY = `
import collections, json, sys, time, torch
shapes, path, reps = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
torch.save(collections.OrderedDict((k, torch.randn(*s)) for k, s in shapes.items()), path)
times = []
for _ in range(reps):
    t = time.perf_counter()
    sd = torch.load(path, weights_only=True)
    times.append(time.perf_counter() - t)
    del sd
print(json.dumps(times))
`;

async function main() {
  try {
    const torchTimes = JSON.parse(execFileSync(python, ['-c', PY, JSON.stringify(SHAPES), file, String(reps)], { encoding: 'utf8' }));
    const ours = [];
    for (let i = 0; i < reps; i++) {
      const t = process.hrtime.bigint();
      const sd = await io.load(file);
      ours.push(Number(process.hrtime.bigint() - t) / 1e9);
      for (const v of sd.values()) v.dispose();
    }
    const ms = (xs) => xs.map((x) => (x * 1000).toFixed(0)).join(', ');
    const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1] * 1000;
    console.log(`file: ${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB, ${reps} loads each`);
    console.log(`torchbridge io.load: ${ms(ours)} ms (median ${median(ours).toFixed(0)})`);
    console.log(`torch.load(weights_only=True): ${ms(torchTimes)} ms (median ${median(torchTimes).toFixed(0)})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
