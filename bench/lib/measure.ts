/**
 * Shared benchmark plumbing: run a child process and collect its wall time, peak RSS and CPU
 * time (`/usr/bin/time` when present), bundle a TypeScript entry point into plain JavaScript so
 * ocibuild is measured as users run it (compiled, under plain `node`, without the tsx loader),
 * and small statistics helpers.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TIME = '/usr/bin/time';

/** What {@link measure} observed of one child process. */
export interface Measurement {
  /** Its standard output. */
  stdout: string;
  /** Its standard error, without the `/usr/bin/time` line. */
  stderr: string;
  /** Exit code (1 when killed by a signal). */
  code: number;
  /** Wall seconds from spawn to exit, as seen by this process. */
  seconds: number;
  /** Peak resident set size in MB of the process (the largest of a pipeline's processes). */
  peakRssMb: number;
  /** User and system CPU seconds, when `/usr/bin/time` is present. */
  cpuSeconds?: number;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Working directory (default the repository root). */
  cwd?: string;
  /** Environment (default this process's). */
  env?: NodeJS.ProcessEnv;
  /** Throw when the exit code is not 0 (default true). */
  check?: boolean;
}

/**
 * Runs `argv` and measures it. The peak RSS comes from `/usr/bin/time -f %M` when present (the
 * largest of the processes it waited for), else from polling the process tree's VmHWM in /proc
 * every 10 ms (a process living under 10 ms may be missed: NaN); `BENCH_NO_TIME=1` forces polling.
 */
export async function measure(argv: readonly string[], options: MeasureOptions = {}): Promise<Measurement> {
  const hasTime = existsSync(TIME) && process.env.BENCH_NO_TIME !== '1';
  const [command, ...args] = hasTime ? [TIME, '-f', 'BENCH_MEASURE %e %M %U %S', ...argv] : [...argv];
  const started = performance.now();
  let polledKiB = 0;
  const result = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve, reject) => {
    const child = spawn(command!, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Without /usr/bin/time: poll the peak RSS (VmHWM) of the process tree from /proc.
    const poll = hasTime || child.pid === undefined ? undefined : setInterval(() => (polledKiB = Math.max(polledKiB, treePeakKiB(child.pid!))), 10);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('exit', () => clearInterval(poll));
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? 1 }));
  });
  const seconds = (performance.now() - started) / 1000;
  const match = /BENCH_MEASURE ([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(result.stderr);
  const stderr = match ? result.stderr.slice(0, match.index) : result.stderr;
  if (options.check !== false && result.code !== 0) {
    throw new Error(`${argv.join(' ')} exited ${result.code}: ${stderr.trim().slice(-2000)}`);
  }
  return {
    stdout: result.stdout,
    stderr,
    code: result.code,
    seconds,
    peakRssMb: match ? Number(match[2]) / 1024 : polledKiB > 0 ? polledKiB / 1024 : Number.NaN,
    ...(match ? { cpuSeconds: Number(match[3]) + Number(match[4]) } : {}),
  };
}

/** The largest VmHWM (peak RSS, KiB) of `pid` and its descendants now alive, from /proc (0 if gone). */
function treePeakKiB(pid: number): number {
  let peak = 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    peak = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
        peak = Math.max(peak, treePeakKiB(Number(child)));
      }
    }
  } catch {
    // The process exited between the reads.
  }
  return peak;
}

/** The last line of `stdout` parsed as JSON (children report their own numbers that way). */
export function lastJsonLine<T>(stdout: string): T {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

/** How to start a Node child running a benchmark entry point. */
export interface NodeRunner {
  /** `[node, file]` or `[node, --import, tsx, file]`. */
  argv: string[];
  /** What runs it, for the table header (`node (esbuild bundle)`). */
  description: string;
  /** Removes the bundle. */
  dispose(): Promise<void>;
}

/**
 * Bundles the TypeScript `entry` (and the ocibuild sources it imports) into one plain ESM file
 * with esbuild (a dependency of tsx), so the child runs as compiled ocibuild does: no loader,
 * no on-the-fly transpiling (which costs start-up seconds and ~35 MB of RSS). Packages stay
 * external, resolved from node_modules like the published package's. Falls back to tsx when
 * esbuild cannot be loaded.
 */
export async function nodeRunner(entry: string, name: string): Promise<NodeRunner> {
  try {
    const esbuild = (await import('esbuild')) as typeof import('esbuild');
    // Inside node_modules so the external packages resolve from the bundle's location.
    const dir = path.join(ROOT, 'node_modules', '.cache', 'ocibuild-bench');
    await mkdir(dir, { recursive: true });
    const outfile = path.join(dir, `${name}-${process.pid}.mjs`);
    await esbuild.build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'error' });
    return { argv: [process.execPath, outfile], description: 'node (esbuild bundle)', dispose: () => rm(outfile, { force: true }) };
  } catch {
    return { argv: [process.execPath, '--import', 'tsx', entry], description: 'node --import tsx', dispose: async () => undefined };
  }
}

/** The median of `values` (NaN for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
