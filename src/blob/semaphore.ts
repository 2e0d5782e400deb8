/**
 * A counting semaphore bounding concurrent work (blob transfers, step execution).
 * @module
 */
import { throwIfAborted } from '../errors.ts';

/** A counting semaphore: at most `limit` holders at once, FIFO. */
export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #queue: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  /** Waits for a slot; the returned function gives it back (idempotent). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal);
    if (this.#active >= this.#limit) {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.#queue.indexOf(grant);
          if (i >= 0) this.#queue.splice(i, 1);
          try {
            throwIfAborted(signal);
          } catch (error) {
            reject(error);
          }
        };
        this.#queue.push(grant);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else {
      this.#active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) next();
      else this.#active--;
    };
  }
}

const lockTails = new Map<string, Promise<void>>();

/**
 * Runs `fn` once every earlier call with the same `key` in this process has settled: a
 * per-key mutex for read-modify-write updates no remote store can make atomic (a registry's
 * referrers fallback-tag index). Keys are dropped when their queue empties.
 */
export async function withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = lockTails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  lockTails.set(key, tail);
  try {
    await previous;
    return await fn();
  } finally {
    release();
    if (lockTails.get(key) === tail) lockTails.delete(key);
  }
}

/** The {@link withKeyLock} key of the referrers fallback-tag index `tag` in `registry/repository`. */
export function fallbackIndexLockKey(registry: string, repository: string, tag: string): string {
  return `referrers-fallback ${registry}/${repository}:${tag}`;
}
