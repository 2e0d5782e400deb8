/**
 * Removal of what a killed writer leaves next to and inside an OCI layout: the staging
 * directory of a new layout (`.NAME.tmp-PID-RANDOM` beside it), blob and index temp files
 * (`.ocibuild-blob-PID-RANDOM`, `.index.json-PID-RANDOM` inside it) and set-aside stale locks.
 * Each name records the writer's pid; an entry is removed only when it belongs to the current
 * user and that pid is no longer alive on this host, so a live writer's files are never touched.
 * @module
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseTag, tagState } from '../temp.ts';

/** `-TAG-RANDOM` at the end of a temp name (see `tempName`; TAG is `<pid>` or `<pid>.<start>.<ns>`). */
const TAG_SUFFIX = /-(\d+(?:\.\d+\.\d+)?-[0-9a-f]{12})$/;

/** Names of temp entries inside a layout directory. */
const INSIDE_PREFIXES = ['.ocibuild-blob-', '.index.json-', 'index.json.lock.stale-'];

async function removeIfAbandoned(dir: string, name: string): Promise<boolean> {
  const match = TAG_SUFFIX.exec(name);
  const tag = match === null ? undefined : parseTag(match[1]!);
  // The one liveness rule of temp.ts; a layout is written by this host's processes, so a pid-only tag is judged by its pid.
  if (tag === undefined || tag.pid === process.pid || tagState(tag, { judgePidOnly: true }) !== 'dead') return false;
  const path = join(dir, name);
  try {
    const info = await lstat(path);
    if (typeof process.getuid === 'function' && info.uid !== process.getuid()) return false;
    await rm(path, { recursive: true, force: true });
    return true;
  } catch {
    return false; // gone already, or not ours to remove
  }
}

/**
 * Removes abandoned temp entries of the layout at `layoutPath` (see the module comment).
 * Best effort: an unreadable directory is skipped. Returns the paths removed.
 */
export async function removeAbandonedTemps(layoutPath: string): Promise<string[]> {
  const removed: string[] = [];
  const parent = dirname(layoutPath);
  const stagingPrefix = `.${basename(layoutPath)}.tmp-`;
  const scan = async (dir: string, matches: (name: string) => boolean): Promise<void> => {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (matches(name) && (await removeIfAbandoned(dir, name))) removed.push(join(dir, name));
    }
  };
  await scan(parent, (name) => name.startsWith(stagingPrefix));
  await scan(layoutPath, (name) => INSIDE_PREFIXES.some((prefix) => name.startsWith(prefix)));
  return removed;
}
