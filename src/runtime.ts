// Process-wide settings: intra-op threads, devices (seeding: random.ts).
import * as os from 'os';
import { TorchError } from './errors';
import { CudaMemoryStats, native } from './native';
import { int, invalid } from './arguments';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

// Seeding lives in random.ts; re-exported for modules that import it with the other settings.
export { manualSeed } from './random';

/** Sets the intra-op thread count used by every operation, wherever it runs. */
export function setNumThreads(n: number): void {
  native.setNumThreads(int('setNumThreads', 'n', n, 1));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

export const cuda = {
  isAvailable(): boolean {
    return native.cudaDeviceCount() > 0;
  },
  deviceCount(): number {
    return native.cudaDeviceCount();
  },
  /** Resolves when all work queued on the device has finished (torch.cuda.synchronize); waits off the JS thread. */
  async synchronize(device: number | Device = 0): Promise<void> {
    if (native.cudaDeviceCount() === 0) return;
    await native.cudaSynchronize(cudaIndex('cuda.synchronize', device));
  },
  /** Returns cached, unused GPU memory to the driver (torch.cuda.empty_cache); a no-op without CUDA. */
  emptyCache(): void {
    if (native.cudaDeviceCount() === 0) return;
    if (!native.cudaEmptyCache()) throw unsupportedAllocatorApi('cuda.emptyCache');
  },
  /** The caching allocator's byte counts for one device (torch.cuda.memory_stats' aggregates). */
  memoryStats(device: number | Device = 0): CudaMemoryStats {
    const where = 'cuda.memoryStats';
    const stats = native.cudaMemoryStats(cudaIndex(where, device));
    if (!stats) throw unsupportedAllocatorApi(where);
    return stats;
  },
};

/** A CUDA device given as N, 'cuda' or 'cuda:N', checked to exist; its index. */
function cudaIndex(where: string, device: number | Device): number {
  const resolved = checkDevice(where, 'device', typeof device === 'number' ? `cuda:${int(where, 'device', device, 0)}` : device);
  if (resolved === 'cpu') throw invalid(where, 'device', "a CUDA device ('cuda:N' or N)", device);
  return Number(resolved.split(':')[1]);
}

function unsupportedAllocatorApi(where: string): TorchError {
  return new TorchError(`${where}: needs a libtorch with the device-generic allocator API (recent 2.x; this addon was built against ${native.buildInfo().torchVersion})`, 'NOT_IMPLEMENTED');
}

/** Validates a device string and that the device exists; returns libtorch's spelling. */
export function checkDevice(where: string, param: string, device: unknown): string {
  const m = typeof device === 'string' ? /^(cpu|cuda)(?::(\d+))?$/.exec(device) : null;
  if (!m || (m[1] === 'cpu' && m[2] !== undefined)) throw invalid(where, param, "'cpu', 'cuda' or 'cuda:N'", device);
  if (m[1] === 'cuda') {
    const count = cuda.deviceCount();
    const index = m[2] === undefined ? 0 : Number(m[2]);
    if (index >= count) {
      throw new TorchError(
        `${where}: device '${device}' is not available (${count === 0 ? 'this libtorch has no CUDA or no GPU is visible' : `${count} CUDA device(s)`})`,
        'DEVICE_UNAVAILABLE',
      );
    }
    return `cuda:${index}`;
  }
  return 'cpu';
}

let cachedBuildInfo: ReturnType<typeof native.buildInfo> | undefined;

/** Library metadata: the libtorch loaded at run time (version, file), the version of the headers
 * the addon was compiled with, and the threading backend. */
export function buildInfo(): { torchVersion: string; headerVersion: string; libraryPath: string; cudaAvailable: boolean; parallelInfo: string } {
  // at::get_parallel_info() takes milliseconds and never changes: ask once.
  cachedBuildInfo ??= native.buildInfo();
  const b = cachedBuildInfo;
  return { torchVersion: b.torchVersion, headerVersion: b.headerVersion, libraryPath: b.libraryPath, cudaAvailable: b.cudaCompiled, parallelInfo: b.parallelInfo };
}

// Debian's libtorch starts with one intra-op thread; PyTorch users expect all cores, or
// OMP_NUM_THREADS when set (torchrun sets 1 per worker).
const ompThreads = /^[1-9]\d*$/.test(process.env.OMP_NUM_THREADS ?? '') ? Number(process.env.OMP_NUM_THREADS) : 0;
native.setNumThreads(ompThreads || (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length));
