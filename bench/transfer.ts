/**
 * Benchmark: push and pull of a multi-layer image (~200 MB of gzip layers) against a fresh local
 * registry, ocibuild's copyImage side by side with `skopeo copy` on the same image in the same run.
 *
 * Run: `npm run bench -- transfer` (or `node --import tsx bench/transfer.ts`). `BENCH_QUICK=1`
 * shrinks the image to ~20 MB and does one round. Each ocibuild transfer runs in a child process
 * so its peak RSS is its own; skopeo runs under `/usr/bin/time -f %M`.
 * @module
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildRandomLayout } from '../test/helpers/fixtures.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { ocibuildCopy } from '../test/interop/ocibuild.ts';

const execFileAsync = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');
const CHILD_ENV = 'OCIBUILD_BENCH_TRANSFER_CHILD';
const TIME = '/usr/bin/time';

/** One measured transfer. */
interface Sample {
  /** Seconds of the transfer itself (ocibuild: inside the process, after startup). */
  seconds: number;
  /** Seconds of the whole process, startup included. */
  processSeconds: number;
  /** Peak resident set size in MB. */
  peakRssMb: number;
}

/** Runs a command under /usr/bin/time (when present) and returns its wall time and peak RSS. */
async function timed(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; seconds: number; peakRssMb: number }> {
  const hasTime = existsSync(TIME);
  const [command, ...args] = hasTime ? [TIME, '-f', 'OCIBUILD_TIME %e %M', ...argv] : argv;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim().slice(-2000)}`));
      const match = /OCIBUILD_TIME ([\d.]+) (\d+)/.exec(stderr);
      resolve({ stdout, seconds, peakRssMb: match ? Number(match[2]) / 1024 : Number.NaN });
    });
  });
}

async function clearSkopeoCache(): Promise<void> {
  // skopeo remembers where blobs live and may mount instead of uploading (MACHINE-NOTES.md). Each
  // push also goes to a fresh registry on a new port, so a cache that another process is writing to
  // at the moment (rm fails with ENOTEMPTY) cannot help skopeo either: ignore that.
  for (const dir of ['/var/lib/containers/cache', path.join(os.homedir(), '.local/share/containers/cache')]) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

async function skopeoCopy(src: string, dst: string): Promise<Sample> {
  await clearSkopeoCache();
  const result = await timed([
    'skopeo', '--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', src, dst,
  ]);
  return { seconds: result.seconds, processSeconds: result.seconds, peakRssMb: result.peakRssMb };
}

/**
 * How to start an ocibuild child: a plain-JS bundle made with esbuild (tsx's own dependency) when
 * possible, so the numbers are those of compiled ocibuild and not of the tsx loader (~35 MB RSS,
 * seconds of start-up); else this file under tsx.
 */
async function childCommand(dir: string): Promise<{ argv: string[]; runner: string }> {
  try {
    const esbuild = (await import('esbuild')) as typeof import('esbuild');
    // Inside node_modules so the external packages (undici, fflate, ...) resolve from the bundle.
    const outfile = path.join(ROOT, 'node_modules', '.cache', 'ocibuild-bench', `transfer-${path.basename(dir)}.mjs`);
    await esbuild.build({ entryPoints: [SELF], outfile, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'error' });
    return { argv: [process.execPath, outfile], runner: 'node (esbuild bundle)' };
  } catch {
    return { argv: [process.execPath, '--import', 'tsx', SELF], runner: 'node --import tsx' };
  }
}

let childArgv: string[] = [];

async function ocibuildChild(src: string, dst: string): Promise<Sample> {
  const result = await timed(childArgv, {
    ...process.env,
    [CHILD_ENV]: JSON.stringify({ src, dst }),
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  const report = JSON.parse(line) as { seconds: number; maxRssKb: number };
  const peak = Number.isNaN(result.peakRssMb) ? report.maxRssKb / 1024 : result.peakRssMb;
  return { seconds: report.seconds, processSeconds: result.seconds, peakRssMb: peak };
}

/** Child mode: one copy, then a JSON line with the copy's own seconds and the process's peak RSS. */
async function child(spec: string): Promise<void> {
  const { src, dst } = JSON.parse(spec) as { src: string; dst: string };
  const startup = process.uptime();
  const started = performance.now();
  await ocibuildCopy(src, dst);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ seconds, startup, end: process.uptime(), maxRssKb: process.resourceUsage().maxRSS })}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function summarize(samples: Sample[]): Sample {
  return {
    seconds: median(samples.map((s) => s.seconds)),
    processSeconds: median(samples.map((s) => s.processSeconds)),
    peakRssMb: Math.max(...samples.map((s) => s.peakRssMb)),
  };
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1' || process.argv.includes('--quick');
  const rounds = quick ? 1 : 3;
  const layerSize = quick ? 5 << 20 : 50 << 20;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-bench-transfer-'));
  try {
    const child = await childCommand(dir);
    childArgv = child.argv;
    const image = await buildRandomLayout(dir, { layers: 5, layerSize, tag: 'bench', compressible: 0.2 });
    const mb = image.totalBytes / 1e6;
    console.log(`image: 5 layers, ${mb.toFixed(1)} MB (gzip), ${image.manifestDigest}; ocibuild runs as ${child.runner}`);
    // Warm the page cache so the first contender does not pay for reading the layout from disk.
    for (const layer of image.layers) await readFile(path.join(image.layoutPath, 'blobs/sha256', layer.digest.slice(7)));

    const samples: Record<string, Sample[]> = { 'push ocibuild': [], 'push skopeo': [], 'pull ocibuild': [], 'pull skopeo': [] };
    const source = `oci:${image.layoutPath}:bench`;
    for (let round = 0; round < rounds; round++) {
      // Alternate who goes first so neither always gets the warmer machine.
      const order = round % 2 === 0 ? (['ocibuild', 'skopeo'] as const) : (['skopeo', 'ocibuild'] as const);
      for (const tool of order) {
        // A fresh registry per push: nothing to skip, nothing to mount.
        const registry = await startRegistry();
        try {
          const target = `docker://${registry.host}/bench/${tool}:bench`;
          samples[`push ${tool}`]!.push(tool === 'ocibuild' ? await ocibuildChild(source, target) : await skopeoCopy(source, target));
          const check = await execFileAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', target]);
          if (!check.stdout.includes(image.layers[0]!.digest)) throw new Error(`${tool} push: manifest does not list the layers`);
          for (const puller of order) {
            const out = path.join(dir, `pull-${puller}-${round}`);
            const dst = `oci:${out}:bench`;
            samples[`pull ${puller}`]!.push(puller === 'ocibuild' ? await ocibuildChild(target, dst) : await skopeoCopy(target, dst));
            await rm(out, { recursive: true, force: true });
          }
        } finally {
          await registry.stop();
        }
      }
    }

    console.log('');
    console.log('| transfer | tool | seconds | MB/s | process s | peak RSS MB | ratio (seconds) | ratio (process) |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const op of ['push', 'pull'] as const) {
      const ours = summarize(samples[`${op} ocibuild`]!);
      const theirs = summarize(samples[`${op} skopeo`]!);
      for (const [tool, s] of [['ocibuild', ours], ['skopeo', theirs]] as const) {
        const ratio = tool === 'ocibuild' ? `${(ours.seconds / theirs.seconds).toFixed(2)}x` : '';
        const processRatio = tool === 'ocibuild' ? `${(ours.processSeconds / theirs.processSeconds).toFixed(2)}x` : '';
        console.log(
          `| ${op} | ${tool} | ${s.seconds.toFixed(2)} | ${(mb / s.seconds).toFixed(0)} | ${s.processSeconds.toFixed(2)} | ${s.peakRssMb.toFixed(0)} | ${ratio} | ${processRatio} |`,
        );
      }
    }
    console.log(`\n${rounds} round(s), median seconds, max RSS. Targets: ocibuild <= 1.0x skopeo, peak RSS < 150 MB.`);
    console.log('ocibuild "seconds" is the copy alone; "process s" adds Node start-up (~0.2-0.3 s here) and exit. skopeo: whole process.');
  } finally {
    await rm(dir, { recursive: true, force: true });
    if (childArgv[1]?.endsWith('.mjs')) await rm(childArgv[1], { force: true });
  }
}

const childSpec = process.env[CHILD_ENV];
if (childSpec !== undefined) await child(childSpec);
else await main();
