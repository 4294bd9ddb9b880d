'use strict';
// Trains a small model with dropout; `full` runs all steps and saves a training checkpoint
// halfway, `resume` starts from that checkpoint in a fresh process. Prints the final weights.
const { nn, optim, io, rand, tensor, manualSeed, getRngState, setRngState } = require('torchbridge');

async function main() {
  const [mode, checkpoint, stepsArg] = process.argv.slice(2);
  const steps = Number(stepsArg);
  manualSeed(11);
  const model = new nn.Sequential(new nn.Linear(10, 32), new nn.ReLU(), new nn.Dropout(0.3), new nn.Linear(32, 3));
  const x = rand([8, 10]);
  const y = tensor([0, 1, 2, 0, 1, 2, 0, 1], { dtype: 'int64' });
  const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
  const sched = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 3 });
  const criterion = new nn.CrossEntropyLoss();
  let start = 0;
  if (mode === 'resume') {
    const ck = await io.load(checkpoint);
    await model.loadStateDict(ck.model);
    opt.loadStateDict(ck.optimizer);
    sched.loadStateDict(ck.scheduler);
    setRngState(ck.rng_state);
    start = ck.step;
  }
  for (let step = start; step < steps; step++) {
    if (mode === 'full' && step === steps / 2) {
      await io.save({ model: model.stateDict(), optimizer: opt.stateDict(), scheduler: sched.stateDict(), step, epoch: step, rng_state: getRngState() }, checkpoint);
    }
    opt.zeroGrad();
    const loss = await criterion.forward(await model.forward(x), y);
    await loss.backward();
    await opt.step();
    sched.step();
  }
  const weights = {};
  for (const [k, v] of model.stateDict()) weights[k] = Buffer.from(v.toArray().buffer).toString('base64');
  process.stdout.write(JSON.stringify(weights));
}

main().catch((err) => { console.error(err); process.exit(1); });
