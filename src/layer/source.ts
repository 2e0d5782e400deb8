/**
 * Host file access for layer entries: reading content with an exact size, lstat-based entry
 * typing, and directory walking with include/exclude/filter.
 * @module
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcibuildError, throwIfAborted } from '../errors.ts';
import { compileGlob, matchesAny } from './glob.ts';
import type { GlobMatcher } from './glob.ts';
import type { ResolvedEntryType } from './types.ts';

/** Bytes read per `read()` call from a host file. */
const READ_CHUNK = 512 * 1024;

/** True for a Node filesystem error with code ENOENT (or ENOTDIR, which means the same here). */
export function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Streams exactly `size` bytes of a host file. A file that shrank since it was listed fails with
 * `ERR_LAYER` (the tar header already promised `size` bytes); bytes beyond `size` are ignored.
 */
export async function* readHostFile(file: string, size: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    if (isNotFound(error)) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `source file ${file} disappeared while the layer was written`, { cause: error });
    throw error;
  }
  try {
    let remaining = size;
    while (remaining > 0) {
      throwIfAborted(signal);
      const n = Math.min(remaining, READ_CHUNK);
      // A fresh buffer per read: consumers may keep the chunk (nothing downstream copies defensively).
      const buffer = Buffer.allocUnsafeSlow(n);
      const { bytesRead } = await handle.read(buffer, 0, n, null);
      if (bytesRead === 0) {
        throw new OcibuildError('ERR_LAYER', `source file ${file} shrank while the layer was written (expected ${size} bytes)`);
      }
      remaining -= bytesRead;
      yield bytesRead === n ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** What a host path is, as far as a tar entry is concerned; undefined for sockets. */
export function entryTypeOf(stats: Stats): ResolvedEntryType | undefined {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'char-device';
  if (stats.isBlockDevice()) return 'block-device';
  return undefined;
}

/** Splits a Linux `st_rdev` into major and minor numbers (glibc's encoding). */
export function splitDevice(rdev: number): { devmajor: number; devminor: number } {
  const hi = Math.floor(rdev / 2 ** 32) >>> 0;
  const lo = rdev >>> 0;
  return {
    devmajor: (((lo >>> 8) & 0xfff) | (hi & 0xfffff000)) >>> 0,
    devminor: ((lo & 0xff) | ((lo >>> 12) & 0xfff00) | ((hi & 0xfff) << 20)) >>> 0,
  };
}

/** One host path found by {@link walkDirectory}. */
export interface WalkedPath {
  /** Path relative to the walked root, POSIX separators. */
  relative: string;
  /** Absolute host path. */
  absolute: string;
  /** lstat of the path. */
  stats: Stats;
}

/** Options of {@link walkDirectory}. */
export interface WalkOptions {
  /** Include globs; empty means everything. */
  include?: readonly string[];
  /** Exclude globs; a matching directory prunes its subtree. */
  exclude?: readonly string[];
  /** Extra filter; false prunes (a directory's whole subtree). */
  filter?: (relativePath: string) => boolean;
  /** Abort signal. */
  signal?: AbortSignal;
}

/**
 * Walks a host directory (never following symlinks) and returns every kept path below it, not
 * the root itself. With `include`, a path is kept when it or an ancestor matches, and a directory
 * also when something below it is kept.
 */
export async function walkDirectory(root: string, options: WalkOptions = {}): Promise<WalkedPath[]> {
  const include: GlobMatcher[] = (options.include ?? []).map(compileGlob);
  const exclude: GlobMatcher[] = (options.exclude ?? []).map(compileGlob);
  const out: WalkedPath[] = [];

  // Returns whether anything under `dir` was kept, so parents of included paths are kept too.
  async function visit(dir: string, relativeDir: string, included: boolean): Promise<boolean> {
    throwIfAborted(options.signal);
    const names: string[] = [];
    const handle = await fs.opendir(dir);
    for await (const dirent of handle) names.push(dirent.name);
    // lstat a directory's children concurrently: thousands of sequential round trips to the
    // thread pool dominate the walk otherwise.
    const children = await Promise.all(
      names.map(async (name) => {
        const absolute = path.join(dir, name);
        const relative = relativeDir === '' ? name : `${relativeDir}/${name}`;
        if (matchesAny(exclude, relative)) return undefined;
        if (options.filter !== undefined && !options.filter(relative)) return undefined;
        return { relative, absolute, stats: await fs.lstat(absolute) };
      }),
    );
    let keptAny = false;
    for (const child of children) {
      if (child === undefined) continue;
      const childIncluded = included || include.length === 0 || matchesAny(include, child.relative);
      if (child.stats.isDirectory()) {
        const index = out.length;
        out.push(child);
        const keptBelow = await visit(child.absolute, child.relative, childIncluded);
        if (!childIncluded && !keptBelow) out.splice(index, 1);
        else keptAny = true;
      } else if (childIncluded) {
        out.push(child);
        keptAny = true;
      }
    }
    return keptAny;
  }

  await visit(root, '', false);
  return out;
}
