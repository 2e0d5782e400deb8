/**
 * Temporary folders named after the process that made them (`ocibuild-<pid>-...`), so that a
 * later run can remove what a killed one (SIGKILL, a crash, a power cut) left behind: a folder
 * whose process is gone and that belongs to this user is debris.
 * @module
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleTemps } from '../temp.ts';

/** Creates `<dir>/ocibuild-<pid>-<what>XXXXXX`. */
export function makeOwnedTempDir(what: string, dir: string = tmpdir()): Promise<string> {
  return mkdtemp(join(dir, `ocibuild-${process.pid}-${what}`));
}

/**
 * Removes `ocibuild-<pid>-*` entries of `dir` whose process no longer runs and that this user
 * owns (temp.ts's sweep, pid-only names judged by their pid). Best effort: never throws. A pid
 * reused by an unrelated process keeps its folder until that process ends: safe, only late.
 */
export async function sweepStaleTempDirs(dir: string = tmpdir()): Promise<void> {
  await removeStaleTemps(dir, 'ocibuild-', { judgePidOnly: true });
}
