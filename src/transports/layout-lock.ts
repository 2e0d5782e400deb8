/**
 * A lock file that serializes read-modify-write updates of one file (an OCI layout's
 * `index.json`) between processes: created with `O_EXCL`, holding the owner's pid, host and
 * start time as JSON, removed when the update is done. Two `ocibuild` runs tagging into one
 * layout at once (as CI jobs do) then never lose a tag: each re-reads the file under the lock.
 *
 * A lock whose owner is gone (same host, pid no longer alive) or that is older than
 * {@link STALE_LOCK_MS} (an owner on another host that died) is broken. Breaking renames the
 * lock aside and checks it was the stale one; a fresh lock taken meanwhile by another process
 * is put back, so two breakers cannot both win.
 * @module
 */
import { hostname } from 'node:os';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { OcibuildError, throwIfAborted } from '../errors.ts';
import { isErrno, tempName } from '../blob/files.ts';
import { tagAlive } from '../temp.ts';

/** Age after which a lock is broken whoever holds it (an index update takes milliseconds). */
export const STALE_LOCK_MS = 10 * 60 * 1000;

/** Default longest wait for a lock held by a live process. */
export const DEFAULT_LOCK_WAIT_MS = 60_000;

interface LockOwner {
  pid: number;
  host: string;
  time: number;
}

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /** Longest wait for the lock, in ms (default {@link DEFAULT_LOCK_WAIT_MS}); then `ERR_LOCKED`. */
  waitMs?: number;
  /** Names the locked thing in messages (`oci:/out`). */
  where: string;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** True when a process with this pid exists on this host (one of another user counts). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  return tagAlive(pid, undefined);
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const doc = JSON.parse(text) as Partial<LockOwner>;
    if (typeof doc.pid === 'number' && typeof doc.host === 'string' && typeof doc.time === 'number') {
      return { pid: doc.pid, host: doc.host, time: doc.time };
    }
  } catch {
    // A lock being written right now, or garbage: judged by age alone.
  }
  return undefined;
}

function isStale(owner: LockOwner | undefined, mtimeMs: number, now: number): boolean {
  if (owner === undefined) return now - mtimeMs > STALE_LOCK_MS;
  if (owner.host === hostname() && !isProcessAlive(owner.pid)) return true;
  return now - owner.time > STALE_LOCK_MS;
}

/** Tries once to create the lock; true when this process now holds it. */
async function tryCreate(lockPath: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, 'wx', 0o644);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
  try {
    const owner: LockOwner = { pid: process.pid, host: hostname(), time: Date.now() };
    await handle.writeFile(JSON.stringify(owner));
  } finally {
    await handle.close();
  }
  return true;
}

/** Breaks the lock at `lockPath` when it is still the stale one read as `seen`. */
async function breakStale(lockPath: string, seen: string): Promise<void> {
  const aside = `${lockPath}.${tempName('stale')}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return; // someone else broke or released it
    throw error;
  }
  const taken = await readFile(aside, 'utf8').catch(() => '');
  if (taken !== seen) {
    // Another process took a fresh lock between our read and our rename: give it back. If a
    // third one already made a new lock, theirs stands and this one is simply dropped.
    await link(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

/**
 * Runs `update` while holding the lock file `lockPath`, waiting (polling with backoff) for a
 * live holder and breaking a stale lock. Throws `ERR_LOCKED` (naming the file and its holder)
 * when the wait runs out, `ERR_ABORTED` when the signal fires. The lock is removed afterwards,
 * whether `update` succeeds or throws.
 */
export async function withFileLock<T>(lockPath: string, options: FileLockOptions, update: () => Promise<T>): Promise<T> {
  const waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const start = Date.now();
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    if (await tryCreate(lockPath)) break;
    let seen = '';
    let mtimeMs = Date.now();
    try {
      const handle = await open(lockPath, 'r');
      try {
        mtimeMs = (await handle.stat()).mtimeMs;
        seen = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue; // released meanwhile: try again at once
      throw error;
    }
    const owner = parseOwner(seen);
    if (isStale(owner, mtimeMs, Date.now())) {
      await breakStale(lockPath, seen);
      continue;
    }
    if (Date.now() - start > waitMs) {
      const holder = owner === undefined ? '' : ` (held by pid ${owner.pid} on ${owner.host} since ${new Date(owner.time).toISOString()})`;
      throw new OcibuildError(
        'ERR_LOCKED',
        `${options.where}: waited ${waitMs} ms for the lock ${lockPath}${holder}; remove the file if no process is writing there`,
      );
    }
    // Jittered backoff from 5 ms to 100 ms: holders keep the lock for a few milliseconds.
    const delay = Math.min(100, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  try {
    return await update();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}
