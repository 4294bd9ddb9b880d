#!/usr/bin/env node
'use strict';
// On-demand soak (issue 16), not part of the test suite:
//  1. memory: RSS and live tensors over --steps training steps of a small model (as
//     test/memory.test.js, longer and with a report);
//  2. kill and resume: `node dist/train.js` on the generated data set, SIGKILLed at random times
//     --kills times, each time resumed with --resume (a run that ends before its kill starts a new
//     one), then the last run to its end. Counts the resumes that failed, the kills that left a
//     temp file (killed mid-save), and the temp files left at the end (later saves remove them).
// Usage: node bench/soak.js [--steps 1000] [--kills 20] [--epochs 3] [--seed 1] [--out DIR] [--keep]
//        (--steps 0 or --kills 0 skips that part). Exit status 1 if any check failed.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const yargs = require('yargs/yargs');
const { nn, optim, tensor, rand, memory, scope, manualSeed, io, training, Tensor } = require('..');

const argv = yargs(process.argv.slice(2))
  .option('steps', { type: 'number', default: 1000, describe: 'training steps of the memory check (0: skip)' })
  .option('kills', { type: 'number', default: 20, describe: 'SIGKILLs of train.js, each followed by --resume (0: skip)' })
  .option('epochs', { type: 'number', default: 3, describe: 'epochs of each train.js run (a run that ends before its kill starts a new one)' })
  .option('seed', { type: 'number', default: 1, describe: 'seeds the kill times' })
  .option('out', { type: 'string', describe: 'work folder (default: a new one under the OS temp folder)' })
  .option('keep', { type: 'boolean', default: false, describe: 'keep the work folder' })
  .strict().parseSync();

const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); return ok; };
const mb = (bytes) => Math.round(bytes / 2 ** 20);

async function memorySoak(steps) {
  manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(32, 64), new nn.ReLU(), new nn.Linear(64, 4));
  const criterion = new nn.CrossEntropyLoss();
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const sched = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 100 });
  const x = rand([16, 32]);
  const y = tensor(Array.from({ length: 16 }, (_, i) => i % 4), { dtype: 'int64' });
  const every = Math.max(1, Math.floor(steps / 10));
  const samples = [];
  const t0 = Date.now();
  for (let step = 0; step < steps; step++) {
    await scope(async () => {
      opt.zeroGrad();
      const out = await model.forward(x);
      const loss = await criterion.forward(out, y);
      await loss.backward();
      await opt.step();
      sched.step();
      out.argmax(1).eq(y).sum().item();
    });
    if ((step + 1) % every === 0) samples.push({ step: step + 1, tensors: memory().tensors, rssMB: mb(process.memoryUsage().rss) });
  }
  const warm = samples[1] ?? samples[0];
  const last = samples[samples.length - 1];
  const result = {
    steps, seconds: (Date.now() - t0) / 1000, samples,
    tensorsFlat: samples.every((s) => s.tensors === samples[0].tensors),
    rssGrowthAfterWarmupMB: last.rssMB - warm.rssMB,
  };
  console.log(`memory: ${steps} steps in ${result.seconds.toFixed(1)} s; live tensors ${samples.map((s) => s.tensors).join(', ')}; ` +
    `RSS MB ${samples.map((s) => s.rssMB).join(', ')}`);
  check(result.tensorsFlat, 'memory: the live tensor count changed');
  check(result.rssGrowthAfterWarmupMB < 64, `memory: RSS grew ${result.rssGrowthAfterWarmupMB} MB after warm-up`);
  [x, y, ...model.parameters()].forEach((t) => t.dispose());
  return result;
}

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function disposeAll(root) {
  const seen = new Set();
  for (const stack = [root]; stack.length;) {
    const v = stack.pop();
    if (!v || typeof v !== 'object' || Buffer.isBuffer(v) || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Tensor) v.dispose();
    else for (const x of v instanceof Map || v instanceof Set ? v.values() : Object.values(v)) stack.push(x);
  }
}

const tempFiles = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((f) => /^\..*\.\d+\.[0-9a-f]{8}\.tmp$/.test(f));

/** Runs train.js until it exits, or SIGKILLs it `killAfterFirstStepMs` after its first training step. */
function runTrain(args, env, killAfterFirstStepMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'dist', 'train.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let firstStepMs = null;
    let killed = false;
    const epochs = [];
    child.stdout.on('data', (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const e = JSON.parse(line);
        if (e.event === 'step' && firstStepMs === null) {
          firstStepMs = Date.now() - started;
          if (killAfterFirstStepMs !== null) setTimeout(() => { killed = child.kill('SIGKILL'); }, killAfterFirstStepMs);
        }
        if (e.event === 'epoch') epochs.push({ epoch: e.epoch, atMs: Date.now() - started });
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => resolve({ code, signal, killed, firstStepMs, epochs, ms: Date.now() - started, stderr: err }));
  });
}

async function killSoak(kills, seed, epochs, work) {
  const random = rng(seed);
  const cache = path.join(work, 'cache');
  process.env.TORCHBRIDGE_CACHE = cache;
  const data = (await training.ensureSyntheticDataset()).root;
  const env = { ...process.env, TORCHBRIDGE_CACHE: cache, TORCH_HOME: path.join(work, 'torch-home') };
  const runs = [];
  const newRun = () => { runs.push(path.join(work, `run-${runs.length + 1}`)); return runs[runs.length - 1]; };
  let out = newRun();
  const ckpt = () => path.join(out, 'last.ckpt');
  const args = () => ['--data', data, '--weights', 'none', '--epochs', String(epochs), '--image-size', '64', '--threads', '2', '--seed', '3', '--json', '--out', out,
    ...(fs.existsSync(ckpt()) ? ['--resume', ckpt()] : [])];
  let epochMs = 10000; // until measured: from one epoch's end to the next (steps, validation, checkpoint)
  const rounds = [];
  for (let k = 0; k < kills;) {
    const resumed = fs.existsSync(ckpt());
    const tempsBefore = new Set(tempFiles(out));
    // A fresh run is first let past its first checkpoint, so that most kills are followed by a resume.
    const delay = Math.round((resumed ? 0 : epochMs) + random() * epochMs * 1.2);
    const r = await runTrain(args(), env, delay);
    if (r.epochs.length >= 2) epochMs = r.epochs[1].atMs - r.epochs[0].atMs;
    else if (r.epochs.length === 1 && r.firstStepMs !== null) epochMs = Math.max(epochMs, r.epochs[0].atMs - r.firstStepMs);
    let lastCkptEpoch = null;
    if (fs.existsSync(ckpt())) {
      try {
        const ck = await io.load(ckpt());
        lastCkptEpoch = ck.epoch;
        disposeAll(ck);
      } catch (e) {
        lastCkptEpoch = `${e.code}: ${e.message}`;
      }
    }
    const round = {
      run: path.basename(out), resumed, killedAfterFirstStepMs: r.killed ? delay : null, // killed only once training runs
      exit: r.signal ?? r.code, epochsDone: r.epochs.map((e) => e.epoch), tempFilesAfter: tempFiles(out).length,
      newTempFiles: tempFiles(out).filter((f) => !tempsBefore.has(f)).length, lastCkptEpoch,
    };
    rounds.push(round);
    console.log(`${r.killed ? `kill ${k + 1}/${kills}` : 'finished before its kill'}: ${JSON.stringify(round)}`);
    check(lastCkptEpoch === null || typeof lastCkptEpoch === 'number', `${round.run}: last.ckpt does not load: ${lastCkptEpoch}`);
    if (r.killed) k++;
    else { // it ended before its kill (or had nothing left to do): the next kills go to a fresh run
      check(r.code === 0, `${round.run}: train.js exited ${round.exit}: ${r.stderr.slice(-500)}`);
      out = newRun();
    }
  }
  const finalResumed = fs.existsSync(ckpt());
  const final = await runTrain(args(), env, null);
  const left = runs.flatMap((dir) => tempFiles(dir).map((f) => path.join(path.basename(dir), f)));
  const ck = await io.load(ckpt());
  const finalEpoch = ck.epoch;
  disposeAll(ck);
  const killed = rounds.filter((r) => r.killedAfterFirstStepMs !== null);
  const result = {
    kills: killed.length, runs: runs.length, epochsPerRun: epochs,
    resumes: rounds.filter((r) => r.resumed).length + (finalResumed ? 1 : 0),
    resumesThatFailed: rounds.filter((r) => r.resumed && r.killedAfterFirstStepMs === null && r.exit !== 0).length + (finalResumed && final.code !== 0 ? 1 : 0),
    killsMidSave: killed.filter((r) => r.newTempFiles > 0).length, // each left a new temp file
    finalExit: final.code, finalEpoch, tempFilesAtEnd: left.length,
  };
  console.log(`kill and resume: ${JSON.stringify(result)}`);
  check(final.code === 0, `the final run exited ${final.code}: ${final.stderr.slice(-1000)}`);
  check(finalEpoch === epochs, `the final checkpoint is at epoch ${finalEpoch}, not ${epochs}`);
  check(left.length === 0, `temp files left at the end: ${left.join(', ')}`);
  return { ...result, rounds };
}

(async () => {
  const work = argv.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'torchbridge-soak-'));
  fs.mkdirSync(work, { recursive: true });
  const report = {};
  if (argv.steps > 0) report.memory = await memorySoak(argv.steps);
  if (argv.kills > 0) report.killResume = await killSoak(argv.kills, argv.seed, argv.epochs, work);
  report.failures = failures;
  fs.writeFileSync(path.join(work, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(failures.length ? `FAILED:\n  ${failures.join('\n  ')}` : 'all checks passed');
  console.log(`report: ${path.join(work, 'soak.json')}`);
  if (!argv.keep) {
    for (const sub of fs.readdirSync(work)) if (/^(run-\d+|cache|torch-home)$/.test(sub)) fs.rmSync(path.join(work, sub), { recursive: true, force: true });
  }
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
