'use strict';
// Wrong shapes, dtypes, NaN, negative sizes, undefined, disposed objects and wrong devices fed to
// every public function: each must fail with a TorchError (thrown or rejected), never crash.
const test = require('node:test');
const assert = require('node:assert/strict');
const tb = require('torchbridge');
const { nn, optim, models, tensor, zeros, ones, full, rand, randn, arange, TorchError } = tb;
const { CosineAnnealingLR, StepLR } = optim.lrScheduler;

function disposed() {
  const t = rand([2, 3]);
  t.dispose();
  return t;
}

async function outcome(fn) {
  try {
    const r = fn();
    if (r && typeof r.then === 'function') await r;
    return null;
  } catch (e) {
    return e;
  }
}

const lin = () => new nn.Linear(3, 2);
const params = () => [zeros([2], { requiresGrad: true })];

const cases = {
  // factories
  'tensor(undefined)': () => tensor(undefined),
  'tensor(string)': () => tensor('abc'),
  'tensor(objects)': () => tensor([{}, {}]),
  'tensor negative shape': () => tensor([1, 2], { shape: [-1, -2] }),
  'tensor NaN shape': () => tensor([1], { shape: [NaN] }),
  'tensor bad dtype': () => tensor([1], { dtype: 'float128' }),
  'tensor NaN int': () => tensor([NaN], { dtype: 'int32' }),
  'tensor bad device': () => tensor([1], { device: 'cuda:99' }),
  'tensor device typo': () => tensor([1], { device: 'CPU' }),
  'zeros(-1)': () => zeros([-1]),
  'zeros(undefined)': () => zeros(undefined),
  'ones(2.5)': () => ones([2.5]),
  'rand(NaN)': () => rand([NaN]),
  'randn(string)': () => randn(['3']),
  'full string value': () => full([2], 'x'),
  'arange step 0': () => arange(0, 10, 0),
  'arange NaN': () => arange(NaN),
  // tensor methods
  'add(string)': () => rand([2]).add('x'),
  'add(disposed)': () => rand([2, 3]).add(disposed()),
  'add shape mismatch': () => rand([2, 3]).add(rand([4])),
  'method on disposed': () => disposed().sum(),
  'argmax dim out of range': () => rand([2]).argmax(5),
  'argmax dim NaN': () => rand([2]).argmax(NaN),
  'unsqueeze out of range': () => rand([2]).unsqueeze(10),
  'reshape wrong size': () => rand([2, 3]).reshape(7),
  'reshape -5': () => rand([2, 3]).reshape(-5),
  'flatten bad dims': () => rand([2]).flatten(3, 9),
  'sum dim NaN': () => rand([2]).sum(NaN),
  'item of many': () => rand([3]).item(),
  'to bad device': () => rand([2]).to('xpu'),
  'to bad dtype': () => rand([2]).to({ dtype: 'complex' }),
  'to cuda without cuda': () => (tb.cuda.isAvailable() ? rand([2]).to('cuda:99') : rand([2]).to('cuda')),
  'requiresGrad_ on int': () => tensor([1], { dtype: 'int64' }).requiresGrad_(true),
  'backward non-scalar': () => rand([2], { requiresGrad: true }).mul(2).backward(),
  'backward without grad': () => rand([1]).sum().backward(),
  'backward bad gradient': () => rand([1], { requiresGrad: true }).backward('x'),
  // layers
  'Linear negative': () => new nn.Linear(-1, 2),
  'Linear fractional': () => new nn.Linear(1.5, 2),
  'Linear undefined': () => new nn.Linear(undefined, 2),
  'Linear bad bias': () => new nn.Linear(2, 2, { bias: 'yes' }),
  'Conv2d zero kernel': () => new nn.Conv2d(3, 4, 0),
  'Conv2d negative stride': () => new nn.Conv2d(3, 4, 3, { stride: -1 }),
  'Conv2d groups': () => new nn.Conv2d(3, 4, 3, { groups: 2 }),
  'MaxPool2d 0': () => new nn.MaxPool2d(0),
  'AdaptiveAvgPool2d -1': () => new nn.AdaptiveAvgPool2d(-1),
  'Dropout 1.5': () => new nn.Dropout(1.5),
  'Dropout NaN': () => new nn.Dropout(NaN),
  'Softmax dim string': () => new nn.Softmax({ dim: 'a' }),
  'Flatten 0.5': () => new nn.Flatten(0.5),
  'CrossEntropyLoss reduction': () => new nn.CrossEntropyLoss({ reduction: 'avg' }),
  'CrossEntropyLoss smoothing': () => new nn.CrossEntropyLoss({ labelSmoothing: 2 }),
  'Sequential non-module': () => new nn.Sequential({}),
  'alexnet numClasses 0': () => models.alexnet({ numClasses: 0 }),
  'alexnet dropout 2': () => models.alexnet({ dropout: 2 }),
  // forward with bad input
  'Linear wrong shape': () => lin().forward(rand([2, 4])),
  'Linear wrong dtype': () => lin().forward(tensor([1, 2, 3], { dtype: 'int64' }).unsqueeze(0)),
  'Linear undefined input': () => lin().forward(undefined),
  'Linear disposed input': () => lin().forward(disposed()),
  'Linear disposed module': () => { const l = lin(); l.dispose(); return l.forward(rand([1, 3])); },
  'Conv2d 2-D input': () => new nn.Conv2d(3, 4, 3).forward(rand([3, 5])),
  'Conv2d input smaller than kernel': () => new nn.Conv2d(3, 4, 5).forward(rand([1, 3, 2, 2])),
  'MaxPool2d input too small': () => new nn.MaxPool2d(3).forward(rand([1, 1, 1, 1])),
  'AlexNet tiny image': () => models.alexnet().forward(rand([1, 3, 8, 8])),
  'Softmax dim out of range': () => new nn.Softmax({ dim: 4 }).forward(rand([2, 2])),
  'CrossEntropy float target wrong shape': () => new nn.CrossEntropyLoss().forward(rand([2, 3]), rand([5])),
  'CrossEntropy target out of range': () => new nn.CrossEntropyLoss().forward(rand([2, 3]), tensor([0, 7], { dtype: 'int64' })),
  'CrossEntropy negative target': () => new nn.CrossEntropyLoss().forward(rand([2, 3]), tensor([0, -3], { dtype: 'int64' })),
  'functional.linear weight undefined': () => nn.functional.linear(rand([1, 3]), undefined),
  'module to bad device': () => lin().to('cuda:7'),
  // module methods
  'loadStateDict undefined': () => lin().loadStateDict(undefined),
  'loadStateDict non-tensor value': () => lin().loadStateDict({ weight: [1, 2], bias: zeros([2]) }),
  'loadStateDict disposed value': () => lin().loadStateDict({ weight: disposed(), bias: zeros([2]) }),
  'registerModule dotted name': () => lin().registerModule('a.b', lin()),
  'registerParameter non-leaf': () => { const t = rand([2], { requiresGrad: true }); return lin().registerParameter('p', t.mul(2)); },
  'train(string)': () => lin().train('yes'),
  'zeroGrad bad option': () => lin().zeroGrad({ setToNone: 'x' }),
  // optimizers and schedulers
  'Adam empty': () => new optim.Adam([]),
  'Adam undefined': () => new optim.Adam(undefined),
  'Adam negative lr': () => new optim.Adam(params(), { lr: -1 }),
  'Adam NaN lr': () => new optim.Adam(params(), { lr: NaN }),
  'Adam betas': () => new optim.Adam(params(), { betas: [1, 2] }),
  'Adam non-tensor param': () => new optim.Adam([1, 2]),
  'Adam duplicate params': () => { const p = params(); return new optim.Adam([{ params: p }, { params: p }]); },
  'SGD missing lr': () => new optim.SGD(params()),
  'SGD nesterov without momentum': () => new optim.SGD(params(), { lr: 0.1, nesterov: true }),
  'optimizer loadStateDict bad': () => new optim.Adam(params()).loadStateDict({ state: {}, param_groups: [] }),
  'optimizer step with disposed param': () => { const p = params(); const o = new optim.SGD(p, { lr: 1 }); p[0].dispose(); return o.step(); },
  'Cosine without optimizer': () => new CosineAnnealingLR(undefined, { tMax: 5 }),
  'Cosine tMax 0': () => new CosineAnnealingLR(new optim.SGD(params(), { lr: 1 }), { tMax: 0 }),
  'Cosine tMax 1.5': () => new CosineAnnealingLR(new optim.SGD(params(), { lr: 1 }), { tMax: 1.5 }),
  'Cosine resume without initialLr': () => new CosineAnnealingLR(new optim.SGD(params(), { lr: 1 }), { tMax: 5, lastEpoch: 3 }),
  'StepLR negative': () => new StepLR(new optim.SGD(params(), { lr: 1 }), { stepSize: -1 }),
  'scheduler loadStateDict bad': () => new StepLR(new optim.SGD(params(), { lr: 1 }), { stepSize: 1 }).loadStateDict({ base_lrs: 'x' }),
  // globals
  'manualSeed NaN': () => tb.manualSeed(NaN),
  'manualSeed 1.5': () => tb.manualSeed(1.5),
  'setNumThreads 0': () => tb.setNumThreads(0),
  'setNumThreads string': () => tb.setNumThreads('2'),
  'noGrad non-function': () => tb.noGrad(5),
  'scope non-function': () => tb.scope(null),
};

test('every public function rejects bad input with a TorchError and the process survives', async () => {
  const failures = [];
  for (const [name, fn] of Object.entries(cases)) {
    const err = await outcome(fn);
    if (!(err instanceof TorchError)) failures.push(`${name}: ${err ? `${err.constructor.name}: ${err.message}` : 'no error'}`);
    else if (/frame #|\.cpp:\d+|Exception raised from/.test(err.message)) failures.push(`${name}: C++ backtrace in message: ${err.message}`);
  }
  assert.deepEqual(failures, []);
  assert.equal(tb.getNumThreads() > 0, true);
});

test('argument errors name the function, the parameter, the expected and the received value', async () => {
  const messages = {
    'nn.Linear: Expected non-negative integer for inFeatures but received -1 of type number': () => new nn.Linear(-1, 2),
    'nn.Conv2d: Expected integer >= 1 or array of 2 such integers for kernelSize but received 0 of type number': () => new nn.Conv2d(3, 4, 0),
    'nn.Dropout: Expected number in [0, 1] for p but received 1.5 of type number': () => new nn.Dropout(1.5),
    "nn.CrossEntropyLoss: Expected one of 'mean', 'sum', 'none' for reduction but received 'avg' of type string": () => new nn.CrossEntropyLoss({ reduction: 'avg' }),
    'optim.Adam: Expected finite number >= 0 for lr but received -1 of type number': () => new optim.Adam(params(), { lr: -1 }),
    'optim.SGD: Expected finite number >= 0 for lr but received undefined': () => new optim.SGD(params()),
    'setNumThreads: Expected positive integer for n but received 0 of type number': () => tb.setNumThreads(0),
    'nn.functional.linear: Expected Tensor for input but received undefined': () => lin().forward(undefined),
    'nn.functional.linear: input 0 has been disposed': () => lin().forward(disposed()),
    'Linear.forward: module has been disposed': () => { const l = lin(); l.dispose(); return l.forward(rand([1, 3])); },
  };
  for (const [message, fn] of Object.entries(messages)) {
    const err = await outcome(fn);
    assert.ok(err instanceof TorchError, message);
    assert.equal(err.message, message);
  }
  const shape = await outcome(() => lin().forward(rand([2, 4])));
  assert.equal(shape.code, 'TORCH_ERROR');
  assert.match(shape.message, /mat1 and mat2 shapes cannot be multiplied \(2x4 and 3x2\)/);
  const target = await outcome(() => new nn.CrossEntropyLoss().forward(rand([2, 3]), tensor([0, 7], { dtype: 'int64' })));
  assert.equal(target.code, 'INDEX_ERROR');
  assert.match(target.message, /Target 7 is out of bounds/);
});

test('NaN flows through the math like PyTorch (no error, no crash)', async () => {
  const out = await new nn.Linear(2, 2).forward(tensor([[NaN, 1]]));
  assert.ok(Array.from(out.toArray()).every(Number.isNaN));
  const loss = await new nn.CrossEntropyLoss().forward(out, tensor([1], { dtype: 'int64' }));
  assert.ok(Number.isNaN(loss.item()));
});
