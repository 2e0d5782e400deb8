/**
 * Layer pipeline benchmark: ocibuild writeLayer (fflate default, node:zlib) against
 * `tar --sort=name | gzip -6 | sha256sum` and the same with pigz, on a node_modules-like tree
 * and on one big file. `--quick` (or BENCH_QUICK=1) shrinks the data to run in seconds.
 * Data is generated once per size under the temp dir and reused.
 * @module
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBigFile, makeTree } from './lib/data.ts';

const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const sizes = quick ? { files: 300, treeBytes: 4e6, big: 64 * 2 ** 20 } : { files: 3000, treeBytes: 40e6, big: 2 ** 30 };
const root = path.join(os.tmpdir(), `ocibuild-bench-layer-${sizes.files}-${sizes.big}`);
const here = path.dirname(fileURLToPath(import.meta.url));
const hasTime = existsSync('/usr/bin/time');

interface Row {
  name: string;
  seconds: number;
  inputBytes: number;
  outputBytes?: number;
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

function shellPipeline(name: string, dir: string, compressor: string, inputBytes: number): Row {
  // The whole pipeline under /usr/bin/time reports the largest RSS of its processes.
  const script = `tar --sort=name -cf - -C '${dir}' . | ${compressor} | sha256sum`;
  const args = hasTime ? ['/usr/bin/time', '-f', '%M', 'bash', '-c', script] : ['bash', '-c', script];
  const started = performance.now();
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${script} failed: ${result.stderr}`);
  const rss = hasTime ? Number(result.stderr.trim().split('\n').pop()) : undefined;
  return { name, seconds, inputBytes, rssKiB: rss, digest: result.stdout.slice(0, 12) };
}

function ocibuild(name: string, dir: string, encoder: 'fflate' | 'node', inputBytes: number): Row {
  const out = path.join(root, 'out');
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'lib/layer-child.ts'), dir, out, encoder], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`layer child failed: ${result.stderr}`);
  const r = JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number; size: number; maxRssKiB: number; digest: string };
  return { name, seconds: r.seconds, inputBytes, outputBytes: r.size, rssKiB: r.maxRssKiB, digest: r.digest.slice(7, 19) };
}

function table(title: string, rows: Row[]): void {
  const reference = rows.find((r) => r.name.startsWith('tar, gzip'))!.seconds;
  console.log(`\n${title}`);
  console.log('| pipeline | seconds | MB/s | x tar+gzip | peak RSS MB |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const rss = r.rssKiB !== undefined ? (r.rssKiB / 1024).toFixed(0) : 'n/a';
    console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${(r.inputBytes / 1e6 / r.seconds).toFixed(1)} | ${(r.seconds / reference).toFixed(2)} | ${rss} |`);
  }
}

const { tree, big } = await prepare();
const cpus = os.availableParallelism();
console.log(`ocibuild layer benchmark${quick ? ' (quick)' : ''}: ${cpus} CPUs, Node ${process.version}; load ${os.loadavg()[0]!.toFixed(2)}`);
console.log('ocibuild seconds are writeLayer only (measured in a child process; Node+tsx startup excluded).');
for (const [title, dir] of [
  [`node_modules-like tree (${sizes.files} files)`, tree],
  [`one ${(sizes.big / 2 ** 20).toFixed(0)} MiB file`, big],
] as const) {
  const bytes = tarBytes(dir);
  const rows: Row[] = [];
  // Warm the page cache so every pipeline reads from memory.
  tarBytes(dir);
  rows.push(shellPipeline('tar, gzip -6, sha256sum', dir, 'gzip -6', bytes));
  rows.push(shellPipeline('tar, pigz -6, sha256sum', dir, 'pigz -6', bytes));
  rows.push(ocibuild('ocibuild writeLayer (fflate, default)', dir, 'fflate', bytes));
  rows.push(ocibuild('ocibuild writeLayer (node:zlib)', dir, 'node', bytes));
  table(`${title}, tar ${(bytes / 1e6).toFixed(1)} MB`, rows);
}
