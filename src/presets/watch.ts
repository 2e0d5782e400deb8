/**
 * Watch mode of the Node preset: build, then rebuild on every change of the project,
 * debounced, one build at a time, with one registry client (connections and tokens) and one
 * cache for the whole session. A change to app files reuses the plan (the layers re-read the
 * disk, so only the app layer is rebuilt); a change to package.json, a lockfile, .dockerignore
 * or node_modules plans again.
 * @module
 */
import { watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { buildImage, type BuildResult } from '../build/index.ts';
import { createSession } from '../build/session.ts';
import { findProject } from './project.ts';
import { parseTarget } from '../transports/target.ts';
import { defaultCacheDir } from '../cache/store.ts';
import { nodeApp, type NodeAppBuildOptions, type NodeAppOptions } from './node.ts';

/** One outcome of {@link watchNodeApp}. */
export type WatchEvent =
  | { type: 'built'; result: BuildResult; options: NodeAppBuildOptions; replanned: boolean; durationMs: number; changed: string[] }
  | { type: 'failed'; error: unknown; changed: string[] };

/** Options of {@link watchNodeApp}. */
export interface WatchNodeAppOptions extends NodeAppOptions {
  /** Quiet time after the last change before rebuilding (default 100 ms). */
  debounceMs?: number;
  /** Stops watching; the promise of {@link watchNodeApp} then resolves after the build in progress. */
  signal?: AbortSignal;
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
 */
export async function watchNodeApp(dir: string, options: WatchNodeAppOptions, onEvent: (event: WatchEvent) => void): Promise<void> {
  const { debounceMs = 100, signal, ...appOptions } = options;
  const project = await findProject(dir);
  // One session for every rebuild: connections, auth tokens and mount checks are reused.
  const session = appOptions.session ?? createSession(appOptions);
  const base: NodeAppOptions = { ...appOptions, session };
  let plan: NodeAppBuildOptions | undefined;
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
      if (replanning) plan = await nodeApp(dir, base);
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
  }
}
