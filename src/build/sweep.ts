/**
 * Temporary folders named after the process that made them (`ocibuild-<pid>-...`), so that a
 * later run can remove what a killed one (SIGKILL, a crash, a power cut) left behind: a folder
 * whose process is gone and that belongs to this user is debris.
 * @module
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../blob/files.ts';

const OWNED = /^ocibuild-(\d+)-/;

/** Creates `<dir>/ocibuild-<pid>-<what>XXXXXX`. */
export function makeOwnedTempDir(what: string, dir: string = tmpdir()): Promise<string> {
  return mkdtemp(join(dir, `ocibuild-${process.pid}-${what}`));
}

/**
 * Removes `ocibuild-<pid>-*` entries of `dir` whose process no longer runs and that this user
 * owns. Best effort: never throws (a folder another run removes at the same time is fine). A pid
 * reused by an unrelated process keeps its folder until that process ends: safe, only late.
 */
export async function sweepStaleTempDirs(dir: string = tmpdir()): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  for (const name of names) {
    const match = OWNED.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(dir, name);
    try {
      if (uid !== undefined && (await stat(path)).uid !== uid) continue;
      await rm(path, { recursive: true, force: true });
    } catch {
      // Removed by someone else, or not removable by us: leave it.
    }
  }
}
