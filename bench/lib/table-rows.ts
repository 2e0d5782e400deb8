/**
 * The comparisons of the benchmark table (issue 15), each ocibuild and its peer run as whole
 * processes in the same run, alternating which goes first: CLI start-up, copy push and pull,
 * the cold Node app build, the one-file rebuild, the layer writer on a small tree, and the
 * per-step overhead of `RUN true`.
 * @module
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildBusyboxLayout, pushLayoutToRegistry } from '../../test/helpers/busybox.ts';
import { buildRandomLayout } from '../../test/helpers/fixtures.ts';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.ts';
import { appSize, editOneFile, makeApp } from './app.ts';
import { makeTree } from './data.ts';
import { measure, nodeRunner, ROOT } from './measure.ts';
import { makeRow, median, type Row, type Side } from './table-format.ts';

const execFileAsync = promisify(execFile);

/** What every comparison gets. */
export interface RowContext {
  /** argv prefix running the ocibuild CLI (`node dist/cli/main.js`). */
  cli: string[];
  /** Samples per side. */
  runs: number;
  /** Small data. */
  quick: boolean;
  /** Scratch directory, removed by the caller. */
  tmp: string;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** A registry holding `base/busybox:latest`, started on first use and stopped by the caller. */
  baseRegistry: () => Promise<TestRegistry>;
}

/** One comparison: its row ids and how to produce them. */
export interface Comparison {
  /** The ids of the rows it produces (what `--only` selects). */
  ids: string[];
  /** Runs it. */
  run(ctx: RowContext): Promise<Row[]>;
}

/** A named command to measure, with an optional step before each sample (not timed). */
interface Contender {
  name: string;
  argv: string[] | (() => Promise<string[]>);
  before?: () => Promise<void>;
  env?: NodeJS.ProcessEnv;
}

/** Runs each contender `samples` times, alternating who goes first; one {@link Side} each. */
async function sampleSides(contenders: Contender[], samples: number): Promise<Side[]> {
  const seconds: number[][] = contenders.map(() => []);
  const peaks: number[] = contenders.map(() => Number.NaN);
  for (let i = 0; i < samples; i++) {
    const order = contenders.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) {
      const c = contenders[k]!;
      await c.before?.();
      const argv = typeof c.argv === 'function' ? await c.argv() : c.argv;
      const m = await measure(argv, c.env === undefined ? {} : { env: c.env });
      seconds[k]!.push(m.seconds);
      if (!(m.peakRssMb <= peaks[k]!)) peaks[k] = m.peakRssMb;
    }
  }
  return contenders.map((c, k) => ({ name: c.name, seconds: median(seconds[k]!), samples: seconds[k]!, peakRssMb: peaks[k]! }));
}

const NODE_E0: Contender = { name: 'node -e 0', argv: [process.execPath, '-e', '0'] };

const shell = (script: string): string[] => ['bash', '-c', `set -o pipefail; ${script}`];

/** `ocibuild --version` against `node -e 0`. */
export const startup: Comparison = {
  ids: ['startup'],
  async run(ctx) {
    const [ours, peer] = await sampleSides([{ name: 'ocibuild --version', argv: [...ctx.cli, '--version'] }, NODE_E0], ctx.runs * 5);
    return [makeRow('startup', 'CLI start-up (`--version`)', ours!, peer!, { kind: 'ratio', max: 1.6 })];
  },
};

/** Empties skopeo's blob-info cache, which would let it mount instead of upload. */
async function clearSkopeoCache(): Promise<void> {
  for (const dir of ['/var/lib/containers/cache', path.join(os.homedir(), '.local/share/containers/cache')]) {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
}

/** Flushes dirty pages so the previous transfer's write-back does not land on the next one. */
async function settle(): Promise<void> {
  await execFileAsync('sync').catch(() => undefined);
}

const SKOPEO = ['skopeo', '--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false'];

/**
 * `ocibuild copy` against `skopeo copy`, oci: layout → fresh local registry (push) and registry
 * → new oci: layout (pull), of a 5-layer image of ~210 MB of gzip layers (quick: ~10 MB).
 */
export const transfers: Comparison = {
  ids: ['copy-push', 'copy-pull'],
  async run(ctx) {
    const layerSize = ctx.quick ? 2 << 20 : 52 << 20;
    const image = await buildRandomLayout(path.join(ctx.tmp, 'image'), { layers: 5, layerSize, tag: 'bench', compressible: 0.2 });
    const mb = image.totalBytes / 1e6;
    ctx.log(`transfers: 5 layers, ${mb.toFixed(0)} MB gzip`);
    const source = `oci:${image.layoutPath}:bench`;
    const push: Record<'ocibuild' | 'skopeo', { seconds: number[]; peak: number }> = { ocibuild: { seconds: [], peak: 0 }, skopeo: { seconds: [], peak: 0 } };
    const pull: typeof push = { ocibuild: { seconds: [], peak: 0 }, skopeo: { seconds: [], peak: 0 } };
    const run = async (tool: 'ocibuild' | 'skopeo', src: string, dst: string, into: typeof push): Promise<void> => {
      await settle();
      if (tool === 'skopeo') await clearSkopeoCache();
      const m = await measure(tool === 'ocibuild' ? [...ctx.cli, 'copy', '--progress', 'quiet', src, dst] : [...SKOPEO, src, dst]);
      into[tool].seconds.push(m.seconds);
      into[tool].peak = Math.max(into[tool].peak, m.peakRssMb);
    };
    for (let i = 0; i < ctx.runs; i++) {
      const order = i % 2 === 0 ? (['ocibuild', 'skopeo'] as const) : (['skopeo', 'ocibuild'] as const);
      // A fresh registry per push: nothing to skip, nothing to mount.
      const registries = { ocibuild: await startRegistry(), skopeo: await startRegistry() };
      try {
        for (const tool of order) await run(tool, source, `docker://${registries[tool].host}/bench/image:bench`, push);
        const pulled = `docker://${registries.skopeo.host}/bench/image:bench`;
        for (const tool of order) {
          const out = path.join(ctx.tmp, `pull-${tool}`);
          await run(tool, pulled, `oci:${out}:bench`, pull);
          await fs.rm(out, { recursive: true, force: true });
        }
      } finally {
        await registries.ocibuild.stop();
        await registries.skopeo.stop();
      }
    }
    const side = (name: string, s: { seconds: number[]; peak: number }): Side => ({ name, seconds: median(s.seconds), samples: s.seconds, peakRssMb: s.peak });
    const note = `5-layer image, ${mb.toFixed(0)} MB of gzip layers; a fresh registry per push, skopeo's blob cache cleared`;
    return [
      makeRow('copy-push', 'copy push (oci: → registry)', side('ocibuild copy', push.ocibuild), side('skopeo copy', push.skopeo), { kind: 'ratio', max: 1.0, maxRssMb: 150 }, note),
      makeRow('copy-pull', 'copy pull (registry → oci:)', side('ocibuild copy', pull.ocibuild), side('skopeo copy', pull.skopeo), { kind: 'ratio', max: 1.0, maxRssMb: 150 }),
    ];
  },
};

/**
 * The Node app (bench/node-app's) built and pushed cold by `ocibuild node` against
 * `tar --sort=name | pigz -6 | sha256sum` of the app; then one source file edited and rebuilt
 * with the cache, against `node -e 0`.
 */
export const nodeApp: Comparison = {
  ids: ['node-cold', 'one-file'],
  async run(ctx) {
    const registry = await ctx.baseRegistry();
    const app = path.join(ctx.tmp, 'app');
    const made = await makeApp(app, appSize(ctx.quick));
    ctx.log(`node app: ${made.files} files, ${(made.bytes / 1e6).toFixed(0)} MB`);
    let build = 0;
    const nodeArgv = (cache: string, repo: string): string[] => [
      ...ctx.cli, 'node', app, '--from', `${registry.host}/base/busybox:latest`, '--to', `${registry.host}/${repo}:1`, '--cache-dir', cache, '--progress', 'quiet',
    ];
    const cold: Contender = { name: 'ocibuild node (cold)', argv: async () => nodeArgv(path.join(ctx.tmp, `cache-${++build}`), `ocibuild/app-${build}`) };
    const tar: Contender = { name: 'tar | pigz -6 | sha256sum', argv: shell(`tar --sort=name -cf - -C '${app}' . | pigz -6 | sha256sum`) };
    const [ours, peer] = await sampleSides([cold, tar], ctx.runs);
    // The last cold build's cache and repository: each sample edits one file and rebuilds.
    const warmCache = path.join(ctx.tmp, `cache-${build}`);
    let edit = 0;
    const rebuild: Contender = { name: 'ocibuild node (one file changed)', argv: nodeArgv(warmCache, `ocibuild/app-${build}`), before: () => editOneFile(app, ++edit) };
    const [again, node] = await sampleSides([rebuild, NODE_E0], ctx.runs);
    const note = `${made.files} files, ${(made.bytes / 1e6).toFixed(0)} MB of node_modules; busybox base in a local registry; push included`;
    return [
      makeRow('node-cold', 'cold Node app build+push', ours!, peer!, { kind: 'ratio', max: 2.0, maxRssMb: 150 }, note),
      makeRow('one-file', 'one-file rebuild+push', again!, node!, { kind: 'ratio', max: 5.0 }),
    ];
  },
};

/** The layer writer on a ~4 MB node_modules-like tree against `tar | gzip -6 | sha256sum`. */
export const smallLayer: Comparison = {
  ids: ['layer-small'],
  async run(ctx) {
    const tree = path.join(ctx.tmp, 'small-tree');
    await makeTree(tree, { files: 300, bytes: 4_000_000 });
    const out = path.join(ctx.tmp, 'layer-out');
    await fs.mkdir(out, { recursive: true });
    const runner = await nodeRunner(path.join(ROOT, 'bench/lib/layer-child.ts'), 'table-layer');
    try {
      const [ours, peer] = await sampleSides(
        [
          { name: 'writeLayer (bundled, whole process)', argv: [...runner.argv, tree, out, 'default'] },
          { name: 'tar | gzip -6 | sha256sum', argv: shell(`tar --sort=name -cf - -C '${tree}' . | gzip -6 | sha256sum`) },
        ],
        ctx.runs,
      );
      return [makeRow('layer-small', 'layer writer, 4 MB tree', ours!, peer!, { kind: 'ratio', max: 1.2 }, `300 files; ocibuild runs as ${runner.description}`)];
    } finally {
      await runner.dispose();
    }
  },
};

const EXTRA_STEPS = 10;

/**
 * The cost of one `RUN true`: (`ocibuild build` of a Dockerfile with 1 + 10 `RUN true` minus one
 * with 1) / 10, against running `sh -c true` in bwrap directly (user and PID namespaces, fresh
 * /proc), the sandbox ocibuild sets up.
 */
export const runTrue: Comparison = {
  ids: ['run-true'],
  async run(ctx) {
    const registry = await ctx.baseRegistry();
    const contexts: string[] = [];
    for (const steps of [1, 1 + EXTRA_STEPS]) {
      const dir = path.join(ctx.tmp, `run-${steps}`);
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, 'Dockerfile'), `FROM ${registry.host}/base/busybox:latest\n${'RUN true\n'.repeat(steps)}`);
      contexts.push(dir);
    }
    let n = 0;
    const buildOf = (dir: string, name: string): Contender => ({
      name,
      argv: async () => [...ctx.cli, 'build', dir, '--to', `oci:${path.join(ctx.tmp, `run-out-${++n}`)}:latest`, '--progress', 'quiet'],
    });
    const bwrap: Contender = { name: 'bwrap … sh -c true', argv: ['bwrap', '--unshare-user', '--unshare-pid', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', '/bin/sh', '-c', 'true'] };
    const [one, many, direct] = await sampleSides([buildOf(contexts[0]!, 'build, 1 RUN'), buildOf(contexts[1]!, `build, ${1 + EXTRA_STEPS} RUN`), bwrap], ctx.runs);
    const perStep = one!.samples.map((s, i) => (many!.samples[i]! - s) / EXTRA_STEPS);
    const ours: Side = { name: 'ocibuild, per RUN true', seconds: (many!.seconds - one!.seconds) / EXTRA_STEPS, samples: perStep, peakRssMb: many!.peakRssMb };
    const note = `(build with ${1 + EXTRA_STEPS} RUN − build with 1) / ${EXTRA_STEPS}: ${(many!.seconds * 1000).toFixed(0)} − ${(one!.seconds * 1000).toFixed(0)} ms`;
    return [makeRow('run-true', '`RUN true` per-step overhead', ours, direct!, { kind: 'overhead-ms', max: 25 }, note)];
  },
};

/** Every comparison, in table order. */
export const COMPARISONS: readonly Comparison[] = [startup, transfers, nodeApp, smallLayer, runTrue];

/** Starts a registry and pushes the busybox base image to `base/busybox:latest`. */
export async function startBaseRegistry(tmp: string): Promise<TestRegistry> {
  const registry = await startRegistry();
  try {
    const base = await buildBusyboxLayout(path.join(tmp, 'busybox'));
    await pushLayoutToRegistry(base.layoutPath, base.tag, registry.host, 'base/busybox');
    return registry;
  } catch (error) {
    await registry.stop();
    throw error;
  }
}
