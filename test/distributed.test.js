'use strict';
// torchbridge.dist on c10d/Gloo over loopback: collectives across 2 and 3 processes, DDP's
// equivalence with one process on the whole batch, DistributedSampler against PyTorch's, and the
// errors for a lost peer, an unreachable store and mismatched world sizes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { dist, data, io, nn, optim, scope, tensor, training } = require('torchbridge');
const { makeData, makeModel } = require('./helpers/dist-shared');
const { havePyTorch, reference, tmpDir, PYTHON, NO_PYTORCH } = require('./helpers/reference');

const WORKER = path.join(__dirname, 'helpers', 'dist-worker.js');

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Starts one worker per rank; resolves with each rank's exit code and last JSON line.
function launch(worldSize, scenario, args = {}, { port, envFor = () => ({}), onLine } = {}) {
  return Promise.all(Array.from({ length: worldSize }, (_, rank) => new Promise((resolve) => {
    const env = { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), ...envFor(rank) };
    const child = spawn(process.execPath, [WORKER, scenario, JSON.stringify(args)], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; onLine?.(rank, child, out); });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => {
      const lines = out.trim().split('\n').filter((l) => l.startsWith('{'));
      resolve({ rank, code, signal, result: lines.length ? JSON.parse(lines[lines.length - 1]) : null, stderr: err });
    });
  })));
}

test('allReduce, broadcast and barrier across 2 and 3 processes', { timeout: 120000 }, async () => {
  for (const worldSize of [2, 3]) {
    const runs = await launch(worldSize, 'collectives', {}, { port: await freePort() });
    const total = (worldSize * (worldSize + 1)) / 2;
    for (const r of runs) {
      assert.equal(r.code, 0, `rank ${r.rank}: ${JSON.stringify(r.result)} ${r.stderr}`);
      assert.deepEqual(r.result.sum, [total, 10 * total]);
      assert.deepEqual(r.result.max, [worldSize - 1]);
      assert.deepEqual(r.result.broadcast, [(worldSize - 1) * 100, (worldSize - 1) * 100 + 1]);
    }
  }
});

async function singleProcess(optimizer, steps) {
  const model = makeModel();
  const opt = optimizer === 'adam' ? new optim.Adam(model.parameters(), { lr: 1e-2 }) : new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const crit = new nn.CrossEntropyLoss();
  for (let step = 0; step < steps; step++) {
    const { x, y } = makeData(step, 0, 16);
    opt.zeroGrad();
    const loss = await crit.forward(await model.forward(x), y);
    await loss.backward();
    await opt.step();
  }
  return model.parameters().map((p) => Array.from(p.toArray()));
}

test('DDP: 2 workers x batch 8 give the weights of 1 worker x batch 16, with SGD and with Adam', { timeout: 180000 }, async (t) => {
  const steps = 6;
  for (const optimizer of ['sgd', 'adam']) {
    const expected = await singleProcess(optimizer, steps);
    const runs = await launch(2, 'train', { optimizer, steps, batch: 8 }, { port: await freePort() });
    for (const r of runs) {
      assert.equal(r.code, 0, `rank ${r.rank}: ${JSON.stringify(r.result)} ${r.stderr}`);
      let worst = 0;
      r.result.weights.forEach((w, i) => w.forEach((v, k) => { worst = Math.max(worst, Math.abs(v - expected[i][k])); }));
      assert.ok(worst < 1e-5, `${optimizer}, rank ${r.rank}: largest weight difference ${worst}`);
      t.diagnostic(`${optimizer}, rank ${r.rank}, ${steps} steps: largest weight difference to one process x batch 16: ${worst}`);
    }
  }
});

test('DistributedSampler yields PyTorch\'s indices: padding, dropLast, shuffle and setEpoch', { skip: !havePyTorch() && NO_PYTORCH }, () => {
  const cases = [];
  for (const [n, replicas] of [[10, 3], [7, 2], [4, 4], [3, 5]]) {
    for (const shuffle of [false, true]) {
      for (const dropLast of [false, true]) {
        for (const epoch of [0, 3]) cases.push({ n, replicas, shuffle, dropLast, epoch, seed: 11 });
      }
    }
  }
  const theirs = reference('distributed_sampler', { cases });
  cases.forEach((c, i) => {
    for (let rank = 0; rank < c.replicas; rank++) {
      const s = new data.DistributedSampler(c.n, { numReplicas: c.replicas, rank, shuffle: c.shuffle, dropLast: c.dropLast, seed: c.seed });
      s.setEpoch(c.epoch);
      assert.deepEqual(s.indices(), theirs[i][rank], JSON.stringify({ ...c, rank }));
      assert.equal(s.length, theirs[i][rank].length);
    }
  });
  assert.throws(() => new data.DistributedSampler(10), { code: 'INVALID_ARGUMENT', message: /initProcessGroup/ });
  assert.throws(() => new data.DistributedSampler(10, { numReplicas: 2, rank: 2 }), /Invalid rank 2/);
});

test('faults: a killed peer, an unreachable store and mismatched world sizes give clear errors, not hangs', { timeout: 120000 }, async () => {
  // A peer killed during collectives: the survivor fails within the timeout.
  let killed = false;
  const started = Date.now();
  const lost = await launch(2, 'loop', { timeoutMs: 5000 }, {
    port: await freePort(),
    onLine: (rank, child, out) => { if (rank === 1 && !killed && out.includes('"ready"')) { killed = true; setTimeout(() => child.kill('SIGKILL'), 300); } },
  });
  assert.equal(lost[1].signal, 'SIGKILL');
  assert.equal(lost[0].code, 1);
  assert.equal(lost[0].result.code, 'DISTRIBUTED');
  assert.match(lost[0].result.error, /dist\.allReduce: allReduce failed on rank 0 of 2: lost rank 1 \(its process exited\)/);
  assert.ok(Date.now() - started < 60000);

  // Nobody listens where rank 1 looks for the store.
  const [, alone] = await Promise.all([null, launch(1, 'collectives', { timeoutMs: 2000, worldSize: 2 }, { port: await freePort(), envFor: () => ({ RANK: '1' }) })]);
  assert.equal(alone[0].code, 1);
  assert.match(alone[0].result.error, /could not reach the store at 127\.0\.0\.1:\d+ \(check MASTER_ADDR and MASTER_PORT\)/);

  // Rank 1 believes in 3 ranks, rank 0 in 2.
  const mismatch = await launch(2, 'collectives', { timeoutMs: 4000 }, { port: await freePort(), envFor: (rank) => ({ WORLD_SIZE: rank === 1 ? '3' : '2' }) });
  assert.equal(mismatch[1].code, 1);
  assert.match(mismatch[1].result.error, /world size mismatch: this rank \(1\) was started with worldSize 3 but rank 0 with 2/);
  assert.equal(mismatch[0].code, 1);

  await assert.rejects(dist.initProcessGroup({ initMethod: 'tcp://127.0.0.1:99999', rank: 0, worldSize: 1 }), /port 99999 is out of range/);
  const saved = process.env.MASTER_ADDR;
  delete process.env.MASTER_ADDR;
  await assert.rejects(dist.initProcessGroup({ rank: 0, worldSize: 1 }), { code: 'INVALID_ARGUMENT', message: /MASTER_ADDR is not set \(torchrun sets it/ });
  if (saved !== undefined) process.env.MASTER_ADDR = saved;
  await assert.rejects(dist.allReduce(tensor([1])), /no process group/);
});

test('train.js --nproc-per-node 2 and torchrun give the same weights; rank 0 alone prints; a checkpoint resumes with 1 process', { skip: !havePyTorch() && NO_PYTORCH, timeout: 600000 }, async () => {
  const dir = tmpDir('dist-cli');
  process.env.TORCHBRIDGE_CACHE = path.join(dir, 'cache'); // the children inherit it
  const { root } = await training.ensureSyntheticDataset();
  const TRAIN = path.join(__dirname, '..', 'dist', 'train.js');
  const common = ['--data', root, '--weights', 'none', '--image-size', '64', '--seed', '1', '--json', '--dist-timeout', '60'];
  const run = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8', cwd: dir });

  const ours = run(process.execPath, [TRAIN, '--nproc-per-node', '2', '--epochs', '1', ...common, '--out', path.join(dir, 'ours')]);
  assert.equal(ours.status, 0, ours.stderr);
  const events = ours.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.equal(events.filter((e) => e.event === 'config').length, 1, 'one config line: rank 0 prints');
  assert.equal(events.filter((e) => e.event === 'epoch').length, 1);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'ours', 'run.json'), 'utf8')).worldSize, 2);

  const torchrun = run(PYTHON, ['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', String(await freePort()),
    // Debian's torchrun 1.13 on Python 3.11 cannot parse its own default --redirects/--tee of 0.
    '--redirects', '1', '--tee', '1', '--log_dir', path.join(dir, 'torchrun-logs'),
    '--no_python', process.execPath, TRAIN, '--epochs', '1', ...common, '--out', path.join(dir, 'torchrun')]);
  assert.equal(torchrun.status, 0, torchrun.stderr.slice(-3000));
  const a = await io.load(path.join(dir, 'ours', 'last.ckpt'));
  const b = await io.load(path.join(dir, 'torchrun', 'last.ckpt'));
  assert.equal(a.world_size, 2);
  for (const [k, v] of a.model) assert.equal(scope(() => v.eq(b.model.get(k)).sum().item()), v.numel(), `${k} differs`);

  const resumed = run(process.execPath, [TRAIN, '--epochs', '2', ...common, '--resume', path.join(dir, 'ours', 'last.ckpt'), '--out', path.join(dir, 'ours')]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const epochs = fs.readFileSync(path.join(dir, 'ours', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2]);
  fs.rmSync(dir, { recursive: true, force: true });
});
