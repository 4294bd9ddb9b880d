'use strict';
// Datasets beyond image folders: TensorDataset, randomSplit and defaultCollate, and the DataLoader
// over any Dataset, compared with torch.utils.data (test/python/tensor_ops.py).
const test = require('node:test');
const assert = require('node:assert/strict');
const tb = require('torchbridge');
const { PYTHON, NO_PYTORCH } = require('./helpers/reference');

const { data } = tb;
const { reference, encode } = require('./helpers/tensor-ops');

const range = (n) => ({ length: n, get: (i) => i });

test('randomSplit draws the indices torch.utils.data.random_split draws', { skip: !PYTHON && NO_PYTORCH }, () => {
  const cases = [
    { n: 10, lengths: [0.8, 0.2], seed: 42 },
    { n: 7, lengths: [0.5, 0.5], seed: 0 },
    { n: 11, lengths: [0.3, 0.3, 0.4], seed: 3 },
    { n: 101, lengths: [0.25, 0.25, 0.25, 0.25], seed: 1234 },
    { n: 10, lengths: [3, 7], seed: 5 },
    { n: 1000, lengths: [0.7, 0.2, 0.1], seed: 2 ** 40 },
  ];
  const twice = { n: 9, lengths: [0.6, 0.4], seed: 77 };
  const ref = reference('random_split', { cases, twice });
  const want = ref.splits;
  const g = new tb.Generator().manualSeed(twice.seed);
  const again = [0, 1].map(() => data.randomSplit(range(twice.n), twice.lengths, { generator: g }).map((s) => s.indices));
  assert.deepEqual(again, ref.twice);
  cases.forEach((c, i) => {
    const got = data.randomSplit(range(c.n), c.lengths, { seed: c.seed });
    assert.deepEqual(got.map((s) => s.indices), want[i], JSON.stringify(c));
    assert.deepEqual(got.map((s) => s.length), want[i].map((s) => s.length));
  });
  const [first] = data.randomSplit(range(10), [0.8, 0.2], { seed: 42 });
  assert.equal(first.get(0), want[0][0][0]);
});

test('DataLoader over a TensorDataset with shuffle (global generator or a Generator) yields PyTorch\'s batches and keeps its generator in step', { skip: !PYTHON && NO_PYTORCH }, async () => {
  const specs = [
    { seed: 7, n: 23, features: 5, batchSize: 4, dropLast: false, epochs: 2 },
    { seed: 8, n: 10, features: 3, batchSize: 3, dropLast: true, epochs: 2 },
    { seed: 9, n: 17, features: 2, batchSize: 5, dropLast: false, epochs: 3, generator: 1234 },
  ];
  for (const spec of specs) {
    const want = reference('loader', spec).epochs;
    tb.manualSeed(spec.seed);
    const x = tb.randn([spec.n, spec.features]);
    const y = tb.randint(0, 3, [spec.n]);
    const generator = spec.generator === undefined ? undefined : new tb.Generator().manualSeed(spec.generator);
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: spec.batchSize, shuffle: true, rng: 'torch', dropLast: spec.dropLast, generator });
    for (let e = 0; e < spec.epochs; e++) {
      const got = [];
      for await (const [xb, yb] of loader) got.push({ x: encode(xb), y: encode(yb), draw: encode(tb.rand([1])) });
      assert.equal(got.length, loader.length);
      assert.deepEqual(got, want[e], `seed ${spec.seed} epoch ${e}`);
    }
  }
});

test('defaultCollate stacks tensors, makes int64/float64 of numbers and recurses like default_collate', { skip: !PYTHON && NO_PYTORCH }, () => {
  const want = reference('collate', { seed: 11, n: 4 });
  tb.manualSeed(11);
  const samples = [];
  for (let i = 0; i < 4; i++) samples.push({ x: tb.randn([3]), label: i, weight: i + 0.5, pair: [i, tb.randn([2])] });
  const b = data.defaultCollate(samples);
  assert.deepEqual({ x: encode(b.x), label: encode(b.label), weight: encode(b.weight), pair: b.pair.map(encode) }, want);
  assert.deepEqual(data.defaultCollate([['a', 1n, true], ['b', 2n, false]]).map((v) => (v instanceof tb.Tensor ? v.dtype : v)), [['a', 'b'], 'int64', 'bool']);
  const typed = data.defaultCollate([new Float32Array([1, 2]), new Float32Array([3, 4])]);
  assert.deepEqual([typed.dtype, typed.shape], ['float32', [2, 2]]);
});

test('any Dataset: async get, objects, a DistributedSampler, and what get() creates is freed', async () => {
  const x = tb.arange(0, 20, 1, { dtype: 'float32' }).reshape(10, 2);
  const ds = {
    length: 10,
    async get(i) { return { features: x.select(0, i).mul(2), id: i }; },
  };
  const loader = new data.DataLoader(ds, { batchSize: 4 });
  const before = tb.memory().tensors;
  const ids = [];
  for await (const b of loader) {
    assert.deepEqual(b.features.shape, [b.id.shape[0], 2]);
    ids.push(...Array.from(b.id.toArray(), Number));
    assert.equal(tb.scope(() => b.features.select(1, 1).sub(b.features.select(1, 0)).eq(2).sum().item()), b.id.shape[0]);
    b.features.dispose();
    b.id.dispose();
  }
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(tb.memory().tensors, before, 'the per-sample tensors were freed');

  const sampler = new data.DistributedSampler(10, { numReplicas: 3, rank: 1, seed: 4 });
  const tds = new data.TensorDataset(x);
  const rows = [];
  for await (const [xb] of new data.DataLoader(tds, { batchSize: 2, sampler })) rows.push(...Array.from(xb.select(1, 0).toArray(), (v) => v / 2));
  assert.deepEqual(rows, sampler.indices());
  assert.equal(sampler.indices().length, 4);

  const shuffled = [];
  for await (const [xb] of new data.DataLoader(tds, { batchSize: 3, shuffle: true, seed: 1 })) shuffled.push(...Array.from(xb.select(1, 0).toArray(), (v) => v / 2));
  assert.deepEqual([...shuffled].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(shuffled, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('bad datasets and splits: TorchErrors naming what was expected and received', async () => {
  assert.throws(() => new data.DataLoader({ length: 3 }), { code: 'INVALID_ARGUMENT', message: 'data.DataLoader: Expected a data.ImageFolder or a Dataset (length and get()) for dataset but received an object' });
  assert.throws(() => new data.TensorDataset(tb.zeros([3, 2]), tb.zeros([4])), { code: 'VALUE_ERROR', message: 'data.TensorDataset: Size mismatch between tensors: first dimensions are [3, 4]' });
  assert.throws(() => new data.TensorDataset(tb.zeros([3]), 5), { code: 'INVALID_ARGUMENT', message: 'data.TensorDataset: Expected Tensor for tensors[1] but received 5 of type number' });
  assert.throws(() => new data.TensorDataset(tb.zeros([3])).get(3), { code: 'INDEX_ERROR', message: 'data.TensorDataset.get: Expected an index in [-3, 2] for index but received 3' });
  assert.throws(() => data.randomSplit(range(10), [3, 6]), { code: 'VALUE_ERROR', message: 'data.randomSplit: Sum of input lengths (9) does not equal the length of the input dataset (10)' });
  assert.throws(() => data.randomSplit(range(10), [0.5, -0.5, 1]), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => data.randomSplit(range(10), [2.5, 7.5]), { code: 'INVALID_ARGUMENT', message: 'data.randomSplit: Expected non-negative integer for lengths[0] but received 2.5 of type number' });
  assert.throws(() => data.defaultCollate([1, 'a']), { code: 'TYPE_ERROR', message: 'data.defaultCollate: Expected a number for batch[1] like batch[0] but received a string' });
  assert.throws(() => data.defaultCollate([[1, 2], [3]]), { code: 'VALUE_ERROR' });
  assert.throws(() => data.defaultCollate([null]), { code: 'TYPE_ERROR' });
  const failing = { length: 4, get(i) { if (i === 2) throw new Error('row 2 is corrupt'); return tb.zeros([1]); } };
  await assert.rejects(async () => { for await (const b of new data.DataLoader(failing, { batchSize: 2 })) b.dispose(); }, /row 2 is corrupt/);
});
