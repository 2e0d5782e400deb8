/**
 * Resolving container paths to host paths inside a root filesystem with chroot semantics:
 * `..` stops at the root and symlinks (absolute or relative) are followed inside the root,
 * never out of it. This is what keeps extraction and mount set-up from touching the host.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';

/** Result of {@link resolveInRoot}. */
export interface ResolvedPath {
  /** Host path, always `root` or below it, with every existing symlink component resolved. */
  hostPath: string;
  /** The same path relative to the root, POSIX form, without leading slash (`''` for the root). */
  relative: string;
  /** True when the final path exists (as seen with lstat, or stat when the final link was followed). */
  exists: boolean;
  /** Host paths of the components that do not exist yet, shallowest first (the final one last). */
  missing: string[];
}

/** Options of {@link resolveInRoot}. */
export interface ResolveOptions {
  /** Follow a symlink in the last component too (default false: the link itself is the result). */
  followFinal?: boolean;
}

const MAX_SYMLINKS = 40;

/** Splits a container path into clean components (no empty, `.`). `..` is kept for the resolver. */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves container path `p` inside `root` the way the kernel would after `chroot(root)`,
 * using lstat on the host. Throws `ERR_PATH_ESCAPE` only on symlink loops; escapes are
 * impossible by construction because `..` at the root stays at the root.
 */
export function resolveInRoot(root: string, p: string, options: ResolveOptions = {}): ResolvedPath {
  const rootAbs = path.resolve(root);
  const resolved: string[] = [];
  let pending = components(p);
  let links = 0;
  let missingFrom = -1;
  while (pending.length > 0) {
    const [head, ...rest] = pending;
    pending = rest;
    if (head === undefined) break;
    if (head === '..') {
      resolved.pop();
      if (missingFrom >= resolved.length) missingFrom = -1;
      continue;
    }
    resolved.push(head);
    if (missingFrom !== -1) continue;
    const isFinal = pending.length === 0;
    const hostPath = path.join(rootAbs, ...resolved);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.lstatSync(hostPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ENOTDIR') throw error;
    }
    if (stat === undefined) {
      missingFrom = resolved.length - 1;
      continue;
    }
    if (stat.isSymbolicLink() && (!isFinal || options.followFinal === true)) {
      if (++links > MAX_SYMLINKS) {
        throw new OcibuildError('ERR_PATH_ESCAPE', `too many levels of symbolic links resolving ${p} in ${rootAbs}`);
      }
      const target = fs.readlinkSync(hostPath);
      resolved.pop();
      // An absolute target restarts at the root of the rootfs, never the host's.
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...components(target), ...pending];
    }
  }
  const hostPath = path.join(rootAbs, ...resolved);
  const missing: string[] = [];
  if (missingFrom !== -1) {
    for (let i = missingFrom; i < resolved.length; i++) missing.push(path.join(rootAbs, ...resolved.slice(0, i + 1)));
  }
  return { hostPath, relative: resolved.join('/'), exists: missingFrom === -1, missing };
}

/** True when `child` is `parent` or below it (both absolute host paths). */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * True when host path `p` below `root` is still reached without any symlink or `..` on the way
 * (its final component may be anything). Clean-up after a step checks every path with this,
 * because the step may have replaced a directory with a symlink to a host directory.
 */
export function isUnchangedPath(root: string, p: string): boolean {
  const rootAbs = path.resolve(root);
  if (!isWithin(rootAbs, p) || p === rootAbs) return false;
  const rel = path.relative(rootAbs, p);
  try {
    return resolveInRoot(rootAbs, rel).hostPath === path.resolve(p);
  } catch {
    return false;
  }
}
