/**
 * Benchmark: a Dockerfile with several RUN steps creating and deleting thousands of files on the
 * busybox base, built and pushed to a fresh local registry by ocibuild (`buildImage`, the rootless
 * Linux executor; root here, as in CI) and by `buildah bud` (vfs, `--isolation chroot`,
 * `--layers`) + `buildah push`, in the same run. Each ocibuild build runs in a child process so
 * its peak RSS is its own; peers run under `/usr/bin/time -f %M`.
 *
 * Run: `npm run bench -- dockerfile-run` (`--quick` or BENCH_QUICK=1: ~5x fewer files).
 * Targets (issue 6): at most 0.7x buildah's time, peak RSS under 200 MB.
 * @module
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure } from './lib/measure.ts';
import { benchWorkspace } from './lib/workspace.ts';

const SELF = fileURLToPath(import.meta.url);
const CHILD = 'OCIBUILD_BENCH_RUN_CHILD';
const QUICK = process.env.BENCH_QUICK === '1' || process.argv.includes('--quick');

if (process.env[CHILD]) {
  // Child: one build + push, reported as JSON on stdout.
  const { buildImage } = await import('../src/pipeline/index.ts');
  const [context, from, to, cacheDir] = JSON.parse(process.env[CHILD]) as string[];
  const loadRssMb = process.resourceUsage().maxRSS / 1024;
  const started = performance.now();
  const result = await buildImage({
    dockerfile: 'Dockerfile',
    context: context as string,
    buildArgs: { BASE: from as string },
    to: to as string,
    cache: { dir: cacheDir as string },
    registries: { insecure: [(to as string).split('/')[0] as string] },
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ seconds, digest: result.digest, layers: result.manifest.layers.length, rssMb: process.resourceUsage().maxRSS / 1024, loadRssMb }) + '\n');
  process.exit(0);
}

/** The benchmark Dockerfile: N files created, some deleted, a directory replaced, files appended to. */
function dockerfile(n: number): string {
  return [
    'ARG BASE',
    'FROM ${BASE}',
    `RUN mkdir -p /data/a && cd /data/a && i=0; while [ $i -lt ${n} ]; do echo "file $i" > f$i; i=$((i+1)); done`,
    `RUN mkdir -p /data/b && cd /data/b && i=0; while [ $i -lt ${Math.floor(n * 0.66)} ]; do echo "b $i" > g$i; i=$((i+1)); done && rm -f /data/a/f1*`,
    'RUN rm -rf /data/a && mkdir -p /data/a /data/c && seq 1 100000 > /data/c/numbers && cp /bin/busybox /data/c/bb',
    `RUN cd /data/b && i=0; while [ $i -lt ${Math.floor(n / 3)} ]; do echo more >> g$i; i=$((i+1)); done && rm -f g2*`,
    'RUN true',
    '',
  ].join('\n');
}

const n = QUICK ? 600 : 3000;
const ws = await benchWorkspace('dockerfile-run', SELF);
const { tmp, registry, from, runner } = ws;
try {
  const context = path.join(tmp, 'context');
  await fs.mkdir(context);
  await fs.writeFile(path.join(context, 'Dockerfile'), dockerfile(n));
  console.log(`Dockerfile: 5 RUN steps, ${n} + ${Math.floor(n * 0.66)} files created, ~${Math.floor(n / 9)} deleted, one directory replaced${QUICK ? ' (quick)' : ''}; registry ${registry.host}; running as ${process.getuid?.() === 0 ? 'root' : 'an unprivileged user'}`);

  const rounds = QUICK ? 1 : 2;
  const ours: { seconds: number; processSeconds: number; rssMb: number; loadRssMb: number; layers: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    const env = { ...process.env, [CHILD]: JSON.stringify([context, from, `${registry.host}/ocibuild/run:${i}`, path.join(tmp, `cache-${i}`)]) };
    const r = await measure(runner.argv, { env });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { seconds: number; rssMb: number; loadRssMb: number; layers: number };
    ours.push({ seconds: out.seconds, processSeconds: r.seconds, rssMb: Number.isNaN(r.peakRssMb) ? out.rssMb : r.peakRssMb, loadRssMb: out.loadRssMb, layers: out.layers });
  }

  const theirs: { seconds: number; rssMb: number }[] = [];
  const hasBuildah = (await measure(['buildah', '--version'], { check: false }).catch(() => undefined))?.code === 0;
  if (hasBuildah) {
    for (let i = 0; i < rounds; i++) {
      // Fresh storage per round: a cold build, as ocibuild's (no layer cache for RUN).
      const storage = ['--storage-driver', 'vfs', '--root', path.join(tmp, `buildah-root-${i}`), '--runroot', path.join(tmp, `buildah-run-${i}`)];
      const bud = await measure(['buildah', ...storage, 'bud', '--layers', '--isolation', 'chroot', '--tls-verify=false', '--timestamp', '0', '--build-arg', `BASE=${from}`, '-t', 'bench-run', '.'], { cwd: context });
      const push = await measure(['buildah', ...storage, 'push', '--tls-verify=false', 'bench-run', `docker://${registry.host}/buildah/run:${i}`]);
      theirs.push({ seconds: bud.seconds + push.seconds, rssMb: Math.max(bud.peakRssMb, push.peakRssMb) });
      await fs.rm(path.join(tmp, `buildah-root-${i}`), { recursive: true, force: true });
    }
  }

  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const o = median(ours.map((x) => x.seconds));
  const op = median(ours.map((x) => x.processSeconds));
  const b = theirs.length > 0 ? median(theirs.map((x) => x.seconds)) : NaN;
  console.log('| tool | build+push s (median) | process s | peak RSS MB | layers |');
  console.log('|---|---|---|---|---|');
  console.log(`| ocibuild | ${o.toFixed(2)} | ${op.toFixed(2)} | ${Math.max(...ours.map((x) => x.rssMb)).toFixed(0)} (code load ${ours[0]?.loadRssMb.toFixed(0)}) | ${ours[0]?.layers} |`);
  if (theirs.length > 0) console.log(`| buildah bud + push | ${b.toFixed(2)} | ${b.toFixed(2)} | ${Math.max(...theirs.map((x) => x.rssMb)).toFixed(0)} | |`);
  if (theirs.length > 0) console.log(`\nratio ocibuild/buildah: ${(o / b).toFixed(2)} (build), ${(op / b).toFixed(2)} (whole process); target <= 0.7, RSS < 200 MB`);
} finally {
  await ws.close();
}
