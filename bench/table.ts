/**
 * The benchmark table (issue 15): every speed target of ocibuild against its peer, measured in
 * the same run as whole processes (medians, peak RSS), printed as one markdown table (or JSON
 * with `--json`) and saved as bench/results/DATE.json so two runs compare with
 * `npm run bench:compare A.json B.json`.
 *
 * Run: `npm run bench` (this file), or `node --import tsx bench/table.ts`. Options:
 * `--runs N` samples per side (default 3; start-up takes 5N), `--quick` small data and one
 * sample (not saved unless `--save`), `--only ID,...` (startup, copy-push, copy-pull,
 * node-cold, one-file, layer-small, run-true), `--json`, `--no-save`, `--out FILE`,
 * `--cli FILE` (the CLI entry to measure: default dist/cli/main.js, rebuilt when older than
 * src/; a .ts file runs under tsx).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TestRegistry } from '../test/helpers/registry.ts';
import { ROOT } from './lib/measure.ts';
import { renderMarkdown, type BenchResults, type Row } from './lib/table-format.ts';
import { COMPARISONS, startBaseRegistry, type RowContext } from './lib/table-rows.ts';

const USAGE = `usage: npm run bench [-- --runs N --quick --save --no-save --json --out FILE --only ID,... --cli FILE]
rows: ${COMPARISONS.flatMap((c) => c.ids).join(', ')}`;

/** Prints a usage error (no stack) and exits 2. */
function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
let parsed;
try {
  parsed = parseArgs({
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      save: { type: 'boolean' },
      'no-save': { type: 'boolean', default: false },
      out: { type: 'string' },
      cli: { type: 'string' },
    },
    args: process.argv.slice(2),
  });
} catch (error) {
  usageError((error as Error).message);
}
const { values } = parsed;

const quick = values.quick === true || process.env.BENCH_QUICK === '1';
const runs = Number(values.runs ?? (quick ? 1 : 3));
if (!Number.isInteger(runs) || runs < 1) usageError(`--runs expects a positive integer, got ${values.runs}`);
const known = COMPARISONS.flatMap((c) => c.ids);
const only = values.only?.split(',').map((s) => s.trim());
for (const id of only ?? []) if (!known.includes(id)) usageError(`--only: unknown row ${JSON.stringify(id)}`);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** The newest modification time under `dir` (ms). */
function newest(dir: string): number {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) time = Math.max(time, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return time;
}

/** argv running the CLI to measure; builds dist/ first when it is missing or older than src/. */
function cliArgv(): string[] {
  if (values.cli !== undefined) {
    const file = path.resolve(values.cli);
    return file.endsWith('.ts') ? [process.execPath, '--import', 'tsx', file] : [process.execPath, file];
  }
  const main = path.join(ROOT, 'dist/cli/main.js');
  if (!existsSync(main) || statSync(main).mtimeMs < newest(path.join(ROOT, 'src'))) {
    log('building dist/ (npm run build) ...');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return [process.execPath, main];
}

const started = new Date();
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-bench-table-'));
let registry: Promise<TestRegistry> | undefined;
const ctx: RowContext = {
  cli: cliArgv(),
  runs,
  quick,
  tmp,
  log,
  baseRegistry: () => (registry ??= startBaseRegistry(tmp)),
};
const loadStart = os.loadavg()[0]!;
const rows: Row[] = [];
try {
  for (const comparison of COMPARISONS) {
    const wanted = only === undefined ? comparison.ids : comparison.ids.filter((id) => only.includes(id));
    if (wanted.length === 0) continue;
    log(`running ${comparison.ids.join(', ')} (load ${os.loadavg()[0]!.toFixed(2)}) ...`);
    rows.push(...(await comparison.run(ctx)).filter((row) => wanted.includes(row.id)));
  }
} finally {
  await (await registry?.catch(() => undefined))?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
}

const cpus = os.cpus();
const results: BenchResults = {
  version: 1,
  date: started.toISOString(),
  runs,
  quick,
  machine: {
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGb: os.totalmem() / 2 ** 30,
    node: process.version,
    kernel: os.release(),
    loadStart,
    loadEnd: os.loadavg()[0]!,
  },
  rows,
};
process.stdout.write(`${values.json ? JSON.stringify(results, null, 2) : renderMarkdown(results)}\n`);

const save = values['no-save'] !== true && (values.save === true || values.out !== undefined || !quick);
if (save) {
  const file = values.out ?? path.join(ROOT, 'bench/results', `${started.toISOString().slice(0, 10)}.json`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`saved ${path.relative(process.cwd(), file)}`);
}
