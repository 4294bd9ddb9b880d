// torch.distributed on c10d: one default process group (TCPStore rendezvous, Gloo), its
// collectives off the JS thread. Workers start like PyTorch's: under torchrun, Slurm or any
// launcher that sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
import { native } from '../native';
import { gradsOf, Tensor, track } from '../tensor';
import { TorchError } from '../errors';
import { int, invalid, oneOf } from '../arguments';

export interface InitProcessGroupOptions {
  /** 'gloo' (CPU). 'nccl' needs a CUDA build with NCCL. */
  backend?: 'gloo' | 'nccl';
  /** 'env://' (MASTER_ADDR, MASTER_PORT; the default) or 'tcp://host:port'. */
  initMethod?: string;
  /** Default: $RANK. */
  rank?: number;
  /** Default: $WORLD_SIZE. */
  worldSize?: number;
  /** Rendezvous and collective timeout (PyTorch's default: 30 minutes). */
  timeoutMs?: number;
}

export type ReduceOp = 'sum' | 'product' | 'min' | 'max';

let group: { rank: number; worldSize: number } | null = null;

function fromEnv(where: string, name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new TorchError(`${where}: ${name} is not set (torchrun sets it; or pass the option / use initMethod 'tcp://host:port')`, 'INVALID_ARGUMENT');
  }
  return v;
}

function envInt(where: string, name: string): number {
  const v = fromEnv(where, name);
  if (!/^\d+$/.test(v)) throw new TorchError(`${where}: ${name} must be a non-negative integer but is '${v}'`, 'INVALID_ARGUMENT');
  return Number(v);
}

async function run<T>(where: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof TorchError && e.code !== 'TORCH_ERROR') throw e;
    throw new TorchError(`${where}: ${(e as Error).message}`, 'DISTRIBUTED');
  }
}

function current(where: string): { rank: number; worldSize: number } {
  if (!group) throw new TorchError(`${where}: no process group; await dist.initProcessGroup() first`, 'INVALID_ARGUMENT');
  return group;
}

/** Joins the default process group (torch.distributed.init_process_group). */
export async function initProcessGroup(opts: InitProcessGroupOptions = {}): Promise<void> {
  const where = 'dist.initProcessGroup';
  if (group) throw new TorchError(`${where}: already initialised; call destroyProcessGroup() first`, 'INVALID_ARGUMENT');
  const backend = oneOf(where, 'backend', opts.backend ?? 'gloo', ['gloo', 'nccl'] as const);
  if (backend === 'nccl') throw new TorchError(`${where}: backend 'nccl' needs a CUDA libtorch with NCCL; this build has Gloo only`, 'DEVICE_UNAVAILABLE');
  if (!native.distAvailable) {
    throw new TorchError(`${where}: this build has no c10d Gloo backend (Debian: apt-get install libgloo-dev, then npm run build:native)`, 'DEVICE_UNAVAILABLE');
  }
  const initMethod = opts.initMethod ?? 'env://';
  let addr: string;
  let port: number;
  if (initMethod === 'env://') {
    addr = fromEnv(where, 'MASTER_ADDR');
    port = envInt(where, 'MASTER_PORT');
  } else {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(initMethod);
    if (!m) throw invalid(where, 'initMethod', "'env://' or 'tcp://host:port'", initMethod);
    [addr, port] = [m[1].replace(/^\[|\]$/g, ''), Number(m[2])];
  }
  if (port < 1 || port > 65535) throw new TorchError(`${where}: port ${port} is out of range 1-65535`, 'INVALID_ARGUMENT');
  const worldSize = opts.worldSize !== undefined ? int(where, 'worldSize', opts.worldSize, 1) : envInt(where, 'WORLD_SIZE');
  const rank = opts.rank !== undefined ? int(where, 'rank', opts.rank, 0) : envInt(where, 'RANK');
  if (worldSize < 1) throw invalid(where, 'worldSize', 'a positive integer', worldSize);
  if (rank >= worldSize) throw new TorchError(`${where}: rank ${rank} is not below worldSize ${worldSize}`, 'INVALID_ARGUMENT');
  const timeoutMs = int(where, 'timeoutMs', opts.timeoutMs ?? 1_800_000, 1);
  // Under torchrun the agent already serves the store on MASTER_PORT; workers join it as clients
  // under the agent's prefix, as PyTorch's env:// rendezvous does.
  const agentStore = initMethod === 'env://' && process.env.TORCHELASTIC_USE_AGENT_STORE === 'True';
  const prefix = agentStore ? `/worker/attempt_${process.env.TORCHELASTIC_RESTART_COUNT ?? '0'}` : '';
  await run(where, () => native.initProcessGroup(addr, port, rank, worldSize, timeoutMs, !agentStore && rank === 0, prefix));
  group = { rank, worldSize };
}

export function isInitialized(): boolean {
  return group !== null;
}

export function getRank(): number {
  return current('dist.getRank').rank;
}

export function getWorldSize(): number {
  return current('dist.getWorldSize').worldSize;
}

/** Leaves the process group; collectives afterwards fail until the next initProcessGroup. */
export function destroyProcessGroup(): void {
  if (!group) return;
  native.destroyProcessGroup();
  group = null;
}

/** Reduces `tensor` across ranks, in place (dist.all_reduce). */
export async function allReduce(tensor: Tensor, opts: { op?: ReduceOp } = {}): Promise<void> {
  const where = 'dist.allReduce';
  current(where);
  const op = oneOf(where, 'op', opts.op ?? 'sum', ['sum', 'product', 'min', 'max'] as const);
  const h = tensor._h(where);
  await run(where, () => track(where, [], [tensor], () => native.allReduce(h, op)));
}

/** Copies `tensor` from rank `src` to every rank, in place (dist.broadcast). */
export async function broadcast(tensor: Tensor | Tensor[], src = 0): Promise<void> {
  const where = 'dist.broadcast';
  const { worldSize } = current(where);
  int(where, 'src', src, 0);
  if (src >= worldSize) throw new TorchError(`${where}: src ${src} is not below worldSize ${worldSize}`, 'INVALID_ARGUMENT');
  const tensors = Array.isArray(tensor) ? tensor : [tensor];
  const handles = tensors.map((t) => t._h(where));
  await run(where, () => track(where, [], tensors, () => native.broadcast(handles, src)));
}

/** Waits until every rank reaches it (dist.barrier). */
export async function barrier(): Promise<void> {
  const where = 'dist.barrier';
  current(where);
  await run(where, () => native.barrier());
}

/** @internal DDP's gradient averaging: bucketed, off the JS thread. */
export async function averageGradients(params: Tensor[], bucketBytes: number): Promise<void> {
  const where = 'DistributedDataParallel';
  current(where);
  const handles = params.map((p) => p._h(where, 'parameter'));
  await run(where, () => track(where, [], [gradsOf(where, params)], () => native.averageGradients(handles, bucketBytes)));
}
