/**
 * Read-ahead for small files: while one entry is written, the content of the next few small
 * files is already being read, so per-file open/read/close round trips overlap.
 * @module
 */
import { SYNC_READ_MAX } from './source.ts';
import type { ResolvedLayerEntry } from './types.ts';

/**
 * Files up to this size are read ahead whole, except those of {@link SYNC_READ_MAX} or less:
 * host files that small are read synchronously (`readHostFile`), so reading them ahead would
 * only hold their bytes longer, without any overlap.
 */
const SMALL_FILE = 256 * 1024;
/** At most this many entries are looked ahead... */
const WINDOW_ENTRIES = 32;
/** ...holding at most this many bytes of read-ahead content. */
const WINDOW_BYTES = 4 * 1024 * 1024;

/** An entry with its content possibly already read. */
export interface PrefetchedEntry {
  /** The entry. */
  entry: ResolvedLayerEntry;
  /** The whole content of a small file, being read. */
  content?: Promise<Uint8Array[]>;
}

async function readAll(entry: ResolvedLayerEntry): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  if (entry.open !== undefined) for await (const chunk of entry.open()) chunks.push(chunk);
  return chunks;
}

/**
 * Yields `entries` in order, with the content of small files read ahead (bounded by count and
 * bytes, so memory stays flat). Errors of a read-ahead surface when its entry is reached.
 */
export async function* prefetchEntries(entries: AsyncIterable<ResolvedLayerEntry>): AsyncGenerator<PrefetchedEntry> {
  const queue: PrefetchedEntry[] = [];
  let queuedBytes = 0;
  const iterator = entries[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      while (!done && queue.length < WINDOW_ENTRIES && queuedBytes < WINDOW_BYTES) {
        const next = await iterator.next();
        if (next.done === true) {
          done = true;
          break;
        }
        const entry = next.value;
        if (entry.type === 'file' && entry.size > SYNC_READ_MAX && entry.size <= SMALL_FILE && entry.open !== undefined) {
          const content = readAll(entry);
          content.catch(() => undefined); // observed when the entry is reached
          queue.push({ entry, content });
          queuedBytes += entry.size;
        } else {
          queue.push({ entry });
        }
      }
      const head = queue.shift();
      if (head === undefined) return;
      if (head.content !== undefined) queuedBytes -= head.entry.size;
      yield head;
    }
  } finally {
    if (!done) await iterator.return?.();
  }
}
