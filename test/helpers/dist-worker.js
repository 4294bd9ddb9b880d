'use strict';
// One rank of test/distributed.test.js, started with torchrun's variables (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT). Prints one JSON line with what it computed.
const { dist, nn, optim, tensor, manualSeed } = require('torchbridge');
const { makeData, makeModel } = require('./dist-shared');

const [scenario, json] = process.argv.slice(2);
const args = JSON.parse(json || '{}');

const scenarios = {
  async collectives() {
    const rank = dist.getRank();
    const size = dist.getWorldSize();
    const t = tensor([rank + 1, 10 * (rank + 1)]);
    await dist.allReduce(t);
    const m = tensor([rank]);
    await dist.allReduce(m, { op: 'max' });
    const b = tensor([rank * 100, rank * 100 + 1]);
    await dist.broadcast(b, size - 1);
    await dist.barrier();
    return { rank, size, sum: Array.from(t.toArray()), max: Array.from(m.toArray()), broadcast: Array.from(b.toArray()) };
  },

  async train() {
    // K steps of batch args.batch per rank over rank-specific slices of the same data.
    const rank = dist.getRank();
    const model = new nn.DistributedDataParallel(makeModel());
    const params = model.parameters();
    const opt = args.optimizer === 'adam' ? new optim.Adam(params, { lr: 1e-2 }) : new optim.SGD(params, { lr: 0.1, momentum: 0.9 });
    const crit = new nn.CrossEntropyLoss();
    for (let step = 0; step < args.steps; step++) {
      const { x, y } = makeData(step, rank * args.batch, args.batch);
      opt.zeroGrad();
      const loss = await crit.forward(await model.forward(x), y);
      await loss.backward();
      await opt.step();
    }
    return { rank, weights: model.module.parameters().map((p) => Array.from(p.toArray())) };
  },

  async loop() {
    // Collectives until a peer goes away; the error is the result.
    const t = tensor([1]);
    console.log(JSON.stringify({ ready: true }));
    for (;;) await dist.allReduce(t);
  },
};

(async () => {
  manualSeed(0);
  await dist.initProcessGroup({ timeoutMs: args.timeoutMs ?? 20000, worldSize: args.worldSize });
  const result = await scenarios[scenario]();
  console.log(JSON.stringify(result));
  dist.destroyProcessGroup();
})().catch((e) => {
  console.log(JSON.stringify({ error: e.message, code: e.code }));
  process.exit(1);
});
