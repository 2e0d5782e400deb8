/**
 * Private temporary directories and files that say which process made them, so that what a
 * killed process left behind (`kill -9`, OOM, a CI timeout) is found and removed by the next run.
 *
 * A name carries the creator's pid and, on Linux, the process's start time in clock ticks since
 * boot (`/proc/PID/stat` field 22) and its PID namespace: `PREFIX<pid>.<start>.<ns>-<random>`.
 * An entry is stale when that process no longer runs; comparing the start time too means a pid
 * reused by an unrelated process does not keep it alive. A pid says nothing about a process of
 * another PID namespace (containers sharing a cache volume or `/tmp`), so such entries, and names
 * without the start time, are judged by age only. Only entries owned by the calling user, of the
 * type expected and never symlinks, are removed: another user's files are not ours to judge.
 *
 * Directories are created 0700 and files 0600 by explicit mode (a umask can only remove bits).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Mode of every private directory ocibuild creates (cache, temp). */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every private file ocibuild creates (cache, temp). */
export const PRIVATE_FILE_MODE = 0o600;

/** Start time of process `pid` (clock ticks since boot), or undefined when it does not run or the OS has no procfs. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

let ownTag: string | undefined;

/** The inode number of this process's PID namespace, or undefined without procfs. */
function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}
const ownNamespace = pidNamespace();

/** This process's tag: `<pid>.<start>.<ns>`, or `<pid>` where start time and namespace are unknown. */
export function processTag(): string {
  if (ownTag === undefined) {
    const start = processStartTime(process.pid);
    ownTag = start === undefined || ownNamespace === undefined ? String(process.pid) : `${process.pid}.${start}.${ownNamespace}`;
  }
  return ownTag;
}

/** A unique name for a temp entry of this process: `PREFIX<tag>-<random>SUFFIX`. */
export function tempName(prefix: string, suffix = ''): string {
  return `${prefix}${processTag()}-${randomBytes(6).toString('hex')}${suffix}`;
}

/** True when the process a tag names is still running (the same process, not a reused pid). */
export function tagAlive(pid: number, start: string | undefined): boolean {
  if (pid === process.pid) return start === undefined || start === processStartTime(pid);
  if (start !== undefined) {
    const now = processStartTime(pid);
    if (now !== undefined) return now === start;
    if (process.platform === 'linux') return false; // no /proc entry: no such process
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: a process of another user holds the pid; it is alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates a fresh private (0700) directory `PARENT/PREFIX<tag>-<random>`, the parent too when missing. */
export async function makePrivateTempDir(parent: string, prefix: string): Promise<string> {
  await fs.mkdir(parent, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (;;) {
    const dir = path.join(parent, tempName(prefix));
    try {
      await fs.mkdir(dir, { mode: PRIVATE_DIR_MODE });
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Options of {@link removeStaleTemps}. */
export interface RemoveStaleOptions {
  /**
   * Entries whose process cannot be judged (no start time in the name, or another PID
   * namespace) are removed once last modified longer ago than this. Default: never.
   */
  unjudgedAfterMs?: number;
  /** Removes one stale directory (default: `fs.rm` recursive); may throw, the entry is then left. */
  remove?: (entry: string) => Promise<void>;
  /**
   * Judge names that carry a pid only (`PREFIX<pid>-...`: written by older versions, or by a
   * process without procfs) by that pid alone, removed once no process has it, rather than by
   * age. For directories only this host's processes write to (a layout, a tarball's folder).
   */
  judgePidOnly?: boolean;
}

const TAG = /^(\d+)(?:\.(\d+)\.(\d+))?-/;

/** A process tag as read from a temp name: `<pid>` or `<pid>.<start>.<ns>`. */
export interface ParsedTag {
  /** Process id. */
  pid: number;
  /** Start time in clock ticks since boot, when recorded. */
  start?: string;
  /** PID namespace inode, when recorded. */
  namespace?: string;
}

/**
 * Whether the process a tag names still runs: `alive`, `dead`, or `unknown` when it cannot be
 * judged (another PID namespace, or a pid-only tag unless `judgePidOnly`). The one liveness rule
 * of every temp entry ocibuild names.
 */
export function tagState(tag: ParsedTag, options: { judgePidOnly?: boolean } = {}): 'alive' | 'dead' | 'unknown' {
  if (!Number.isSafeInteger(tag.pid) || tag.pid <= 0) return 'unknown';
  const judged = tag.start !== undefined ? tag.namespace === ownNamespace : options.judgePidOnly === true;
  if (!judged) return 'unknown';
  return tagAlive(tag.pid, tag.start) ? 'alive' : 'dead';
}

/** Reads the tag at the start of `text` (`<pid>[.<start>.<ns>]-...`), or undefined. */
export function parseTag(text: string): ParsedTag | undefined {
  const match = TAG.exec(text);
  if (match === null) return undefined;
  const tag: ParsedTag = { pid: Number(match[1]) };
  if (match[2] !== undefined) tag.start = match[2];
  if (match[3] !== undefined) tag.namespace = match[3];
  return tag;
}

/**
 * Removes the entries of `parent` named `PREFIX<tag>-...` whose process no longer runs and that
 * belong to the calling user. Best effort: an entry that cannot be removed is left. Returns the
 * paths removed.
 */
export async function removeStaleTemps(parent: string, prefix: string, options: RemoveStaleOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(parent);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const tag = parseTag(name.slice(prefix.length));
    if (tag === undefined || !Number.isSafeInteger(tag.pid) || tag.pid <= 0) continue;
    const state = tagState(tag, options);
    if (state === 'alive') continue;
    const judged = state === 'dead';
    const entry = path.join(parent, name);
    const st = await fs.lstat(entry).catch(() => undefined);
    if (st === undefined || st.isSymbolicLink() || !(st.isDirectory() || st.isFile())) continue;
    if (uid !== undefined && st.uid !== uid) continue;
    if (!judged && !(now - st.mtimeMs > (options.unjudgedAfterMs ?? Infinity))) continue;
    try {
      if (options.remove !== undefined && st.isDirectory()) await options.remove(entry);
      else await fs.rm(entry, { recursive: true, force: true });
      removed.push(entry);
    } catch {
      // Left for a later run (or a user): a stale temp is never worth failing a build.
    }
  }
  return removed;
}

