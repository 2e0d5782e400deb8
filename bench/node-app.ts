/**
 * Benchmark: the Node preset on a generated app (~40 MB / ~3,000-file node_modules, 200 source
 * files) against a fresh local registry: cold build+push, no-change rebuild, one-file rebuild,
 * side by side in the same run with `buildah bud` (vfs, chroot, an equivalent Dockerfile with
 * COPY steps, `--layers`) + `buildah push`, and `containerify` when `npm exec` can install it.
 *
 * Run: `npm run bench -- node-app`. `BENCH_QUICK=1` makes the app ~10x smaller. Each ocibuild
 * build runs in a child process so its peak RSS is its own; the table shows the build time
 * measured inside that process and the whole process time (startup and TypeScript loading
 * included). Peers run under `/usr/bin/time -f %M`.
 * @module
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appSize, editOneFile, makeApp as makeAppIn } from './lib/app.ts';
import { measure } from './lib/measure.ts';
import { benchWorkspace } from './lib/workspace.ts';

const SELF = fileURLToPath(import.meta.url);
const CHILD = 'OCIBUILD_BENCH_NODE_CHILD';
const QUICK = process.env.BENCH_QUICK === '1' || process.argv.includes('--quick');

if (process.env[CHILD]) {
  // Child: one build, reported as JSON on stdout.
  const { nodeApp, buildImage } = await import('../src/index.ts');
  const [dir, from, to, cacheDir] = JSON.parse(process.env[CHILD]) as string[];
  // What loading the code costs before any work (the bundle: a few MB; through tsx: ~60 MB).
  const loadRssMb = process.resourceUsage().maxRSS / 1024;
  const started = performance.now();
  const options = await nodeApp(dir as string, { from, to, cache: { dir: cacheDir as string } });
  const presetSeconds = (performance.now() - started) / 1000;
  const result = await buildImage(options);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ seconds, presetSeconds, digest: result.digest, stats: result.stats, rssMb: process.resourceUsage().maxRSS / 1024, loadRssMb }) + '\n');
  process.exit(0);
}

const makeApp = (dir: string): Promise<{ files: number; bytes: number }> => makeAppIn(dir, appSize(QUICK));

interface Row {
  scenario: string;
  ocibuild?: { seconds: number; presetSeconds: number; processSeconds: number; rssMb: number; loadRssMb: number; built: number; cached: number; uploaded: number };
  buildah?: { seconds: number; rssMb: number };
  containerify?: { seconds: number; rssMb: number };
}

const ws = await benchWorkspace('node-app', SELF);
const { tmp, registry, from, runner } = ws;
try {
  const app = path.join(tmp, 'app');
  const made = await makeApp(app);
  console.log(`app: ${made.files} files, ${(made.bytes / 1e6).toFixed(1)} MB in node_modules${QUICK ? ' (quick)' : ''}; registry ${registry.host}`);
  const rows: Row[] = [{ scenario: 'cold build+push' }, { scenario: 'no-change rebuild' }, { scenario: 'one-file rebuild' }];

  // ocibuild, compiled (an esbuild bundle under plain node), as users run it
  console.log(`ocibuild runs as: ${runner.description}`);
  const cacheDir = path.join(tmp, 'ocibuild-cache');
  for (const [i, row] of rows.entries()) {
    if (i === 2) await editOneFile(app, 1);
    const env = { ...process.env, [CHILD]: JSON.stringify([app, from, `${registry.host}/ocibuild/app:1`, cacheDir]) };
    const r = await measure(runner.argv, { env });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { seconds: number; presetSeconds: number; loadRssMb: number; rssMb: number; stats: { layersBuilt: number; layersCached: number; blobsUploaded: number } };
    row.ocibuild = {
      seconds: out.seconds,
      presetSeconds: out.presetSeconds,
      loadRssMb: out.loadRssMb,
      processSeconds: r.seconds,
      rssMb: Number.isNaN(r.peakRssMb) ? out.rssMb : r.peakRssMb,
      built: out.stats.layersBuilt,
      cached: out.stats.layersCached,
      uploaded: out.stats.blobsUploaded,
    };
  }

  // buildah (same edit sequence on a fresh copy of the app)
  const hasBuildah = (await measure(['buildah', '--version'], { check: false }).catch(() => undefined))?.code === 0;
  if (hasBuildah) {
    await editOneFile(app, 2); // keep the trees comparable: buildah's third round also sees a new edit
    const storage = ['--storage-driver', 'vfs', '--root', path.join(tmp, 'buildah-root'), '--runroot', path.join(tmp, 'buildah-run')];
    for (const [i, row] of rows.entries()) {
      if (i === 2) await editOneFile(app, 3);
      const bud = await measure(['buildah', ...storage, 'bud', '--layers', '--isolation', 'chroot', '--tls-verify=false', '--timestamp', '0', '--build-arg', `BASE=${from}`, '-f', 'Dockerfile.bench', '-t', 'bench-app', '.'], { cwd: app });
      const push = await measure(['buildah', ...storage, 'push', '--tls-verify=false', 'bench-app', `docker://${registry.host}/buildah/app:1`]);
      row.buildah = { seconds: bud.seconds + push.seconds, rssMb: Math.max(bud.peakRssMb, push.peakRssMb) };
    }
  }

  // containerify (no cache of its own: every round is a full build)
  const containerify = ['npm', 'exec', '--yes', 'containerify@4.1.0', '--'];
  const probe = await measure([...containerify, '--version'], { check: false }).catch(() => undefined);
  if (probe?.code === 0) {
    const folder = path.join(tmp, 'containerify-app');
    await fs.cp(app, folder, { recursive: true, verbatimSymlinks: true });
    for (const row of rows) {
      const r = await measure([...containerify, '--registry', `http://${registry.host}/v2/`, '--fromImage', 'base/busybox:latest', '--toImage', 'containerify/app:1', '--folder', folder, '--allowNoPushAuth', '--setTimeStamp', '1970-01-01T00:00:00Z'], { check: false });
      if (r.code === 0) row.containerify = { seconds: r.seconds, rssMb: r.peakRssMb };
    }
  } else {
    console.log('containerify: not installable here, skipped');
  }

  const f = (n: number | undefined, d = 2): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  console.log('');
  console.log('| scenario | ocibuild build s (preset) | ocibuild process s | layers built/cached | blobs uploaded | ocibuild RSS MB (after load) | buildah s | ratio (build) | ratio (process) | buildah RSS MB | containerify s |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const o = r.ocibuild;
    const b = r.buildah;
    console.log(
      `| ${r.scenario} | ${f(o?.seconds)} (${f(o?.presetSeconds)}) | ${f(o?.processSeconds)} | ${o ? `${o.built}/${o.cached}` : '-'} | ${o?.uploaded ?? '-'} | ${f(o?.rssMb, 0)} (${f(o?.loadRssMb, 0)}) | ${f(b?.seconds)} | ${o && b ? f(o.seconds / b.seconds) : '-'}x | ${o && b ? f(o.processSeconds / b.seconds) : '-'}x | ${f(b?.rssMb, 0)} | ${f(r.containerify?.seconds)} |`,
    );
  }
  console.log('\ntargets: cold <= 0.5x buildah, one-file <= 0.15x, ocibuild peak RSS < 150 MB');
} finally {
  await ws.close();
}
