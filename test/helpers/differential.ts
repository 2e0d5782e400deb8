/**
 * The harness the Dockerfile differential tests share (`test/dockerfile/differential*.test.ts`):
 * fixture loading, context preparation with umask-independent modes, corrections of the
 * reference result, reading both images' trees and configs, and their comparison.
 * @module
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { OcibuildError } from '../../src/errors.ts';
import { buildahAvailable, type BuildahResult } from './buildah.ts';
import { buildBusyboxLayout, type BusyboxLayout } from './busybox.ts';
import { diffConfigs, diffTrees, readImageConfig, readTree, unpackImage, type ImageConfigJson, type TreeEntry } from './tree.ts';

/** Paths buildah's chroot RUN leaves in layers and BuildKit does not (docs/dockerfile-differences.md). */
export const BUILDAH_RUN_ARTIFACTS = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev', '/proc', '/sys', '/run'];

/** Files of a fixture directory that belong to the harness, never to the build context. */
const HARNESS_FILES = ['case.json', 'expected.json'];

/** The directory of a fixture set under `test/fixtures/` (`dockerfiles`, `dockerfiles-run`...). */
export function fixtureRoot(set: string): string {
  return path.join(import.meta.dirname, '..', 'fixtures', set);
}

/** The fixture directory names under `root`, sorted. */
export async function listFixtures(root: string): Promise<string[]> {
  return (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

/** Reads a fixture's optional `case.json` (`{}` when it has none). */
export async function readCaseSpec<T extends object>(root: string, name: string): Promise<T> {
  try {
    return JSON.parse(await fs.readFile(path.join(root, name, 'case.json'), 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {} as T;
    throw error;
  }
}

/** What a context gets beyond the fixture's files, because git cannot keep it. */
export interface ContextAdditions {
  /** Empty directories to create. */
  mkdirs?: string[];
  /** Files to write, path to text. */
  files?: Record<string, string>;
  /** Symlinks to create, path to target. */
  symlinks?: Record<string, string>;
  /** Modes (octal text) to set last: git keeps only 0644 and 0755 files. */
  modes?: Record<string, string>;
}

/**
 * Copies fixture `name` of `root` to `dest` without the harness files, adds `additions`, and
 * sets modes that do not depend on the checkout's umask: directories 0755, files 0755 when
 * executable else 0644; then `additions.modes`.
 */
export async function prepareContext(root: string, name: string, dest: string, additions: ContextAdditions = {}): Promise<void> {
  const fixture = path.join(root, name);
  await fs.cp(fixture, dest, { recursive: true, verbatimSymlinks: true, filter: (src) => !HARNESS_FILES.includes(path.relative(fixture, src)) });
  for (const dir of additions.mkdirs ?? []) await fs.mkdir(path.join(dest, dir), { recursive: true });
  for (const [rel, text] of Object.entries(additions.files ?? {})) {
    await fs.mkdir(path.dirname(path.join(dest, rel)), { recursive: true });
    await fs.writeFile(path.join(dest, rel), text);
  }
  const walk = async (dir: string): Promise<void> => {
    await fs.chmod(dir, 0o755);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) await fs.chmod(full, ((await fs.stat(full)).mode & 0o111) !== 0 ? 0o755 : 0o644);
    }
  };
  await walk(dest);
  for (const [rel, target] of Object.entries(additions.symlinks ?? {})) await fs.symlink(target, path.join(dest, rel));
  for (const [rel, mode] of Object.entries(additions.modes ?? {})) await fs.chmod(path.join(dest, rel), parseInt(mode, 8));
}

/** One tree correction: fields to set (mode in octal, `content` as text, `null` removes a field), or `remove`. */
export type TreeFix = Partial<Record<keyof Omit<TreeEntry, 'mode'>, unknown>> & { mode?: string; remove?: boolean; content?: string };

/** Corrections to the reference result where buildah 1.28 differs from Docker/BuildKit. */
export interface Fixes {
  /** Why buildah's result is not the one Docker/BuildKit give. */
  why: string;
  /** Entries to set, or to remove with everything below them. */
  tree?: Record<string, TreeFix>;
  /** Config fields to set. */
  config?: Record<string, unknown>;
}

/** A root filesystem tree and image config, as compared. */
export interface ImageResult {
  /** The unpacked tree, sorted by path. */
  tree: TreeEntry[];
  /** The image config. */
  config: ImageConfigJson;
}

/** Sorts entries by path (code-unit order, as `readTree`). */
export function sortByPath(entries: TreeEntry[]): TreeEntry[] {
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The size and SHA-256 a file with `content` has. */
export function contentFields(content: string): Pick<TreeEntry, 'size' | 'sha256'> {
  return { size: Buffer.byteLength(content), sha256: createHash('sha256').update(content).digest('hex') };
}

/** Applies `fixes` to the reference's tree and config. */
export function applyFixes(fixes: Fixes | undefined, image: ImageResult): ImageResult {
  if (!fixes) return image;
  const byPath = new Map(image.tree.map((e) => [e.path, { ...e }]));
  for (const [p, fix] of Object.entries(fixes.tree ?? {})) {
    if (fix.remove) {
      for (const key of [...byPath.keys()]) if (key === p || key.startsWith(`${p}/`)) byPath.delete(key);
      continue;
    }
    const { mode, remove: _remove, content, ...rest } = fix;
    const old = byPath.get(p) ?? ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 } as TreeEntry);
    const entry = { ...old, ...(rest as Partial<TreeEntry>), ...(mode !== undefined ? { mode: parseInt(mode, 8) } : {}) };
    // `null` removes a field (a file turned into a symlink has no content hash).
    for (const [key, value] of Object.entries(rest)) if (value === null) delete (entry as unknown as Record<string, unknown>)[key];
    if (content !== undefined) Object.assign(entry, contentFields(content));
    byPath.set(p, entry);
  }
  return { tree: sortByPath([...byPath.values()]), config: { ...image.config, config: { ...image.config.config, ...fixes.config } } };
}

/** Unpacks buildah's image into `DIR/buildah-bundle` and reads it, with `fixes` applied. */
export async function readReference(dir: string, reference: BuildahResult, fixes?: Fixes): Promise<ImageResult> {
  const unpacked = await unpackImage(reference.layoutPath, reference.tag, path.join(dir, 'buildah-bundle'));
  const tree = await readTree(unpacked.rootfs);
  return applyFixes(fixes, { tree, config: await readImageConfig(reference.layoutPath, reference.dockerTag) });
}

/** Unpacks ocibuild's `oci:OUT:latest` into `DIR/ocibuild-bundle` and reads it (the config of `platform` when given). */
export async function readOcibuild(dir: string, out: string, platform?: string): Promise<ImageResult> {
  const tree = await readTree((await unpackImage(out, 'latest', path.join(dir, 'ocibuild-bundle'))).rootfs);
  return { tree, config: await readImageConfig(out, 'latest', platform) };
}

/** The differences of two images' trees (mtimes and `ignore` left out) and Dockerfile-visible config fields. */
export function compareImages(expected: ImageResult, actual: ImageResult, labels: [string, string], ignore: string[] = []): string[] {
  return [...diffTrees(expected.tree, actual.tree, { ignoreMtime: true, ignore }, labels), ...diffConfigs(expected.config, actual.config, {}, labels)];
}

/** The history pattern of a config: `L` for a step with a layer, `E` for an `empty_layer` one. */
export function historyPattern(config: ImageConfigJson): string {
  return (config.history ?? []).map((h) => (h.empty_layer === true ? 'E' : 'L')).join('');
}

/** Asserts that `problems` is empty, listing them under the fixture's name. */
export function assertSame(name: string, reference: string, problems: string[]): void {
  assert.deepEqual(problems, [], `${name}: ocibuild differs from ${reference}:\n  ${problems.join('\n  ')}`);
}

/**
 * Asserts that `build` rejects with an OcibuildError matching `pattern` that names
 * `Dockerfile:line` (when `line` is given), and that nothing was written to the layout `out`.
 */
export async function assertRejected(build: Promise<unknown>, pattern: RegExp, line: number | undefined, out: string): Promise<void> {
  await assert.rejects(build, (error: unknown) => {
    assert.ok(error instanceof OcibuildError, `expected an OcibuildError, got ${String(error)}`);
    assert.match(error.message, pattern);
    if (line !== undefined) assert.match(error.message, new RegExp(`Dockerfile:${line}\\b`), `message should name Dockerfile:${line}: ${error.message}`);
    return true;
  });
  await assert.rejects(fs.stat(path.join(out, 'index.json')), { code: 'ENOENT' }, 'nothing may be written to the target');
}

/** A test file's work directory and busybox base, set by the hooks {@link busyboxWorkspace} registers. */
export interface BusyboxWorkspace {
  /** The temp directory everything is built in (removed after the tests). */
  work: string;
  /** A one-platform busybox image in `WORK/base`. */
  base: BusyboxLayout;
}

/** Registers hooks that make a temp work dir (`PREFIX*`) with a busybox base before the tests and remove it after. */
export function busyboxWorkspace(prefix: string): BusyboxWorkspace {
  const workspace = {} as BusyboxWorkspace;
  before(async () => {
    workspace.work = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    workspace.base = await buildBusyboxLayout(path.join(workspace.work, 'base'));
  });
  after(async () => {
    if (workspace.work) await fs.rm(workspace.work, { recursive: true, force: true });
  });
  return workspace;
}

/** Why RUN differential tests cannot run here, or false when they can. */
export function runDifferentialSkip(): string | false {
  return process.platform !== 'linux' ? 'RUN needs Linux' : !buildahAvailable() ? 'buildah is not installed: no reference build' : false;
}

/** Runs at most `limit` async jobs at a time (buildah and ocibuild each use a core). */
export function limiter(limit: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await job();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
