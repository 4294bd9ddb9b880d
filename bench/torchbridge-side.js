'use strict';
// torchbridge's side of bench/bench.js: one figure per process, the same work as
// bench/python/bench_side.py. Usage: node bench/torchbridge-side.js FIGURE JSON_ARGS.
const { nn, optim, amp, cuda, data, models, noGrad, setNumThreads, manualSeed, rand, tensor, training } = require('..');

const [figure, json] = process.argv.slice(2);
const args = JSON.parse(json);
setNumThreads(args.threads);
manualSeed(0);

const alexnet = (head) => training.buildModel(head, 2);
const peakRssMB = () => process.resourceUsage().maxRSS / 1024;
const now = () => performance.now() / 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The GPU figures (bench/gpu.js) pass a device and an AMP mode; CPU figures leave both at their default.
const device = args.device ?? 'cpu';
const ampMode = args.amp ?? 'off';
const onCuda = device.startsWith('cuda');
const sync = () => (onCuda ? cuda.synchronize() : Promise.resolve());
const scaler = ampMode === 'fp16' ? new amp.GradScaler() : null;
const withAmp = (fn) => training.withAmp(ampMode, device, fn);

// The recipe's step (training.trainStep), its output and loss freed at once.
async function trainStep(model, optimizer, criterion, input, target) {
  const { out, loss } = await training.trainStep({ model, optimizer, criterion, scaler, amp: ampMode, device }, input, target);
  out.dispose();
  loss.dispose();
}

// Batch-size steps of Adam (lr 1e-4) in train mode on one random batch; images/s after the warm-up.
async function timedTraining(model) {
  await model.to(device);
  model.train();
  const opt = new optim.Adam(model.parameters(), { lr: 1e-4, fused: !args.exact });
  const crit = new nn.CrossEntropyLoss();
  const x = rand([args.batch, 3, args.size, args.size]).to(device);
  const y = tensor(Array.from({ length: args.batch }, (_, i) => i % 2), { dtype: 'int64', device });
  let start = now();
  for (let i = 0; i < args.warmup + args.steps; i++) {
    if (i === args.warmup) {
      await sync();
      start = now();
    }
    opt.zeroGrad();
    await trainStep(model, opt, crit, x, y);
  }
  await sync();
  return { imagesPerSecond: (args.batch * args.steps) / (now() - start), peakRssMB: peakRssMB() };
}

// Eval-mode forwards without grad (and the argmax) on one random batch; images/s after the warm-up.
async function timedEvaluation(model) {
  await model.to(device);
  model.eval();
  const x = rand([args.batch, 3, args.size, args.size]).to(device);
  let start = now();
  for (let i = 0; i < args.warmup + args.steps; i++) {
    if (i === args.warmup) {
      await sync();
      start = now();
    }
    const out = await noGrad(() => withAmp(async () => model.forward(x)));
    out.argmax(1).dispose();
    out.dispose();
  }
  await sync();
  return { imagesPerSecond: (args.batch * args.steps) / (now() - start) };
}

const figures = {
  async seedStep() {
    const model = alexnet('append');
    await model.to(device);
    const opt = new optim.Adam(model.parameters(), { lr: 1e-8, fused: !args.exact });
    const crit = new nn.CrossEntropyLoss();
    const x = rand([1, 3, args.height, args.width]).to(device);
    const y = tensor([1], { dtype: 'int64', device });
    const times = [];
    for (let i = 0; i < args.warmup + args.steps; i++) {
      const start = now();
      await trainStep(model, opt, crit, x, y);
      await sync();
      if (i >= args.warmup) times.push(now() - start);
    }
    return { seconds: median(times) };
  },

  // The seed step's phases timed apart (forward + loss, backward, optimizer step), medians.
  async seedStepParts() {
    const model = alexnet('append');
    const opt = new optim.Adam(model.parameters(), { lr: 1e-8, fused: !args.exact });
    const crit = new nn.CrossEntropyLoss();
    const x = rand([1, 3, args.height, args.width]);
    const y = tensor([1], { dtype: 'int64' });
    const parts = { forward: [], backward: [], step: [] };
    for (let i = 0; i < args.warmup + args.steps; i++) {
      const t0 = now();
      const out = await model.forward(x);
      const loss = await crit.forward(out, y);
      const t1 = now();
      await loss.backward();
      const t2 = now();
      await opt.step();
      const t3 = now();
      out.dispose();
      loss.dispose();
      if (i >= args.warmup) [t1 - t0, t2 - t1, t3 - t2].forEach((s, k) => Object.values(parts)[k].push(s));
    }
    return Object.fromEntries(Object.entries(parts).map(([name, times]) => [name, median(times)]));
  },

  batchedTraining: () => timedTraining(alexnet('replace')),
  evaluation: () => timedEvaluation(alexnet('replace')),
  // torchvision's resnet18 (BatchNorm: its running stats update in training, are used in eval).
  resnet18Training: () => timedTraining(models.resnet18({ numClasses: 2 })),
  resnet18Evaluation: () => timedEvaluation(models.resnet18({ numClasses: 2 })),

  async dataPipeline() {
    const ds = await imageFolder();
    const start = now();
    for await (const b of new data.DataLoader(ds, { batchSize: 1 })) {
      b.input.dispose();
      b.target.dispose();
    }
    return { imagesPerSecond: ds.length / (now() - start) };
  },

  async seedEpoch() {
    // The seed's loop, as the CLI runs it (fused Adam unless exact), with a 10 ms timer watching
    // the event loop.
    const ds = await imageFolder();
    const loader = new data.DataLoader(ds, { batchSize: 1 });
    const model = alexnet('append');
    const opt = new optim.Adam(model.parameters(), { lr: 1e-8, fused: !args.exact });
    const sched = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 50 });
    const crit = new nn.CrossEntropyLoss();
    let maxGapMs = 0;
    let last = performance.now();
    const timer = setInterval(() => { const t = performance.now(); maxGapMs = Math.max(maxGapMs, t - last); last = t; }, 10);
    const start = now();
    model.train();
    opt.zeroGrad();
    for await (const { input, target } of loader) {
      await trainStep(model, opt, crit, input, target);
      input.dispose();
      target.dispose();
    }
    sched.step();
    const seconds = now() - start;
    clearInterval(timer);
    return { seconds, steps: ds.length, maxEventLoopStallMs: maxGapMs };
  },
};

async function imageFolder() {
  const tf = data.transforms;
  const ds = await data.ImageFolder.create(args.data, { transform: tf.compose([tf.resize(args.size), tf.toTensor()]) });
  if (args.limit) ds.samples.splice(args.limit);
  return ds;
}

figures[figure]().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });
