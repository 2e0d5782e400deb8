/**
 * Small helpers shared by CLI commands: usage errors, repeated K=V flags, output.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName } from '../index.ts';

/** A command-line usage problem: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One CLI command. */
export interface Command {
  /** Name as typed. */
  name: string;
  /** One-line summary for the command list. */
  summary: string;
  /** Full help text. */
  help: string;
  /** Runs with the arguments after the command name; resolves the exit code. */
  run(argv: string[], io: CommandIO): Promise<number>;
}

/** Where a command writes. */
export interface CommandIO {
  /** Standard output (results). */
  out: (text: string) => void;
  /** Standard error (progress, diagnostics). */
  err: (text: string) => void;
  /** True when stderr is a terminal. */
  isTTY: boolean;
  /** Standard output, byte for byte (no newline added); `out` is used when absent. */
  write?: (data: Uint8Array) => void;
  /** Aborted on SIGINT/SIGTERM: commands pass it to every long operation. */
  signal?: AbortSignal;
}

/** `{ signal }` of the command's IO, to spread into API options. */
export function signalOf(io: CommandIO): { signal?: AbortSignal } {
  return io.signal === undefined ? {} : { signal: io.signal };
}

/** `parseArgs` with usage errors turned into {@link UsageError}. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = true,
): { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, positionals: parsed.positionals };
  } catch (error) {
    // Node's message for an unknown option explains `--` at length; say which option was meant.
    const code = (error as { code?: string }).code;
    const unknown = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /Unknown option '(-{1,2}[^']*)'/.exec((error as Error).message)?.[1] : undefined;
    if (unknown !== undefined && unknown.startsWith('--')) {
      const near = closestName(unknown.slice(2).split('=')[0] as string, Object.keys(options));
      throw new UsageError(`unknown option ${unknown}${near !== undefined ? ` (did you mean --${near}?)` : ''}`);
    }
    throw new UsageError((error as Error).message);
  }
}

/** Parses repeated `K=V` flags into an object; `what` names the flag in errors. */
export function keyValues(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what} expects KEY=VALUE, got ${JSON.stringify(item)}`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** `--entrypoint '["a","b"]'` (JSON array) or `--entrypoint 'a b'` (split on whitespace, as Jib's CLI does). */
export function argvFlag(value: string | undefined, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UsageError(`${what}: invalid JSON array ${JSON.stringify(value)}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new UsageError(`${what}: expected a JSON array of strings`);
    }
    return parsed as string[];
  }
  return trimmed === '' ? [] : trimmed.split(/\s+/);
}

/**
 * Whether `error` carries the brand every `OcibuildError` has (`Symbol.for('ocibuild.error')`,
 * what `isOcibuildError` checks): tested here so that loading this module, which every command
 * does first, does not load the library.
 */
function isTyped(error: unknown): error is Error & { code: string } {
  return error instanceof Error && Symbol.for('ocibuild.error') in error && typeof (error as { code?: unknown }).code === 'string';
}

/** Formats an error for the terminal: typed errors show their code. */
export function describeError(error: unknown): string {
  if (isTyped(error)) return `error [${error.code}]: ${error.message}`;
  if (error instanceof Error) return `error: ${error.message}`;
  return `error: ${String(error)}`;
}

/** Reads a string flag. */
export function str(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Reads a repeated string flag. */
export function list(values: Record<string, unknown>, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

