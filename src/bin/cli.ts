// Shared by the three command-line drivers: option errors and TorchErrors become one clear line
// and a non-zero exit, never a stack trace. Nothing here loads libtorch, so --help and option
// errors answer at once.
import * as path from 'path';
import { TorchError } from '../errors';
import { clearProgressLine } from '../training/progress';

export function fail(program: string, err: unknown): never {
  clearProgressLine();
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(message.startsWith(`${program}: `) ? `${message}\n` : `${program}: ${message}\n`);
  process.exit(err instanceof TorchError && err.code !== 'INVALID_ARGUMENT' ? 1 : 2);
}

export function print(json: boolean, event: Record<string, unknown>, text: string): void {
  clearProgressLine();
  process.stdout.write(json ? `${JSON.stringify(event)}\n` : `${text}\n`);
}

/** yargs settings every CLI shares: a repeated option takes its last value, as in argparse. */
export const PARSER_CONFIGURATION = { 'duplicate-arguments-array': false, 'parse-numbers': false } as const;

type NumberKind = 'positive integer' | 'non-negative integer' | 'positive number' | 'non-negative number';

/**
 * A numeric option, checked as typed: `--epochs abc` gives "--epochs: expected a positive integer,
 * got 'abc'". (yargs' own numbers would turn 'abc' into NaN before any check could see it.)
 */
export function numberOption(flag: string, kind: NumberKind, describe: string, defaultDescription?: string) {
  return {
    describe, requiresArg: true, defaultDescription,
    coerce: (raw: unknown): number => {
      const text = String(raw).trim();
      const value = text === '' ? NaN : Number(text);
      const ok = Number.isFinite(value) && (kind.endsWith('integer') ? Number.isInteger(value) : true)
        && (kind.startsWith('positive') ? value > 0 : value >= 0);
      if (!ok) throw new TorchError(`--${flag}: expected a ${kind}, got '${raw}'`, 'INVALID_ARGUMENT');
      return value;
    },
  };
}

/** An option with fixed values, checked as typed (yargs' own message spans three lines). */
export function choiceOption<T extends string>(flag: string, choices: readonly T[], describe: string, defaultDescription?: string) {
  return {
    choices, describe, requiresArg: true, defaultDescription,
    coerce: (raw: unknown): T => {
      if (!(choices as readonly unknown[]).includes(raw)) throw new TorchError(`--${flag}: expected one of ${choices.join(', ')}, got '${raw}'`, 'INVALID_ARGUMENT');
      return raw as T;
    },
  };
}

/** --device, its form checked as typed (whether the device exists is checked once libtorch is loaded). */
export function deviceOption(describe: string, defaultDescription?: string) {
  return {
    describe, requiresArg: true, defaultDescription,
    coerce: (raw: unknown): string => {
      if (typeof raw !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(raw)) throw new TorchError(`--device: expected auto, cpu, cuda or cuda:N, got '${raw}'`, 'INVALID_ARGUMENT');
      return raw;
    },
  };
}

/** yargs' fail handler: our option checks' errors as they are, yargs' own reworded, and a pointer to --help. */
export function optionError(program: string) {
  return (message: string | null, err: Error | undefined): never =>
    fail(program, err instanceof TorchError ? err : new Error(`${yargsMessage(message ?? err?.message ?? '')} (see --help)`));
}

/** yargs' own messages with the options spelled as typed (`--epochs`, not `epochs`). */
export function yargsMessage(message: string): string {
  const flag = (name: string) => (name.length > 1 ? `--${name}` : `-${name}`);
  return message
    .replace(/^Not enough arguments following: (\S+)$/, (_, name: string) => `${flag(name)}: expected a value`)
    .replace(/^(Unknown arguments?): (.*)$/, (_, head: string, names: string) => `${head}: ${names.split(', ').map((n) => (process.argv.includes(n) ? n : flag(n))).join(', ')}`)
    .replace(/^(Missing required arguments?): (.*)$/, (_, head: string, names: string) => `${head}: ${names.split(', ').map(flag).join(', ')}`);
}

/** The options the user gave, under the config's names (`batch-size` -> batchSize); defaults are left out. */
export function givenOptions(argv: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    if (argv[name] !== undefined) out[name.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase())] = argv[name];
  }
  return out;
}

/**
 * How the user started this program, as a command they can paste: `npx BIN` or `BIN` when run by
 * its bin name, otherwise `node` and the script's path from the current folder.
 */
export function invocation(bin: string): string {
  const script = process.argv[1] ?? '';
  if (path.basename(script) === bin) return process.env.npm_command === 'exec' ? `npx ${bin}` : bin;
  const relative = path.relative(process.cwd(), script);
  return `node ${shellQuote(relative.length < script.length ? relative : script)}`;
}

export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Prints process warnings as one line each (`train: warning: ...`) instead of Node's
 * `(node:PID) ...` and `--trace-warnings` lines. `ignore` drops those the program reports itself.
 */
export function printWarnings(program: string, ignore: (warning: Error) => boolean = () => false): void {
  process.removeAllListeners('warning'); // Node's default printer
  process.on('warning', (warning) => {
    if (ignore(warning)) return;
    clearProgressLine();
    process.stderr.write(`${program}: warning: ${warning.message.replace(/\s*\n\s*/g, ' ')}\n`);
  });
}

/** Starts the line after a terminal's `^C` (or a progress bar) afresh, before a notice. */
export function freshLine(): void {
  clearProgressLine();
  for (const stream of [process.stderr, process.stdout]) {
    if (stream.isTTY) {
      stream.write('\r\x1b[K');
      return;
    }
  }
}
