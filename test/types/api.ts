// Type tests for the published .d.ts: compiled with `tsc -p test/tsconfig.json` (no output).
// Lines marked @ts-expect-error must stay errors; everything else must type-check.
import {
  tensor, Tensor, nn, optim, models, noGrad, manualSeed, setNumThreads, getNumThreads, cuda, memory,
  TorchError, scope, Dtype,
} from 'torchbridge';

async function typed(): Promise<void> {
  const x: Tensor = tensor([1, 2, 3], { shape: [1, 3], dtype: 'float32', device: 'cpu' });
  const shape: number[] = x.shape;
  const dtype: Dtype = x.dtype;
  const device: string = x.device;
  const n: number = x.item();
  const arr = x.toArray();
  const moved: Tensor = x.to('cpu');
  const pred: Tensor = x.argmax(1);
  const correct: number = pred.eq(tensor([0], { dtype: 'int64' })).sum().item();

  const model = new nn.Sequential(models.alexnet({ numClasses: 1000 }), new nn.Linear(1000, 2), new nn.Softmax({ dim: 1 }));
  const net = models.alexnet();
  net.classifier.set(6, new nn.Linear(4096, 2));
  const child: nn.Module = net.classifier.at(6);
  const out: Tensor = await model.forward(x);
  const loss: Tensor = await new nn.CrossEntropyLoss({ reduction: 'mean', labelSmoothing: 0.1 }).forward(out, pred);
  await loss.backward();
  const named: [string, Tensor][] = model.namedParameters();
  const sd: Map<string, Tensor> = model.stateDict();
  const res: { missingKeys: string[]; unexpectedKeys: string[] } = await model.loadStateDict(sd, { strict: false });
  model.train().eval();
  const training: boolean = model.training;

  const opt = new optim.Adam(model.parameters(), { lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false });
  const sgd = new optim.SGD([{ params: net.parameters(), lr: 0.1 }], { lr: 0.01, momentum: 0.9, nesterov: true });
  opt.zeroGrad({ setToNone: true });
  await opt.step();
  opt.paramGroups[0].lr = 1e-5;
  const sched = new optim.lrScheduler.CosineAnnealingLR(opt, { tMax: 50, etaMin: 0, lastEpoch: -1 });
  const step = new optim.lrScheduler.StepLR(sgd, { stepSize: 10, gamma: 0.1 });
  sched.step();
  const lrs: number[] = step.getLastLr();

  const y: Tensor = await noGrad(() => model.forward(x));
  const kept: Tensor = scope(() => x.add(1));
  manualSeed(0);
  setNumThreads(getNumThreads());
  const gpus: number = cuda.deviceCount();
  const live: { tensors: number; bytes: number } = memory();
  const err = new TorchError('x', 'BUSY');
  const code: string = err.code;
  void [shape, dtype, device, n, arr, moved, correct, child, res, training, lrs, y, kept, gpus, live, code];

  // @ts-expect-error dtype names are checked
  tensor([1], { dtype: 'float128' });
  // @ts-expect-error SGD needs an lr, as in PyTorch 1.13
  new optim.SGD(model.parameters(), { momentum: 0.9 });
  // @ts-expect-error scheduler options are named
  new optim.lrScheduler.CosineAnnealingLR(opt, 50);
  // @ts-expect-error devices are 'cpu', 'cuda' or 'cuda:N'
  x.to('gpu');
}
void typed;
