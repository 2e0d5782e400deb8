/**
 * Watch mode of the Node preset: build, then rebuild on every change of the project,
 * debounced, one build at a time, with one registry client (connections and tokens) and one
 * cache for the whole session. A change to app files reuses the plan and the dependency
 * layers written for it (node_modules is neither listed nor read again: only the app layers,
 * config and manifest are redone); a change to package.json, a lockfile, .dockerignore or
 * node_modules plans again.
 * @module
 */
import { buildEncoder } from '../pipeline/compression.ts';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { cachedWriteLayer } from '../cache/layers.ts';
import { openCache } from '../cache/store.ts';
import { makeOwnedTempDir } from '../pipeline/sweep.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import { writeLayer } from '../layer/write.ts';
import type { BuiltLayer, LayerSpec } from '../layer/types.ts';
import type { Platform } from '../oci/types.ts';
import { DEPENDENCIES_CREATED_BY } from './node-layers.ts';
import { buildImage, type BuildResult } from '../pipeline/index.ts';
import { createSession, forgetSourceTags } from '../pipeline/session.ts';
import { findProject } from './project.ts';
import { parseTarget } from '../transports/target.ts';
import { defaultCacheDir } from '../cache/store.ts';
import { nodeApp, type NodeAppBuildOptions, type NodeAppOptions } from './node.ts';

/**
 * One outcome of {@link watchNodeApp}.
 * @category Node
 */
export type WatchEvent =
  | { type: 'built'; result: BuildResult; options: NodeAppBuildOptions; replanned: boolean; durationMs: number; changed: string[] }
  | { type: 'failed'; error: unknown; changed: string[] };

/**
 * Options of {@link watchNodeApp}.
 * @category Node
 */
export interface WatchNodeAppOptions extends NodeAppOptions {
  /** Quiet time after the last change before rebuilding (default 100 ms). */
  debounceMs?: number;
  /** Stops watching; the promise of {@link watchNodeApp} then resolves after the build in progress. */
  signal?: AbortSignal;
  /** Called each time a dependency layer is listed and written (once per plan; tests count them). */
  onDependencyLayerWrite?: (spec: LayerSpec) => void;
}

/**
 * The plan with each dependency layer replaced by a memo: written (or taken from the cache)
 * into `dir` by the first build, then reused as is by every build of the same plan. The
 * watcher replans on any change under node_modules, so a memo never outlives its inputs.
 * `onWrite` is told of each layer actually listed and written (tests count them).
 */
export function reuseDependencyLayers(plan: NodeAppBuildOptions, dir: string, onWrite?: (spec: LayerSpec) => void): NodeAppBuildOptions {
  const memo = new Map<LayerSpec, Promise<BuiltLayer>>();
  const created = plan.sourceDateEpoch ?? sourceDateEpochFromEnv() ?? 0;
  const write = async (spec: LayerSpec): Promise<{ layer: BuiltLayer; cached: boolean }> => {
    onWrite?.(spec);
    await mkdir(dir, { recursive: true });
    const settings = { directory: dir, sourceDateEpoch: created, encoder: buildEncoder(plan), signal: plan.signal };
    if (plan.cache === false) return { layer: await writeLayer(spec, settings), cached: false };
    const { layer, cached } = await cachedWriteLayer(spec, await openCache(plan.cache ?? {}), settings);
    return { layer, cached };
  };
  const wrap = (spec: LayerSpec): LayerSpec => {
    if (spec.createdBy !== DEPENDENCIES_CREATED_BY || spec.prebuilt !== undefined) return spec;
    const prebuilt = async (): Promise<{ layer: BuiltLayer; cached: boolean }> => {
      const known = memo.get(spec);
      if (known !== undefined) return { layer: await known, cached: true };
      const written = write(spec);
      memo.set(spec, written.then((w) => w.layer));
      try {
        return await written;
      } catch (error) {
        memo.delete(spec);
        throw error;
      }
    };
    return { createdBy: spec.createdBy, comment: spec.comment, prebuilt };
  };
  const layers = plan.layers;
  if (layers === undefined) return plan;
  return { ...plan, layers: typeof layers === 'function' ? (platform: Platform) => layers(platform).map(wrap) : layers.map(wrap) };
}

/** Files whose change means planning again (the dependencies or what is copied may differ). */
function needsReplan(rel: string): boolean {
  const base = path.basename(rel);
  return (
    rel.split(path.sep).includes('node_modules') ||
    ['package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'yarn.lock', '.yarnrc.yml', 'bun.lock', 'bun.lockb', '.dockerignore'].includes(base)
  );
}

/** Paths whose changes never matter. */
function ignored(rel: string): boolean {
  const segments = rel.split(path.sep);
  return segments.includes('.git') || segments.some((s, i) => s === '.cache' && segments[i - 1] === 'node_modules');
}

/**
 * Builds the app in `dir`, then watches its project (the workspace root for a workspace
 * package) and rebuilds on change, reporting every build or failure to `onEvent`. A failed
 * build is reported and the watch goes on. Resolves when `options.signal` aborts.
 * @example
 * ```ts
 * import { watchNodeApp } from 'ocibuild';
 *
 * const controller = new AbortController();
 * await watchNodeApp('./my-app', { to: 'oci:./out:dev', signal: controller.signal }, (event) => {
 *   if (event.type === 'built') console.log('rebuilt', event.result.digest, 'after', event.changed);
 *   else console.error('build failed', event.error);
 * });
 * ```
 * @category Node
 */
export async function watchNodeApp(dir: string, options: WatchNodeAppOptions, onEvent: (event: WatchEvent) => void): Promise<void> {
  const { debounceMs = 100, signal, onDependencyLayerWrite: _onWrite, ...appOptions } = options;
  const project = await findProject(dir);
  // One session for every rebuild: connections, auth tokens and mount checks are reused.
  const session = appOptions.session ?? createSession(appOptions);
  const base: NodeAppOptions = { ...appOptions, session };
  let plan: NodeAppBuildOptions | undefined;
  // The dependency layers of the current plan live here (one folder per plan) until the next plan.
  let memoRoot: string | undefined;
  let plans = 0;
  let pending = new Set<string>(['(start)']);
  let replan = true;
  let timer: NodeJS.Timeout | undefined;
  let building: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const buildOnce = async (): Promise<void> => {
    const changed = [...pending];
    const replanning = replan || plan === undefined;
    pending = new Set();
    replan = false;
    const started = performance.now();
    try {
      if (replanning) {
        // A new plan reads the base tag again (app-file rebuilds keep the plan's base).
        forgetSourceTags(session);
        const planned = await nodeApp(dir, base);
        memoRoot ??= await makeOwnedTempDir('watch-');
        // Builds run one at a time: the previous plan's layers are no longer read.
        await rm(path.join(memoRoot, String(plans)), { recursive: true, force: true });
        plan = reuseDependencyLayers(planned, path.join(memoRoot, String(++plans)), options.onDependencyLayerWrite);
      }
      const result = await buildImage(plan as NodeAppBuildOptions);
      onEvent({ type: 'built', result, options: plan as NodeAppBuildOptions, replanned: replanning, durationMs: performance.now() - started, changed });
    } catch (error) {
      // The next change plans again: the failure may have come from the plan.
      replan = true;
      onEvent({ type: 'failed', error, changed });
    }
  };
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (building !== undefined) return; // the running build reschedules when it ends
      building = buildOnce().finally(() => {
        building = undefined;
        if (pending.size > 0) schedule();
        wake?.();
      });
    }, debounceMs);
  };

  // Outputs written inside the project (oci:./out, a cache dir) must not trigger the next build.
  const outputs = [...(Array.isArray(appOptions.to) ? appOptions.to : appOptions.to !== undefined ? [appOptions.to] : [])]
    .map((t) => parseTarget(t).path)
    .filter((p): p is string => p !== undefined)
    .concat(appOptions.cache === false ? [] : [defaultCacheDir(appOptions.cache ?? {})])
    .map((p) => path.relative(project.root, path.resolve(p)))
    .filter((rel) => rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel));
  const isOutput = (rel: string): boolean => outputs.some((o) => rel === o || rel.startsWith(o + path.sep) || rel === `${o}.tmp` || path.dirname(rel) === path.dirname(o) && path.basename(rel).startsWith(`${path.basename(o)}.`));

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(project.root, { recursive: true }, (_event, file) => {
      const rel = file === null ? '' : file.toString();
      if (rel !== '' && (ignored(rel) || isOutput(rel))) return;
      if (rel === '' || needsReplan(rel)) replan = true;
      pending.add(rel);
      schedule();
    });
    schedule();
    await new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    watcher?.close();
    clearTimeout(timer);
    while (building !== undefined) await new Promise<void>((resolve) => (wake = resolve));
    if (appOptions.session === undefined) await session.close();
    if (memoRoot !== undefined) await rm(memoRoot, { recursive: true, force: true });
  }
}
