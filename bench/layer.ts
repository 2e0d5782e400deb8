/**
 * Layer pipeline benchmark: ocibuild writeLayer (fflate default, node:zlib) against
 * `tar --sort=name | gzip -6 | sha256sum` and the same with pigz, on a node_modules-like tree
 * and on one big file. `--quick` (or BENCH_QUICK=1) shrinks the data to run in seconds.
 * Data is generated once per size under the temp dir and reused.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBigFile, makeTree } from './lib/data.ts';
import { lastJsonLine, measure, nodeRunner } from './lib/measure.ts';

const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const sizes = quick ? { files: 300, treeBytes: 4e6, big: 64 * 2 ** 20 } : { files: 3000, treeBytes: 40e6, big: 2 ** 30 };
const root = path.join(os.tmpdir(), `ocibuild-bench-layer-${sizes.files}-${sizes.big}`);
const here = path.dirname(fileURLToPath(import.meta.url));

interface Row {
  name: string;
  seconds: number;
  inputBytes: number;
  outputBytes?: number;
  /** Whole child process (Node start-up included); ocibuild rows only. */
  processSeconds?: number;
  rssKiB?: number;
  digest?: string;
}

async function prepare(): Promise<{ tree: string; big: string }> {
  const tree = path.join(root, 'tree');
  const big = path.join(root, 'big');
  if (!existsSync(path.join(root, '.done'))) {
    await fs.rm(root, { recursive: true, force: true });
    console.error(`generating data in ${root} ...`);
    await makeTree(tree, { files: sizes.files, bytes: sizes.treeBytes });
    await fs.mkdir(big, { recursive: true });
    await makeBigFile(path.join(big, 'blob.bin'), sizes.big);
    await fs.writeFile(path.join(root, '.done'), '');
  }
  return { tree, big };
}

function tarBytes(dir: string): number {
  return Number(execFileSync('bash', ['-c', `tar --sort=name -cf - -C '${dir}' . | wc -c`]).toString().trim());
}

async function shellPipeline(name: string, dir: string, compressor: string, inputBytes: number): Promise<Row> {
  // /usr/bin/time over the whole pipeline reports the largest RSS of its processes.
  const script = `tar --sort=name -cf - -C '${dir}' . | ${compressor} | sha256sum`;
  const result = await measure(['bash', '-c', script]);
  return { name, seconds: result.seconds, inputBytes, rssKiB: result.peakRssMb * 1024, digest: result.stdout.slice(0, 12) };
}

async function ocibuild(name: string, dir: string, encoder: 'default' | 'fflate' | 'node', inputBytes: number): Promise<Row> {
  const out = path.join(root, 'out');
  const result = await measure([...runner.argv, dir, out, encoder]);
  const r = lastJsonLine<{ seconds: number; size: number; maxRssKiB: number; digest: string }>(result.stdout);
  const rssKiB = Number.isNaN(result.peakRssMb) ? r.maxRssKiB : result.peakRssMb * 1024;
  return { name, seconds: r.seconds, processSeconds: result.seconds, inputBytes, outputBytes: r.size, rssKiB, digest: r.digest.slice(7, 19) };
}

function table(title: string, rows: Row[]): void {
  const reference = rows.find((r) => r.name.startsWith('tar, gzip'))!.seconds;
  console.log(`\n${title}`);
  console.log('| pipeline | seconds | MB/s | x tar+gzip | process s | peak RSS MB |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const rss = r.rssKiB !== undefined ? (r.rssKiB / 1024).toFixed(0) : 'n/a';
    const processSeconds = (r.processSeconds ?? r.seconds).toFixed(2);
    console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${(r.inputBytes / 1e6 / r.seconds).toFixed(1)} | ${(r.seconds / reference).toFixed(2)} | ${processSeconds} | ${rss} |`);
  }
}

const { tree, big } = await prepare();
const runner = await nodeRunner(path.join(here, 'lib/layer-child.ts'), 'layer');
const cpus = os.availableParallelism();
console.log(`ocibuild layer benchmark${quick ? ' (quick)' : ''}: ${cpus} CPUs, Node ${process.version}; load ${os.loadavg()[0]!.toFixed(2)}; ocibuild runs as ${runner.description}`);
console.log('ocibuild seconds are writeLayer only (measured in the child process; start-up excluded, see "process s").');
try {
  for (const [title, dir] of [
    [`node_modules-like tree (${sizes.files} files)`, tree],
    [`one ${(sizes.big / 2 ** 20).toFixed(0)} MiB file`, big],
  ] as const) {
    const bytes = tarBytes(dir);
    const rows: Row[] = [];
    // Warm the page cache so every pipeline reads from memory.
    tarBytes(dir);
    rows.push(await shellPipeline('tar, gzip -6, sha256sum', dir, 'gzip -6', bytes));
    rows.push(await shellPipeline('tar, pigz -6, sha256sum', dir, 'pigz -6', bytes));
    rows.push(await ocibuild('ocibuild writeLayer (libdeflate, default)', dir, 'default', bytes));
    rows.push(await ocibuild('ocibuild writeLayer (fflate)', dir, 'fflate', bytes));
    rows.push(await ocibuild('ocibuild writeLayer (node:zlib)', dir, 'node', bytes));
    table(`${title}, tar ${(bytes / 1e6).toFixed(1)} MB`, rows);
  }
} finally {
  await runner.dispose();
}
