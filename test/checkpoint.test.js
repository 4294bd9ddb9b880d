'use strict';
// Full-size checkpoints both ways with Python, atomic writes, exact resume, and pretrained weights.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');
const { execFileSync, spawn } = require('child_process');
const { io, models, nn, optim, randn, tensor, manualSeed, noGrad, getNumThreads } = require('torchbridge');
const { havePyTorch, reference, tmpDir, maxAbsDiff, NO_PYTORCH } = require('./helpers/reference');

const skip = !havePyTorch() && NO_PYTORCH;
let dir;
test.before(() => { dir = tmpDir('checkpoint'); });
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const f = (name) => path.join(dir, name);

test('a full-size torchvision AlexNet state_dict: zip and legacy load, forward matches, and Python reads our save bitwise', { skip, timeout: 300000 }, async (t) => {
  const ref = reference('alexnet_checkpoint', { seed: 3, threads: getNumThreads(), zip: f('alexnet.pth'), legacy: f('alexnet-legacy.pth'), input: f('input.pth') });
  const x = await io.load(f('input.pth'));
  for (const file of ['alexnet.pth', 'alexnet-legacy.pth']) {
    const sd = await io.load(f(file));
    const model = models.alexnet();
    await model.loadStateDict(sd);
    model.eval();
    const out = await noGrad(() => model.forward(x));
    const diff = maxAbsDiff(out.toArray(), ref.output);
    t.diagnostic(`${file}: forward max|diff| vs PyTorch ${diff}`);
    assert.ok(diff <= 1e-5, `${file}: outputs differ by ${diff}`);
    if (file === 'alexnet.pth') {
      await io.save(model.stateDict(), f('ours.pth'));
      const check = reference('check_saved', { ours: f('ours.pth'), reference: f('alexnet.pth') });
      assert.deepEqual(check, { type: 'OrderedDict', keys: true, bitwise: true, strict: '<All keys matched successfully>' });
    }
    model.dispose();
    for (const v of sd.values()) v.dispose();
  }
});

test('io.save is atomic: a writer killed mid-save leaves the previous file intact', { timeout: 120000 }, async (t) => {
  const target = f('atomic.pth');
  const previous = new Map([['w', tensor([1, 2, 3])]]);
  await io.save(previous, target);
  const before = fs.readFileSync(target);
  const child = spawn(process.execPath, [path.join(__dirname, 'helpers', 'slow-saver.js'), target], { stdio: ['ignore', 'pipe', 'inherit'] });
  let sawTemp = false;
  while (child.exitCode === null) {
    const temps = fs.readdirSync(dir).filter((n) => n.startsWith('.atomic.pth.') && n.endsWith('.tmp'));
    if (temps.length && fs.statSync(path.join(dir, temps[0])).size > 1 << 20) {
      sawTemp = true;
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const signal = await new Promise((r) => child.on('exit', (_, s) => r(s)));
  t.diagnostic(`killed the writer with ${signal} while its temp file was being written: ${sawTemp}`);
  assert.ok(sawTemp, 'the writer was caught mid-save');
  assert.equal(signal, 'SIGKILL');
  assert.deepEqual(fs.readFileSync(target), before);
  const back = await io.load(target);
  assert.deepEqual(Array.from(back.get('w').toArray()), [1, 2, 3]);
});

test('resuming from a training checkpoint in a fresh process continues bitwise', { timeout: 120000 }, () => {
  const ck = f('train.ckpt');
  const worker = path.join(__dirname, 'helpers', 'resume-worker.js');
  const full = JSON.parse(execFileSync(process.execPath, [worker, 'full', ck, '10'], { encoding: 'utf8' }));
  const resumed = JSON.parse(execFileSync(process.execPath, [worker, 'resume', ck, '10'], { encoding: 'utf8' }));
  assert.deepEqual(resumed, full);
  // Not trivially equal: the second half changed the weights.
  const half = JSON.parse(execFileSync(process.execPath, [worker, 'full', f('other.ckpt'), '5'], { encoding: 'utf8' }));
  assert.notDeepEqual(half, full);
});

test('an Adam checkpoint saved here continues in torch.optim.Adam exactly as here', { skip }, async () => {
  const spec = { seed: 3, inp: 6, hidden: 16, out: 3, batch: 5, threads: getNumThreads(), optimizer: 'adam', options: { lr: 1e-2, weightDecay: 0.01 }, more: 5, checkpoint: f('adam.pth') };
  const targets = reference('randint_targets', spec).targets;
  manualSeed(spec.seed);
  const model = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Linear(16, 3));
  const x = randn([5, 6]);
  const y = tensor(targets, { dtype: 'int64' });
  const opt = new optim.Adam(model.parameters(), spec.options);
  const criterion = new nn.CrossEntropyLoss();
  const run = async (n) => {
    for (let i = 0; i < n; i++) {
      opt.zeroGrad();
      await (await criterion.forward(await model.forward(x), y)).backward();
      await opt.step();
    }
  };
  await run(7);
  await io.save({ model: model.stateDict(), optimizer: opt.stateDict() }, spec.checkpoint);
  const python = reference('continue_adam', spec);
  await run(spec.more);
  assert.equal(python.step, 7 + spec.more);
  for (const [k, v] of model.stateDict()) assert.equal(maxAbsDiff(v.toArray(), python.weights[k]), 0, k);
});

test('pretrained weights: cache path, download with SHA-256 check, clear offline errors, head skipping', { skip, timeout: 300000 }, async () => {
  const fixture = f('alexnet.pth'); // written by the first test
  if (!fs.existsSync(fixture)) reference('alexnet_checkpoint', { seed: 3, threads: 1, zip: fixture, legacy: f('alexnet-legacy.pth'), input: f('input.pth') });
  const bytes = fs.readFileSync(fixture);
  const digest = crypto.createHash('sha256').update(bytes).digest('hex');
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    if (req.url === '/redirect') { res.writeHead(302, { location: '/alexnet-owt-7be5be79.pth' }); res.end(); return; }
    if (req.url !== '/alexnet-owt-7be5be79.pth') { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const savedHome = process.env.TORCH_HOME;
  try {
    // downloadUrlToFile: redirects followed, hash prefix checked, file written whole.
    const dst = f('downloads/alexnet.pth');
    await io.downloadUrlToFile(`${base}/redirect`, dst, { hashPrefix: digest.slice(0, 8), progress: false });
    assert.deepEqual(fs.readFileSync(dst), bytes);

    // 'DEFAULT' downloads into $TORCH_HOME/hub/checkpoints and checks the official prefix 7be5be79.
    process.env.TORCH_HOME = f('torch-home');
    const cached = path.join(process.env.TORCH_HOME, 'hub', 'checkpoints', 'alexnet-owt-7be5be79.pth');
    assert.equal(models.alexnet.defaultWeightsPath(), cached);
    await assert.rejects(models.alexnet.pretrained({ weights: 'DEFAULT', downloadUrl: `${base}/alexnet-owt-7be5be79.pth` }), (e) => {
      assert.equal(e.code, 'IO_ERROR');
      assert.match(e.message, new RegExp(`SHA-256 ${digest} does not start with the expected 7be5be79`));
      assert.ok(e.message.includes(cached), 'says where to put the file');
      return true;
    });
    assert.equal(fs.existsSync(cached), false, 'nothing half-written at the cache path');
    assert.deepEqual(fs.readdirSync(path.dirname(cached)), []);

    // Offline: a clear message that says exactly where to put the file.
    const closed = http.createServer();
    await new Promise((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${closed.address().port}/alexnet-owt-7be5be79.pth`;
    await new Promise((r) => closed.close(r));
    await assert.rejects(models.alexnet.pretrained({ weights: 'DEFAULT', downloadUrl: deadUrl }), (e) => {
      assert.equal(e.code, 'IO_ERROR');
      assert.match(e.message, /ECONNREFUSED/);
      assert.match(e.message, new RegExp(`copy the file from a machine that has it to ${cached.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      return true;
    });

    // A file already in the cache is used without any download.
    fs.copyFileSync(fixture, cached);
    const before = requests;
    const net = await models.alexnet.pretrained({ weights: 'DEFAULT', downloadUrl: deadUrl });
    assert.equal(requests, before);
    const sd = await io.load(fixture);
    assert.deepEqual(net.stateDict().get('features.0.weight').toArray(), sd.get('features.0.weight').toArray());

    // Another head: the checkpoint's classifier.6 is skipped, and exactly those keys are reported.
    let report;
    const two = await models.alexnet.pretrained({ weights: fixture, numClasses: 2, onLoad: (r) => { report = r; } });
    assert.deepEqual(report, { missingKeys: [], unexpectedKeys: [], skippedKeys: ['classifier.6.weight', 'classifier.6.bias'] });
    assert.deepEqual(two.classifier.at(6).weight.shape, [2, 4096]);
    assert.deepEqual(two.stateDict().get('classifier.4.weight').toArray(), sd.get('classifier.4.weight').toArray());
    await assert.rejects(models.alexnet.pretrained({ weights: f('nope.pth') }), { code: 'IO_ERROR' });
  } finally {
    if (savedHome === undefined) delete process.env.TORCH_HOME; else process.env.TORCH_HOME = savedHome;
    server.close();
  }
});
