// Type tests for the tensor ops and Datasets (issue 15): compiled with `tsc -p test/tsconfig.json`.
// Lines marked @ts-expect-error must stay errors; everything else must type-check.
import { cat, data, Generator, randint, randn, stack, Tensor, ValuesIndices, where, zerosLike } from 'torchbridge';

async function ops(): Promise<void> {
  const x = randn([4, 6]);
  const parts: Tensor[] = x.split(2).concat(x.chunk(3, 1));
  const joined: Tensor = cat(parts.slice(0, 2), 0);
  const stacked: Tensor = stack([x, zerosLike(x)], 1);
  const { values, indices }: ValuesIndices = x.max(1);
  const all: Tensor = x.max();
  const elementwise: Tensor = x.min(x);
  const product: Tensor = await x.matmul(x.transpose(0, 1));
  const spread: Tensor = x.std(1, { correction: 0, keepdim: true }).add(x.var()).add(x.norm(1, [0, 1]));
  const picked: Tensor = where(x.gt(0), x, 0).slice(1, 0, 4, 2).index(randint(0, 4, [3]));
  // @ts-expect-error matmul resolves a Promise, not a Tensor
  const notYet: Tensor = x.matmul(x);
  void [joined, stacked, values, indices, all, elementwise, product, spread, picked, notYet];
}

async function datasets(): Promise<void> {
  const ds = new data.TensorDataset(randn([10, 3]), randint(0, 2, [10]));
  const [train, val] = data.randomSplit(ds, [0.8, 0.2], { generator: new Generator().manualSeed(0) });
  for await (const [xb, yb] of new data.DataLoader(train, { batchSize: 4, shuffle: true })) {
    const shapes: number[][] = [xb.shape, yb.shape];
    void shapes;
  }
  const rows: data.Dataset<{ features: Tensor; label: number; name: string }> = {
    length: 2,
    get: async (i) => ({ features: randn([3]), label: i, name: `row ${i}` }),
  };
  for await (const batch of new data.DataLoader(rows, { batchSize: 2 })) {
    const features: Tensor = batch.features;
    const labels: Tensor = batch.label;
    const names: string[] = batch.name;
    void [features, labels, names];
  }
  // @ts-expect-error a Dataset needs get()
  new data.DataLoader({ length: 3 });
  void val;
}

void ops;
void datasets;
