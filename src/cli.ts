// Shared by the three command-line drivers: option errors and TorchErrors become one clear line
// and a non-zero exit, never a stack trace.
import { TorchError } from './errors';

export function fail(program: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(message.startsWith(`${program}: `) ? `${message}\n` : `${program}: ${message}\n`);
  process.exit(err instanceof TorchError && err.code !== 'INVALID_ARGUMENT' ? 1 : 2);
}

export function print(json: boolean, event: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(event)}\n` : `${text}\n`);
}
