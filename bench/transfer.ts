/**
 * Benchmark: push and pull of a multi-layer image (~200 MB of gzip layers) against a fresh local
 * registry, ocibuild's copyImage side by side with `skopeo copy` on the same image in the same run.
 *
 * Run: `npm run bench -- transfer` (or `node --import tsx bench/transfer.ts`). `BENCH_QUICK=1`
 * shrinks the image to ~20 MB and does one round. Each ocibuild transfer runs in a child process
 * so its peak RSS is its own; skopeo runs under `/usr/bin/time -f %M`.
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildRandomLayout } from '../test/helpers/fixtures.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { ocibuildCopy } from '../test/interop/ocibuild.ts';
import { lastJsonLine, measure, median, nodeRunner, type NodeRunner } from './lib/measure.ts';

const execFileAsync = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);
const CHILD_ENV = 'OCIBUILD_BENCH_TRANSFER_CHILD';

/** One measured transfer. */
interface Sample {
  /** Seconds of the transfer itself (ocibuild: inside the process, after startup). */
  seconds: number;
  /** Seconds of the whole process, startup included. */
  processSeconds: number;
  /** Peak resident set size in MB. */
  peakRssMb: number;
}

async function clearSkopeoCache(): Promise<void> {
  // skopeo remembers where blobs live and may mount instead of uploading (MACHINE-NOTES.md). Each
  // push also goes to a fresh registry on a new port, so a cache that another process is writing to
  // at the moment (rm fails with ENOTEMPTY) cannot help skopeo either: ignore that.
  for (const dir of ['/var/lib/containers/cache', path.join(os.homedir(), '.local/share/containers/cache')]) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

/**
 * Flushes dirty pages, so that the write-back of what the previous transfer wrote (a fresh
 * registry's blobs after a push, a pulled layout) does not land on whichever tool runs next.
 */
async function settleDisk(): Promise<void> {
  await execFileAsync('sync').catch(() => undefined);
}

async function skopeoCopy(src: string, dst: string): Promise<Sample> {
  await clearSkopeoCache();
  const result = await measure(['skopeo', '--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', src, dst]);
  return { seconds: result.seconds, processSeconds: result.seconds, peakRssMb: result.peakRssMb };
}

let runner: NodeRunner | undefined;

async function ocibuildChild(src: string, dst: string): Promise<Sample> {
  const result = await measure(runner!.argv, { env: { ...process.env, [CHILD_ENV]: JSON.stringify({ src, dst }) } });
  const report = lastJsonLine<{ seconds: number; maxRssKb: number }>(result.stdout);
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
    runner = await nodeRunner(SELF, 'transfer');
    const image = await buildRandomLayout(dir, { layers: 5, layerSize, tag: 'bench', compressible: 0.2 });
    const mb = image.totalBytes / 1e6;
    console.log(`image: 5 layers, ${mb.toFixed(1)} MB (gzip), ${image.manifestDigest}; ocibuild runs as ${runner.description}`);
    // Warm the page cache so the first contender does not pay for reading the layout from disk.
    for (const layer of image.layers) await readFile(path.join(image.layoutPath, 'blobs/sha256', layer.digest.slice(7)));

    const samples: Record<string, Sample[]> = { 'push ocibuild': [], 'push skopeo': [], 'pull ocibuild': [], 'pull skopeo': [] };
    const source = `oci:${image.layoutPath}:bench`;
    let pushes = 0;
    for (let round = 0; round < rounds; round++) {
      // Alternate who goes first so neither always gets the warmer machine.
      const order = round % 2 === 0 ? (['ocibuild', 'skopeo'] as const) : (['skopeo', 'ocibuild'] as const);
      for (const tool of order) {
        // Pullers alternate per push (not per round), so each tool pulls first equally often.
        const pullers = pushes++ % 2 === 0 ? order : ([...order].reverse() as typeof order[number][]);
        // A fresh registry per push: nothing to skip, nothing to mount.
        const registry = await startRegistry();
        try {
          const target = `docker://${registry.host}/bench/${tool}:bench`;
          await settleDisk();
          samples[`push ${tool}`]!.push(tool === 'ocibuild' ? await ocibuildChild(source, target) : await skopeoCopy(source, target));
          const check = await execFileAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', target]);
          if (!check.stdout.includes(image.layers[0]!.digest)) throw new Error(`${tool} push: manifest does not list the layers`);
          for (const puller of pullers) {
            const out = path.join(dir, `pull-${puller}-${round}`);
            const dst = `oci:${out}:bench`;
            await settleDisk();
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
    for (const [name, list] of Object.entries(samples)) {
      console.log(`samples ${name}: ${list.map((x) => `${x.seconds.toFixed(2)}/${x.processSeconds.toFixed(2)}s ${x.peakRssMb.toFixed(0)}MB`).join(', ')}`);
    }
    console.log(`\n${rounds} round(s), median seconds, max RSS. Targets: ocibuild <= 1.0x skopeo, peak RSS < 150 MB.`);
    console.log('ocibuild "seconds" is the copy alone; "process s" adds Node start-up (~0.2-0.3 s here) and exit. skopeo: whole process.');
  } finally {
    await rm(dir, { recursive: true, force: true });
    await runner?.dispose();
  }
}

const childSpec = process.env[CHILD_ENV];
if (childSpec !== undefined) await child(childSpec);
else await main();
