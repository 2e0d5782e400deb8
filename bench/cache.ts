/**
 * Benchmark: rebuilds of a Node-app-shaped Dockerfile through the step cache, ocibuild vs
 * `buildah bud --layers` (vfs, `--isolation chroot`) + `buildah push`, in the same run, to a
 * fresh local registry. Scenarios: cold build, warm rebuild with no change, rebuild after one
 * source file changed. The base (busybox) has no node, so the `npm ci` step is stood in for by
 * a RUN doing comparable work in sh (thousands of small files in node_modules); the lockfile
 * COPY before it is what keys it, as in a real Node Dockerfile.
 *
 * Run: `npm run bench -- cache` (`--quick` or BENCH_QUICK=1: fewer files, one round).
 * Targets (issue 7): no-change rebuild at most 0.1x buildah, one-file change at most 0.2x.
 * @module
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure } from './lib/measure.ts';
import { benchWorkspace } from './lib/workspace.ts';

const SELF = fileURLToPath(import.meta.url);
const CHILD = 'OCIBUILD_BENCH_CACHE_CHILD';
const QUICK = process.env.BENCH_QUICK === '1' || process.argv.includes('--quick');

if (process.env[CHILD]) {
  const { buildImage } = await import('../src/pipeline/index.ts');
  const [context, from, to, cacheDir] = JSON.parse(process.env[CHILD]) as string[];
  const started = performance.now();
  const result = await buildImage({
    dockerfile: 'Dockerfile',
    context: context as string,
    buildArgs: { BASE: from as string },
    to: to as string,
    sourceDateEpoch: 0,
    cache: { dir: cacheDir as string },
  });
  const seconds = (performance.now() - started) / 1000;
  const { runsExecuted, layersBuilt, stepsCached } = result.stats;
  process.stdout.write(JSON.stringify({ seconds, digest: result.digest, runsExecuted, layersBuilt, stepsCached }) + '\n');
  process.exit(0);
}

function dockerfile(packages: number): string {
  return [
    'ARG BASE',
    'FROM ${BASE}',
    'WORKDIR /app',
    'COPY package.json package-lock.json ./',
    // Stand-in for `npm ci`: one directory, package.json and three files per package.
    `RUN mkdir -p node_modules && cd node_modules && i=0; while [ $i -lt ${packages} ]; do mkdir p$i && echo "{\\"name\\":\\"p$i\\"}" > p$i/package.json && echo "module.exports=$i" > p$i/index.js && seq 1 200 > p$i/data.txt && cp p$i/index.js p$i/copy.js; i=$((i+1)); done`,
    'COPY src/ ./src/',
    'RUN ls -R src > build-info.txt',
    'CMD ["node", "src/index.js"]',
    '',
  ].join('\n');
}

async function writeApp(dir: string, files: number): Promise<void> {
  await fs.mkdir(path.join(dir, 'src', 'lib'), { recursive: true });
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', main: 'src/index.js' }));
  await fs.writeFile(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'bench-app', lockfileVersion: 3, packages: {} }));
  await fs.writeFile(path.join(dir, 'src', 'index.js'), 'console.log("hello");\n');
  for (let i = 0; i < files; i++) await fs.writeFile(path.join(dir, 'src', 'lib', `m${i}.js`), `module.exports = ${i};\n`.repeat(20));
}

const packages = QUICK ? 300 : 1500;
const rounds = QUICK ? 1 : 3;
const ws = await benchWorkspace('cache', SELF);
const { tmp, registry, from, runner } = ws;
try {
  const context = path.join(tmp, 'context');
  await writeApp(context, 200);
  await fs.writeFile(path.join(context, 'Dockerfile'), dockerfile(packages));
  console.log(`Node-app Dockerfile: "npm ci" stand-in RUN making ${packages * 4} files, 201 source files; registry ${registry.host}${QUICK ? ' (quick)' : ''}`);

  let tag = 0;
  const ocibuild = async (cacheDir: string): Promise<{ seconds: number; processSeconds: number; runsExecuted: number; layersBuilt: number }> => {
    const env = { ...process.env, [CHILD]: JSON.stringify([context, from, `${registry.host}/ocibuild/app:${tag++}`, cacheDir]) };
    const r = await measure(runner.argv, { env });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { seconds: number; runsExecuted: number; layersBuilt: number };
    return { ...out, processSeconds: r.seconds };
  };
  const buildah = async (root: string): Promise<number> => {
    const storage = ['--storage-driver', 'vfs', '--root', path.join(root, 'root'), '--runroot', path.join(root, 'run')];
    const bud = await measure(['buildah', ...storage, 'bud', '--layers', '--isolation', 'chroot', '--tls-verify=false', '--timestamp', '0', '--build-arg', `BASE=${from}`, '-t', 'bench-cache', '.'], { cwd: context });
    const push = await measure(['buildah', ...storage, 'push', '--tls-verify=false', 'bench-cache', `docker://${registry.host}/buildah/app:${tag++}`]);
    return bud.seconds + push.seconds;
  };
  const hasBuildah = (await measure(['buildah', '--version'], { check: false }).catch(() => undefined))?.code === 0;

  const results: Record<string, { ours: number[]; process: number[]; theirs: number[]; runs: number[]; built: number[] }> = {};
  const record = (scenario: string, ours: Awaited<ReturnType<typeof ocibuild>>, theirs: number | undefined): void => {
    const r = (results[scenario] ??= { ours: [], process: [], theirs: [], runs: [], built: [] });
    r.ours.push(ours.seconds);
    r.process.push(ours.processSeconds);
    r.runs.push(ours.runsExecuted);
    r.built.push(ours.layersBuilt);
    if (theirs !== undefined) r.theirs.push(theirs);
  };
  const indexFile = path.join(context, 'src', 'index.js');
  for (let round = 0; round < rounds; round++) {
    const cacheDir = path.join(tmp, `cache-${round}`);
    const buildahDir = path.join(tmp, `buildah-${round}`);
    await fs.writeFile(indexFile, 'console.log("hello");\n');
    record('cold', await ocibuild(cacheDir), hasBuildah ? await buildah(buildahDir) : undefined);
    record('no change', await ocibuild(cacheDir), hasBuildah ? await buildah(buildahDir) : undefined);
    await fs.writeFile(indexFile, `console.log("hello ${round}");\n`);
    record('one file changed', await ocibuild(cacheDir), hasBuildah ? await buildah(buildahDir) : undefined);
    await fs.rm(buildahDir, { recursive: true, force: true });
  }

  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const targets: Record<string, number> = { 'no change': 0.1, 'one file changed': 0.2 };
  console.log('| scenario | ocibuild build+push s | ocibuild process s | RUN executed | layers written | buildah bud+push s | ratio (build) | ratio (process) | target |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [scenario, r] of Object.entries(results)) {
    const o = median(r.ours);
    const p = median(r.process);
    const b = median(r.theirs);
    console.log(`| ${scenario} | ${o.toFixed(2)} | ${p.toFixed(2)} | ${median(r.runs)} | ${median(r.built)} | ${Number.isNaN(b) ? 'n/a' : b.toFixed(2)} | ${(o / b).toFixed(3)} | ${(p / b).toFixed(3)} | ${targets[scenario] !== undefined ? `<= ${targets[scenario]}` : ''} |`);
  }
} finally {
  await ws.close();
}
