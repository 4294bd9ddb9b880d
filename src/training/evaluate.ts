// evaluate(model, loader): accuracy, loss, per-class accuracy and the confusion matrix. train()
// validates with it; so does the validation CLI.
import { noGrad } from '../autograd';
import { DataLoader } from '../data';
import { scope } from '../memory';
import * as nn from '../nn';
import { Device } from '../runtime';
import { TrainConfig } from './config';
import { withAmp } from './recipe';

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy of the model's outputs (on the appended head's probabilities, as its training loss is). */
  loss: number;
  perClass: { class: string; accuracy: number; count: number }[];
  /** confusion[true][predicted] */
  confusion: number[][];
  count: number;
}

export interface EvaluateOptions {
  device?: string;
  classes?: string[];
  amp?: TrainConfig['amp'];
  /** Called after each batch with the batches done and their number. */
  onBatch?: (done: number, total: number) => void;
}

/** Accuracy, loss, per-class accuracy and the confusion matrix, in eval mode without autograd. */
export async function evaluate(model: nn.Module, loader: DataLoader, opts: EvaluateOptions = {}): Promise<Evaluation> {
  const classes = opts.classes ?? loader.dataset.classes;
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => Array<number>(k).fill(0));
  const device = opts.device ?? 'cpu';
  const wasTraining = model.training;
  let lossSum = 0;
  let batches = 0;
  model.eval();
  try {
    for await (const batch of loader) {
      const onDevice = device !== 'cpu';
      const input = onDevice ? batch.input.to({ device: device as Device, nonBlocking: true }) : batch.input;
      const target = onDevice ? batch.target.to({ device: device as Device, nonBlocking: true }) : batch.target;
      const { out, loss } = await noGrad(() => withAmp(opts.amp ?? 'off', device, async () => {
        const o = await model.forward(input);
        return { out: o, loss: await nn.functional.crossEntropy(o, target, { reduction: 'sum' }) };
      }));
      lossSum += loss.item();
      const pred = scope(() => out.argmax(1).toArray()) as BigInt64Array;
      const truth = batch.target.toArray() as BigInt64Array;
      pred.forEach((p, i) => { confusion[Number(truth[i])][Math.min(Number(p), k - 1)]++; });
      [out, loss, batch.input, batch.target, input, target].forEach((t) => t.dispose());
      opts.onBatch?.(++batches, loader.length);
    }
  } finally {
    model.train(wasTraining);
  }
  const count = confusion.flat().reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((a, row, i) => a + row[i], 0);
  return {
    accuracy: count ? correct / count : 0,
    loss: count ? lossSum / count : 0,
    perClass: classes.map((c, i) => {
      const n = confusion[i].reduce((a, b) => a + b, 0);
      return { class: c, accuracy: n ? confusion[i][i] / n : 0, count: n };
    }),
    confusion,
    count,
  };
}
