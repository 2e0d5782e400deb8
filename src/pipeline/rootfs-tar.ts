/**
 * A root filesystem folder as tar entries, in a fixed order (byte order of names, parents before
 * children), for the `tar:FILE` output: the folder the `local:` writer unpacked, read back with
 * the owners it was given (lstat as root, the recorded owners otherwise).
 * @module
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { readFileStream } from '../blob/files.ts';
import type { ResolvedLayerEntry } from '../layer/types.ts';
import type { RecordedOwner } from '../run/extract.ts';

/** Options of {@link rootfsEntries}. */
export interface RootfsEntriesOptions {
  /** Owners recorded by a rootless unpack (path → ids); entries not listed are root-owned. Absent: ownership from lstat. */
  owners?: ReadonlyMap<string, RecordedOwner>;
  /** Prepended to every name (`linux_amd64/` for one platform of an index). */
  prefix?: string;
  /** Hardlink groups shared across calls (inode → first name written). */
  links?: Map<string, string>;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Lists `root` as tar entries: files, folders, symlinks; a file with several names is written
 * once and its other names become hardlinks to the first name in order. Sockets and other types
 * that cannot be in an image are left out.
 */
export async function* rootfsEntries(root: string, options: RootfsEntriesOptions = {}): AsyncGenerator<ResolvedLayerEntry> {
  const links = options.links ?? new Map<string, string>();
  const prefix = options.prefix ?? '';
  async function* visit(dir: string, rel: string): AsyncGenerator<ResolvedLayerEntry> {
    const names = (await fsp.readdir(dir)).sort(compare);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (childRel === OWNERSHIP_FILE) continue;
      const host = path.join(dir, name);
      const stats = await fsp.lstat(host);
      const recorded = options.owners?.get(childRel);
      const owner = options.owners === undefined ? { uid: stats.uid, gid: stats.gid } : { uid: recorded?.uid ?? 0, gid: recorded?.gid ?? 0 };
      const base = {
        path: `${prefix}${childRel}`,
        mode: recorded?.mode !== undefined ? recorded.mode & 0o7777 : stats.mode & 0o7777,
        ...owner,
        uname: '',
        gname: '',
        mtime: Math.floor(stats.mtimeMs / 1000),
        size: 0,
      };
      if (stats.isDirectory()) {
        yield { ...base, type: 'directory' };
        yield* visit(host, childRel);
      } else if (stats.isSymbolicLink()) {
        yield { ...base, type: 'symlink', linkname: await fsp.readlink(host) };
      } else if (stats.isFile()) {
        const inode = `${stats.dev}:${stats.ino}`;
        const first = stats.nlink > 1 ? links.get(inode) : undefined;
        if (first !== undefined) {
          yield { ...base, type: 'hardlink', linkname: first };
          continue;
        }
        if (stats.nlink > 1) links.set(inode, base.path);
        yield { ...base, type: 'file', size: stats.size, source: host, open: () => readFileStream(host) };
      }
    }
  }
  yield* visit(root, '');
}

/** The file a rootless `local:` output records ownership in, at the top of each root filesystem. */
export const OWNERSHIP_FILE = '.ocibuild-ownership.json';
