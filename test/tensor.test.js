'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const tb = require('torchbridge');
const { tensor, zeros, ones, full, arange, rand, TorchError, DTYPES } = tb;

test('tensor() from every accepted input type keeps data, shape and dtype', () => {
  const cases = [
    [[1.5, 2, 3], 'float32', Float32Array],
    [new Float32Array([1.5, 2, 3]), 'float32', Float32Array],
    [new Float64Array([1.5, 2, 3]), 'float64', Float64Array],
    [new Int32Array([1, -2, 3]), 'int32', Int32Array],
    [new BigInt64Array([1n, -2n, 3n]), 'int64', BigInt64Array],
    [new Uint8Array([1, 2, 255]), 'uint8', Uint8Array],
  ];
  for (const [data, dtype, Ctor] of cases) {
    const t = tensor(data);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [3]);
    assert.equal(t.device, 'cpu');
    const arr = t.toArray();
    assert.ok(arr instanceof Ctor);
    assert.deepEqual(Array.from(arr), Array.from(data));
    t.dispose();
  }
});

test('nested arrays infer the shape; shape and dtype options convert', () => {
  const t = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(t.shape, [2, 3]);
  const r = tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2], dtype: 'int64' });
  assert.deepEqual(r.shape, [3, 2]);
  assert.deepEqual(Array.from(r.toArray()), [1n, 2n, 3n, 4n, 5n, 6n]);
  const h = tensor([0.5, 1.5], { dtype: 'float16' });
  assert.equal(h.dtype, 'float16');
  assert.deepEqual(Array.from(h.toArray()), [0.5, 1.5]);
  const b = tensor([0, 1, 1], { dtype: 'bool' });
  assert.deepEqual(Array.from(b.toArray()), [0, 1, 1]);
  assert.throws(() => tensor([[1, 2], [3]]), /rectangular/);
  assert.throws(() => tensor([1, 2, 3], { shape: [2, 2] }), { code: 'INVALID_ARGUMENT', message: 'tensor: shape [2, 2] holds 4 elements but data has 3' });
  assert.throws(() => tensor([1.5], { dtype: 'int64' }), { message: 'tensor: Expected integers for dtype int64 for data but received 1.5 of type number' });
  assert.throws(() => tensor([1], { dtype: 'float128' }), /Expected one of 'float32'.* for dtype but received 'float128' of type string/);
  assert.deepEqual(DTYPES.length, 10);
});

test('math for metrics: eq, sum, mean, argmax, unsqueeze, item', () => {
  const out = tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]);
  const labels = tensor([1, 0, 0], { dtype: 'int64' });
  const pred = out.argmax(1);
  assert.equal(pred.dtype, 'int64');
  assert.deepEqual(Array.from(pred.toArray()), [1n, 0n, 1n]);
  const correct = pred.eq(labels).sum().item();
  assert.equal(correct, 2);
  assert.equal(out.argmax().item(), 1);
  assert.ok(Math.abs(out.mean().item() - 0.5) < 1e-7);
  assert.deepEqual(out.sum(0).shape, [2]);
  assert.deepEqual(out.sum(1, true).shape, [3, 1]);
  assert.deepEqual(out.unsqueeze(0).shape, [1, 3, 2]);
  assert.deepEqual(out.flatten().shape, [6]);
  assert.deepEqual(out.reshape(2, 3).shape, [2, 3]);
  assert.deepEqual(out.reshape([6]).shape, [6]);
  assert.deepEqual(Array.from(tensor([1, 2]).add(1).mul(tensor([2, 3])).toArray()), [4, 9]);
  assert.deepEqual(Array.from(tensor([4, 9]).sqrt().sub(1).div(2).toArray()), [0.5, 1]);
  assert.throws(() => out.item(), (e) => e instanceof TorchError && e.code === 'TORCH_ERROR' && !/\.cpp|frame #/.test(e.message));
});

test('factories and to()', () => {
  assert.deepEqual(Array.from(zeros([2]).toArray()), [0, 0]);
  assert.deepEqual(Array.from(ones([2], { dtype: 'int32' }).toArray()), [1, 1]);
  assert.deepEqual(Array.from(full([2], 7).toArray()), [7, 7]);
  assert.deepEqual(Array.from(arange(4).toArray()), [0n, 1n, 2n, 3n]);
  assert.deepEqual(Array.from(arange(0, 1, 0.25).toArray()), [0, 0.25, 0.5, 0.75]);
  const r = rand([1000]);
  const arr = r.toArray();
  assert.ok(arr.every((v) => v >= 0 && v < 1));
  const d = r.to({ dtype: 'float64' });
  assert.equal(d.dtype, 'float64');
  assert.equal(r.to('cpu').device, 'cpu');
  if (!tb.cuda.isAvailable()) {
    assert.throws(() => r.to('cuda'), { code: 'DEVICE_UNAVAILABLE' });
    assert.throws(() => tensor([1], { device: 'cuda:0' }), { code: 'DEVICE_UNAVAILABLE' });
  }
  assert.throws(() => r.to('gpu'), { message: "Tensor.to: Expected 'cpu', 'cuda' or 'cuda:N' for device but received 'gpu' of type string" });
});

test('dispose frees at once, is idempotent, and use after dispose throws a clear error', () => {
  const before = tb.memory();
  const t = zeros([1000, 1000]);
  const during = tb.memory();
  assert.equal(during.tensors, before.tensors + 1);
  assert.equal(during.bytes, before.bytes + 4e6);
  t.dispose();
  t.dispose();
  assert.deepEqual(tb.memory(), before);
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.shape, { code: 'DISPOSED', message: 'Tensor.shape: tensor has been disposed' });
  assert.throws(() => t.add(1), { code: 'DISPOSED' });
  assert.throws(() => tensor([1]).add(t), { code: 'DISPOSED', message: 'Tensor.add: other has been disposed' });
  assert.equal(String(t), 'tensor(<disposed>)');
});

test('views share one storage in the byte count', () => {
  const before = tb.memory();
  const a = zeros([10, 10]);
  const v = a.reshape(100);
  const after = tb.memory();
  assert.equal(after.tensors, before.tensors + 2);
  assert.equal(after.bytes, before.bytes + 400);
  a.dispose();
  v.dispose();
});

test('scope() disposes what a block created except what it returns, sync and async', async () => {
  const before = tb.memory().tensors;
  const kept = tb.scope(() => {
    const a = ones([3]);
    const b = a.mul(2);
    a.add(b);
    return { b };
  });
  assert.equal(tb.memory().tensors, before + 1);
  assert.deepEqual(Array.from(kept.b.toArray()), [2, 2, 2]);
  kept.b.dispose();
  const out = await tb.scope(async () => {
    const a = ones([3]);
    await new Promise((r) => setTimeout(r, 1));
    const inner = tb.scope(() => [a.add(1), a.add(2)]);
    return inner[1];
  });
  assert.equal(tb.memory().tensors, before + 1);
  assert.deepEqual(Array.from(out.toArray()), [3, 3, 3]);
  out.dispose();
  await assert.rejects(tb.scope(async () => { ones([1]); throw new Error('boom'); }), /boom/);
  assert.equal(tb.memory().tensors, before);
});
