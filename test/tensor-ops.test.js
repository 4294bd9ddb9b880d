'use strict';
// Parity of the tensor ops with Python PyTorch of the linked libtorch's version: every result and
// every input gradient compared byte for byte (test/python/tensor_ops.py computes the reference).
const test = require('node:test');
const assert = require('node:assert/strict');
const tb = require('torchbridge');
const { PYTHON, NO_PYTORCH } = require('./helpers/reference');

const { reference, encode } = require('./helpers/tensor-ops');

function makeInputs(specs) {
  return specs.map((s) => {
    const kind = s.kind ?? 'randn';
    let t;
    if (kind === 'randn') t = tb.randn(s.shape, { dtype: s.dtype ?? 'float32' });
    else if (kind === 'randint') t = tb.randint(s.low, s.high, s.shape, { dtype: s.dtype ?? 'int64' });
    else t = tb.randn(s.shape).gt(0);
    if (s.grad) t.requiresGrad_(true);
    return t;
  });
}

function encodeResult(r) {
  if (r instanceof tb.Tensor) return encode(r);
  if (Array.isArray(r)) return r.map(encodeResult);
  return { values: encode(r.values), indices: encode(r.indices) };
}

function tensorsIn(r) {
  if (r instanceof tb.Tensor) return [r];
  if (Array.isArray(r)) return r.flatMap(tensorsIn);
  return [r.values];
}

const x = { shape: [4, 6], grad: true };
const x3 = { shape: [2, 4, 3], grad: true };
const ints = { kind: 'randint', low: -5, high: 6, shape: [4, 6] };
const mask = (shape) => ({ kind: 'bool', shape });

// [name, inputs, Python expression over a, b, c, JS function of (a, b, c)]
const CASES = [
  // indexing and views
  ['narrow', [x], 'a.narrow(1, 1, 3)', (a) => a.narrow(1, 1, 3)],
  ['narrow negative start', [x], 'a.narrow(0, -2, 2)', (a) => a.narrow(0, -2, 2)],
  ['select', [x3], 'a.select(1, 2)', (a) => a.select(1, 2)],
  ['select negative', [x3], 'a.select(-1, -1)', (a) => a.select(-1, -1)],
  ['slice a[1:3]', [x], 'a[1:3]', (a) => a.slice(0, 1, 3)],
  ['slice a[:, 1:5:2]', [x], 'a[:, 1:5:2]', (a) => a.slice(1, 1, 5, 2)],
  ['slice a[-3::2]', [x], 'a[-3::2]', (a) => a.slice(0, -3, undefined, 2)],
  ['slice a[:, ::4] (past the end)', [x], 'a[:, ::4]', (a) => a.slice(1, null, null, 4)],
  ['slice a[:, 2:100]', [x], 'a[:, 2:100]', (a) => a.slice(1, 2, 100)],
  ['indexSelect', [x, { kind: 'randint', low: 0, high: 6, shape: [5] }], 'a.index_select(1, b)', (a, b) => a.indexSelect(1, b)],
  ['maskedSelect (broadcast mask)', [x, mask([6])], 'a.masked_select(b)', (a, b) => a.maskedSelect(b)],
  ['a[mask] (rows)', [x, mask([4])], 'a[b]', (a, b) => a.index(b)],
  ['a[a > 0]', [x], 'a[a > 0]', (a) => a.index(a.gt(0))],
  ['a[idx]', [x, { kind: 'randint', low: -4, high: 4, shape: [3] }], 'a[b]', (a, b) => a.index(b)],
  ['view', [x], 'a.view(3, 8)', (a) => a.view(3, 8)],
  ['view -1', [x3], 'a.view(-1, 3)', (a) => a.view([-1, 3])],
  ['reshape of transpose', [x], 'a.t().reshape(-1)', (a) => a.transpose(0, 1).reshape(-1)],
  ['permute', [x3], 'a.permute(2, 0, 1)', (a) => a.permute(2, 0, 1)],
  ['transpose', [x3], 'a.transpose(0, 2)', (a) => a.transpose(0, 2)],
  ['contiguous', [x3], 'a.transpose(0, 1).contiguous()', (a) => a.transpose(0, 1).contiguous()],
  ['squeeze', [{ shape: [1, 4, 1], grad: true }], 'a.squeeze()', (a) => a.squeeze()],
  ['squeeze dim', [{ shape: [1, 4, 1], grad: true }], 'a.squeeze(2)', (a) => a.squeeze(2)],
  ['unsqueeze', [x], 'a.unsqueeze(-1)', (a) => a.unsqueeze(-1)],
  ['flatten', [x3], 'a.flatten(1)', (a) => a.flatten(1)],
  ['expand', [{ shape: [4, 1], grad: true }], 'a.expand(4, 5)', (a) => a.expand(4, 5)],
  ['expand -1', [{ shape: [3], grad: true }], 'a.expand(2, -1)', (a) => a.expand([2, -1])],
  // combining
  ['cat dim 0', [x, { shape: [2, 6], grad: true }], 'torch.cat([a, b], 0)', (a, b) => tb.cat([a, b], 0)],
  ['cat dim 1 of three', [x, { shape: [4, 2], grad: true }, { shape: [4, 1] }], 'torch.cat([a, b, c], 1)', (a, b, c) => tb.cat([a, b, c], 1)],
  ['stack', [x, x], 'torch.stack([a, b], 1)', (a, b) => tb.stack([a, b], 1)],
  ['stack dim -1', [x, x], 'torch.stack([a, b], -1)', (a, b) => tb.stack([a, b], -1)],
  ['split', [x], 'a.split(4, 1)', (a) => a.split(4, 1)],
  ['split sizes', [x], 'a.split([1, 3], 0)', (a) => a.split([1, 3], 0)],
  ['chunk', [x], 'a.chunk(4, 1)', (a) => a.chunk(4, 1)],
  ['unbind', [x3], 'a.unbind(1)', (a) => a.unbind(1)],
  // math
  ['matmul 2-D', [x, { shape: [6, 5], grad: true }], 'a.matmul(b)', (a, b) => a.matmul(b)],
  ['matmul broadcast 3-D @ 2-D', [x3, { shape: [3, 5], grad: true }], 'torch.matmul(a, b)', (a, b) => tb.matmul(a, b)],
  ['matmul matrix @ vector', [x, { shape: [6], grad: true }], 'a.matmul(b)', (a, b) => a.matmul(b)],
  ['mm', [x, { shape: [6, 3], grad: true }], 'a.mm(b)', (a, b) => a.mm(b)],
  ['bmm', [x3, { shape: [2, 3, 2], grad: true }], 'a.bmm(b)', (a, b) => a.bmm(b)],
  ['mm float64', [{ shape: [5, 7], dtype: 'float64', grad: true }, { shape: [7, 3], dtype: 'float64' }], 'a.mm(b)', (a, b) => a.mm(b)],
  ['add broadcast', [x, { shape: [6], grad: true }], 'a + b', (a, b) => a.add(b)],
  ['sub scalar', [x], 'a - 1.5', (a) => a.sub(1.5)],
  ['mul broadcast column', [x, { shape: [4, 1], grad: true }], 'a * b', (a, b) => a.mul(b)],
  ['div', [x, x], 'a / b', (a, b) => a.div(b)],
  ['int + int scalar stays int64', [ints], 'a + 2', (a) => a.add(2)],
  ['int * float scalar', [ints], 'a * 0.5', (a) => a.mul(0.5)],
  ['int / int scalar (true division)', [ints], 'a / 3', (a) => a.div(3)],
  ['int + float tensor promotes', [ints, x], 'a + b', (a, b) => a.add(b)],
  ['exp', [x], 'a.exp()', (a) => a.exp()],
  ['log', [x], 'a.abs().log()', (a) => a.abs().log()],
  ['sqrt', [x], 'a.abs().sqrt()', (a) => a.abs().sqrt()],
  ['pow 2', [x], 'a.pow(2)', (a) => a.pow(2)],
  ['pow 2.5', [x], 'a.abs().pow(2.5)', (a) => a.abs().pow(2.5)],
  ['pow tensor', [x, x], 'a.abs().pow(b)', (a, b) => a.abs().pow(b)],
  ['clamp', [x], 'a.clamp(-0.5, 0.5)', (a) => a.clamp(-0.5, 0.5)],
  ['clamp min', [x], 'a.clamp(min=0.1)', (a) => a.clamp(0.1)],
  ['clamp max', [x], 'a.clamp(max=0)', (a) => a.clamp(null, 0)],
  ['clamp int', [ints], 'a.clamp(-2, 3)', (a) => a.clamp(-2, 3)],
  ['where', [mask([4, 6]), x, { shape: [6], grad: true }], 'torch.where(a, b, c)', (a, b, c) => tb.where(a, b, c)],
  ['where scalar', [mask([4, 6]), x], 'torch.where(a, b, 0.25)', (a, b) => tb.where(a, b, 0.25)],
  ['Tensor.where', [x, mask([4, 6]), x], 'a.where(b, c)', (a, b, c) => a.where(b, c)],
  ...['eq', 'ne', 'lt', 'le', 'gt', 'ge'].flatMap((op) => [
    [`${op} tensor`, [ints, { kind: 'randint', low: -5, high: 6, shape: [6] }], `a.${op}(b)`, (a, b) => a[op](b)],
    [`${op} scalar`, [x], `a.${op}(0.25)`, (a) => a[op](0.25)],
  ]),
  // reductions
  ['sum', [x3], 'a.sum()', (a) => a.sum()],
  ['sum dim', [x3], 'a.sum(1)', (a) => a.sum(1)],
  ['sum dims keepdim', [x3], 'a.sum([0, 2], keepdim=True)', (a) => a.sum([0, 2], true)],
  ['sum int', [ints], 'a.sum(0)', (a) => a.sum(0)],
  ['mean keepdim', [x3], 'a.mean(-1, True)', (a) => a.mean(-1, true)],
  ['max', [x], 'a.max()', (a) => a.max()],
  ['max dim', [x], 'a.max(1)', (a) => a.max(1)],
  ['min dim keepdim', [x3], 'a.min(0, keepdim=True)', (a) => a.min(0, true)],
  ['max int dim', [ints], 'a.max(0)', (a) => a.max(0)],
  ['max other', [x, x], 'a.max(b)', (a, b) => a.max(b)],
  ['min', [ints], 'a.min()', (a) => a.min()],
  ['argmax', [x], 'a.argmax()', (a) => a.argmax()],
  ['argmax dim', [x3], 'a.argmax(2, keepdim=True)', (a) => a.argmax(2, true)],
  ['std', [x3], 'a.std()', (a) => a.std()],
  ['std dim', [x3], 'a.std(1)', (a) => a.std(1)],
  ['std correction 0', [x3], 'a.std(1, correction=0, keepdim=True)', (a) => a.std(1, { correction: 0, keepdim: true })],
  ['var', [x3], 'a.var([0, 1])', (a) => a.var([0, 1])],
  ['var unbiased False', [x], 'a.var(0, unbiased=False)', (a) => a.var(0, { unbiased: false })],
  ['var correction 2', [x], 'a.var(1, correction=2)', (a) => a.var(1, { correction: 2 })],
  ['var float64', [{ shape: [50], dtype: 'float64', grad: true }], 'a.var()', (a) => a.var()],
  ['norm', [x3], 'a.norm()', (a) => a.norm()],
  ['norm p=1 dim', [x3], 'a.norm(1, 1)', (a) => a.norm(1, 1)],
  ['norm inf', [x], 'a.norm(float("inf"))', (a) => a.norm(Infinity)],
  ['norm p=3 dims keepdim', [x3], 'a.norm(3, [0, 2], keepdim=True)', (a) => a.norm(3, [0, 2], true)],
  // factories (the seed is set before the inputs, so random draws line up)
  ['zeros', [], 'torch.zeros(2, 3)', () => tb.zeros([2, 3])],
  ['ones int32', [], 'torch.ones(4, dtype=torch.int32)', () => tb.ones([4], { dtype: 'int32' })],
  ['full', [], 'torch.full((2, 2), 3.5)', () => tb.full([2, 2], 3.5)],
  ['arange', [], 'torch.arange(0, 10, 3)', () => tb.arange(0, 10, 3)],
  ['arange float', [], 'torch.arange(0, 1, 0.1)', () => tb.arange(0, 1, 0.1)],
  ['linspace', [], 'torch.linspace(-1, 1, 7)', () => tb.linspace(-1, 1, 7)],
  ['linspace float64', [], 'torch.linspace(0, 1, 11, dtype=torch.float64)', () => tb.linspace(0, 1, 11, { dtype: 'float64' })],
  ['randn', [], 'torch.randn(3, 5)', () => tb.randn([3, 5])],
  ['randint', [], 'torch.randint(0, 10, (20,))', () => tb.randint(0, 10, [20])],
  ['randint high only', [], 'torch.randint(7, (4, 3))', () => tb.randint(7, [4, 3])],
  ['randint int32', [], 'torch.randint(-3, 3, (9,), dtype=torch.int32)', () => tb.randint(-3, 3, [9], { dtype: 'int32' })],
  ['randperm', [], 'torch.randperm(12)', () => tb.randperm(12)],
  ['zerosLike', [x], 'torch.zeros_like(a)', (a) => tb.zerosLike(a)],
  ['onesLike int', [ints], 'torch.ones_like(a, dtype=torch.float64)', (a) => tb.onesLike(a, { dtype: 'float64' })],
  ['fullLike', [ints], 'torch.full_like(a, 7)', (a) => tb.fullLike(a, 7)],
  ['randnLike', [x], 'torch.randn_like(a)', (a) => tb.randnLike(a)],
  ['randLike', [x3], 'torch.rand_like(a)', (a) => tb.randLike(a)],
  // (libtorch 1.13 has no float16 exp on CPU)
  ['half math', [{ shape: [3, 4], dtype: 'float16' }], 'a.mul(a).sub(0.5).sum(1)', (a) => a.mul(a).sub(0.5).sum(1)],
  ['bfloat16 math', [{ shape: [3, 4], dtype: 'bfloat16' }], 'a.mul(a).mean(0)', (a) => a.mul(a).mean(0)],
];

test('tensor ops and their gradients are bitwise equal to PyTorch\'s', { skip: !PYTHON && NO_PYTORCH, timeout: 120000 }, async () => {
  const cases = CASES.map(([name, inputs, py], i) => ({ name, inputs, py, seed: 100 + i }));
  const want = reference('ops', { cases }).results;
  let comparisons = 0;
  for (let i = 0; i < CASES.length; i++) {
    const [name, specs, , js] = CASES[i];
    tb.manualSeed(100 + i);
    const inputs = makeInputs(specs);
    const r = await js(...inputs);
    assert.deepEqual(encodeResult(r), want[i].result, `${name}: result`);
    comparisons++;
    const parts = tensorsIn(r).filter((t) => t.requiresGrad).map((t) => t.mul(t).sum());
    assert.equal(parts.length > 0, want[i].grads !== undefined, `${name}: whether autograd recorded it`);
    if (parts.length > 0) {
      const loss = parts.slice(1).reduce((acc, p) => acc.add(p), parts[0]);
      await loss.backward();
      inputs.forEach((t, k) => {
        const g = t.grad;
        assert.deepEqual(g === null ? null : encode(g), want[i].grads[k], `${name}: gradient of input ${k}`);
        if (g) comparisons++;
      });
    }
  }
  console.log(`# ${CASES.length} op cases, ${comparisons} tensors compared bitwise`);
});

test('tensor() from nested arrays of every dtype equals torch.tensor', { skip: !PYTHON && NO_PYTORCH }, () => {
  const cases = [
    { data: [[0.1, -2.5e-3], [3.75, 1e5]], dtype: 'float32' },
    { data: [[0.1, -2.5e-3], [3.75, 1e300]], dtype: 'float64' },
    { data: [[0.1, -2.5e-3], [3.75, 65504]], dtype: 'float16' },
    { data: [[0.1, -2.5e-3], [3.75, 3e38]], dtype: 'bfloat16' },
    { data: [[1, -2], [2 ** 40, 7]], dtype: 'int64' },
    { data: [[1, -2], [2 ** 30, 7]], dtype: 'int32' },
    { data: [[1, -2], [32767, -32768]], dtype: 'int16' },
    { data: [[1, -2], [127, -128]], dtype: 'int8' },
    { data: [[1, 2], [255, 0]], dtype: 'uint8' },
    { data: [[true, false], [false, true]], dtype: 'bool' },
  ];
  const want = reference('tensor_from_data', { cases }).results;
  cases.forEach((c, i) => assert.deepEqual(encode(tb.tensor(c.data, { dtype: c.dtype })), want[i], c.dtype));
});

test('tensor() infers dtypes from typed arrays, bigints and booleans', () => {
  const cases = [
    [new Int16Array([1, -2]), 'int16', Int16Array],
    [new Int8Array([1, -2]), 'int8', Int8Array],
    [[[1n, -2n], [3n, 4n]], 'int64', BigInt64Array],
    [[[true], [false]], 'bool', Uint8Array],
    [2.5, 'float32', Float32Array],
  ];
  for (const [data, dtype, Ctor] of cases) {
    const t = tb.tensor(data);
    assert.equal(t.dtype, dtype);
    assert.ok(t.toArray() instanceof Ctor);
  }
  assert.deepEqual(tb.tensor(2.5).shape, []);
  assert.deepEqual(tb.tensor([[true], [false]]).shape, [2, 1]);
  assert.deepEqual(Array.from(tb.tensor(new Uint8Array([0, 3, 1]), { dtype: 'bool' }).toArray()), [0, 1, 1]);
  assert.deepEqual(tb.tensor([[], []]).shape, [2, 0]);
});

test('bad input: TorchErrors naming the parameter, expected and received value, and no crash', async () => {
  const a = tb.randn([4, 6]);
  assert.throws(() => a.narrow(2, 0, 1), { code: 'INDEX_ERROR', message: 'Tensor.narrow: Expected a dimension in range [-2, 1] for dim but received 2 of type number' });
  assert.throws(() => a.select(0, 4), { code: 'INDEX_ERROR', message: /select\(\): index 4 out of range for tensor of size \[4, 6\] at dimension 0/ });
  assert.throws(() => a.slice(1, 0, 3, 0), { code: 'INVALID_ARGUMENT', message: 'Tensor.slice: Expected positive integer for step but received 0 of type number' });
  assert.throws(() => a.slice(1, 0, 3, -1), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => a.narrow(0, 2, 3), { code: 'TORCH_ERROR', message: /start \(2\) \+ length \(3\) exceeds dimension size \(4\)/ });
  assert.throws(() => a.view(5, 5), { message: /shape '\[5, 5\]' is invalid for input of size 24/ });
  assert.throws(() => a.transpose(0, 1).view(-1), { message: /view size is not compatible with input tensor's size and stride/ });
  assert.throws(() => a.add(tb.randn([4])), { code: 'TORCH_ERROR', message: /The size of tensor a \(6\) must match the size of tensor b \(4\) at non-singleton dimension 1/ });
  assert.throws(() => a.add('1'), { code: 'INVALID_ARGUMENT', message: "Tensor.add: Expected Tensor or number for other but received '1' of type string" });
  await assert.rejects(a.mm(tb.randn([4, 6])), { message: /mat1 and mat2 shapes cannot be multiplied \(4x6 and 4x6\)/ });
  await assert.rejects(a.mm(tb.randn([6])), { code: 'INVALID_ARGUMENT', message: 'Tensor.mm: Expected a 2-D tensor for other but received a 1-D tensor' });
  await assert.rejects(a.bmm(a), { code: 'INVALID_ARGUMENT', message: 'Tensor.bmm: Expected a 3-D tensor for self but received a 2-D tensor' });
  assert.throws(() => tb.cat([a, tb.randn([4, 5])], 0), { message: /Sizes of tensors must match except in dimension 0/ });
  assert.throws(() => tb.cat([], 0), { code: 'INVALID_ARGUMENT', message: 'cat: Expected a non-empty array of Tensors for tensors but received an array of length 0' });
  assert.throws(() => tb.stack([a, 3]), { code: 'INVALID_ARGUMENT', message: 'stack: Expected Tensor for tensors[1] but received 3 of type number' });
  assert.throws(() => tb.stack([a, tb.randn([6, 4])]), { message: /stack expects each tensor to be equal size/ });
  assert.throws(() => a.indexSelect(0, tb.tensor([0.5])), { code: 'INVALID_ARGUMENT', message: 'Tensor.indexSelect: Expected a int64 or int32 tensor for index but received a float32 tensor' });
  assert.throws(() => a.indexSelect(0, tb.tensor([9n])), { code: 'INDEX_ERROR', message: /index out of range in self/ });
  assert.throws(() => a.maskedSelect(tb.ones([4, 6])), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => a.index(tb.tensor([true, false])), { code: 'INDEX_ERROR', message: /The shape of the mask \[2\] at index 0 does not match the shape of the indexed tensor \[4, 6\]/ });
  assert.throws(() => tb.where(a.gt(0).to({ dtype: 'uint8' }), a, 0), { code: 'INVALID_ARGUMENT', message: 'where: Expected a bool Tensor for condition but received a uint8 tensor' });
  assert.throws(() => a.clamp(), { code: 'INVALID_ARGUMENT', message: "Tensor.clamp: At least one of 'min' or 'max' must not be None" });
  assert.throws(() => a.std(0, { correction: 1, unbiased: true }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => a.max(3), { code: 'INDEX_ERROR' });
  assert.throws(() => a.split(0), { code: 'INVALID_ARGUMENT', message: 'Tensor.split: Expected positive integer for splitSize but received 0 of type number' });
  assert.throws(() => a.split([1, 2]), { message: /split_with_sizes expects split_sizes to sum exactly to 4/ });
  assert.throws(() => a.expand(3, 6), { message: /The expanded size of the tensor \(3\) must match the existing size \(4\)/ });
  assert.throws(() => tb.randint(5, 5, [2]), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => tb.randn([2], { dtype: 'int64' }), { message: /"normal_kernel_cpu" not implemented for 'Long'|randn/ });
  assert.throws(() => tb.linspace(0, 1, -1), { code: 'INVALID_ARGUMENT', message: 'linspace: Expected non-negative integer for steps but received -1 of type number' });
  assert.throws(() => tb.tensor([[1, 2], [3]]), { code: 'INVALID_ARGUMENT', message: 'tensor: Expected length 2 (a rectangular nested array, like data[0]) for data[1] but received an array of length 1' });
  assert.throws(() => tb.tensor([[1, 2], 3]), { code: 'INVALID_ARGUMENT', message: 'tensor: Expected an array (the first element at depth 1 is one) for data[1] but received 3 of type number' });
  assert.throws(() => tb.tensor([1, true]), { code: 'INVALID_ARGUMENT', message: 'tensor: Expected a number like the elements before it for data[1] but received true of type boolean' });
  assert.throws(() => tb.tensor(['1']), { code: 'INVALID_ARGUMENT', message: "tensor: Expected a number, bigint or boolean for data[0] but received '1' of type string" });
  assert.throws(() => tb.zerosLike([1]), { code: 'INVALID_ARGUMENT' });
});

test('max/min along a dim give { values, indices }; matmul resolves a Promise', async () => {
  const { values, indices } = tb.tensor([[1, 5, 2], [7, 0, 3]]).max(1);
  assert.deepEqual(Array.from(values.toArray()), [5, 7]);
  assert.deepEqual(Array.from(indices.toArray()), [1n, 0n]);
  const m = tb.tensor([[1, 2], [3, 4]]);
  const p = m.matmul(m);
  assert.ok(p instanceof Promise);
  assert.deepEqual(Array.from((await p).toArray()), [7, 10, 15, 22]);
});
