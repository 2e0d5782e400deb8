/**
 * Facts read from a builder image: the destination of uploads and whether a path exists in
 * its materialised file system.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { S2iError } from './errors.ts';

/** Label naming where sources and scripts are placed. */
export const DESTINATION_LABEL = 'io.openshift.s2i.destination';

/** `-d` when given, else the builder's `io.openshift.s2i.destination` label, else `/tmp`; must be absolute. */
export function destinationOf(flag: string | undefined, labels: Readonly<Record<string, string>>): string {
  const value = flag ?? (labels[DESTINATION_LABEL] || '/tmp');
  const what = flag !== undefined ? '--destination' : `label ${DESTINATION_LABEL}`;
  if (!value.startsWith('/')) throw new S2iError('ERR_INVALID_ARGUMENT', `${what} ${JSON.stringify(value)}: must be an absolute path`);
  const normal = path.posix.normalize(value);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

/**
 * The host path of `absolutePath` in the rootfs at `root`, or undefined when it does not exist.
 * Symbolic links are followed inside the rootfs (an absolute target is taken from its root),
 * never into the host.
 */
export async function resolveInImage(root: string, absolutePath: string): Promise<string | undefined> {
  const parts = absolutePath.split('/').filter((p) => p !== '' && p !== '.');
  let current: string[] = [];
  for (let hops = 0; parts.length > 0; ) {
    const part = parts.shift() as string;
    if (part === '..') {
      current.pop();
      continue;
    }
    const host = path.join(root, ...current, part);
    let stat;
    try {
      stat = await fs.lstat(host);
    } catch {
      return undefined;
    }
    if (stat.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = await fs.readlink(host);
      if (target.startsWith('/')) current = [];
      parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    current.push(part);
  }
  return path.join(root, ...current);
}

/** True when `absolutePath` exists in the rootfs at `root` (see {@link resolveInImage}). */
export async function inImage(root: string, absolutePath: string): Promise<boolean> {
  return (await resolveInImage(root, absolutePath)) !== undefined;
}
