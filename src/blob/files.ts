/**
 * File helpers shared by the staged transports: verified blob writes (temp file + rename)
 * and file reads as async byte streams.
 * @module
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OcibuildError } from '../errors.ts';
import { removeStaleTemps, tagAlive, tempName as processTempName } from '../temp.ts';
import type { HashFactory } from '../hash/types.ts';
import type { BlobBody, OperationOptions } from './types.ts';
import { verifyStream, type VerifyTarget } from './verify.ts';

/** Options of {@link writeVerifiedFile}. */
export interface WriteVerifiedOptions extends OperationOptions {
  /** Directory for the temporary file; MUST be on the same file system as `path`. */
  tempDir: string;
  /** Names the blob's location in error messages. */
  where: string;
  /** Hash implementation. */
  hash?: HashFactory;
  /** Mode of the new file (default 0644; the cache asks for 0600). */
  mode?: number;
}

/**
 * A unique name for a temporary file or directory of this process: `PREFIX-<tag>-<random>`,
 * the tag saying which process made it (see `temp.ts`, the one naming and sweeping rule).
 */
export function tempName(prefix: string): string {
  return processTempName(`${prefix}-`);
}

/**
 * Bytes gathered before one write: fewer, larger writes than one per network chunk (undici
 * yields 16-64 KiB pieces). Chunks are copied into one reused buffer rather than kept: a chunk
 * held until a later write outlives V8's young generation and its memory then waits for a
 * full GC. Measured on a 200 MB pull: 256 KiB beat 64 KiB and 1 MiB.
 */
const WRITE_BATCH = 256 * 1024;

/**
 * Writes `body` to `path` verified against `descriptor`: the bytes go to a temporary file that
 * is renamed into place only when size and digest match, so `path` never holds wrong content.
 *
 * The batches are written asynchronously from two alternating buffers, so one batch is
 * written while the next fills and the network reads go on meanwhile. Synchronous writes were
 * as fast on an idle machine (0.54 s against 0.63 s for a 200 MB, 5-layer pull on 2 cores), but
 * a write(2) that the kernel stalls (dirty-page throttling, a busy CPU) then stalls every
 * transfer on the event loop: on the same 2 cores at load 14-17 a 221 MB pull took 4.1-5.6 s
 * synchronous against 2.1-2.2 s asynchronous (issue 15, docs/performance.md).
 */
export async function writeVerifiedFile(
  path: string,
  descriptor: VerifyTarget,
  body: BlobBody,
  options: WriteVerifiedOptions,
): Promise<void> {
  const tmp = join(options.tempDir, tempName('.ocibuild-blob'));
  const { signal, onProgress } = options;
  let handle: FileHandle | undefined;
  let writer: BatchWriter | undefined;
  const stopped = abortPromise(signal, options.where);
  const iterator = verifyStream(body(), descriptor, options.where, options.hash)[Symbol.asyncIterator]();
  try {
    await mkdir(dirname(path), { recursive: true });
    const file = await open(tmp, 'wx', options.mode ?? 0o644);
    handle = file;
    // Sized to the blob, so a small config or manifest does not allocate a whole batch; the
    // second buffer only once a second batch is needed.
    const capacity = Math.max(1, Math.min(WRITE_BATCH, descriptor.size));
    let batch: Uint8Array = new Uint8Array(capacity);
    let spare: Uint8Array | undefined;
    writer = new BatchWriter(file);
    let fill = 0;
    let bytes = 0;
    for (;;) {
      const next = await (stopped === undefined ? iterator.next() : stopped.race(iterator.next()));
      if (next.done) break;
      const chunk = next.value;
      bytes += chunk.byteLength;
      onProgress?.(bytes);
      if (fill === 0 && chunk.byteLength >= capacity) {
        // Big enough on its own: no copy. Waited for, since a source may reuse its buffer.
        await writer.write(chunk);
        await writer.drain();
        continue;
      }
      for (let offset = 0; offset < chunk.byteLength; ) {
        const n = Math.min(capacity - fill, chunk.byteLength - offset);
        batch.set(n === chunk.byteLength ? chunk : chunk.subarray(offset, offset + n), fill);
        fill += n;
        offset += n;
        if (fill === capacity) {
          // The write of the other buffer has finished when write() resolves: it can be refilled.
          await writer.write(batch);
          [batch, spare] = [spare ?? new Uint8Array(capacity), batch];
          fill = 0;
        }
      }
    }
    if (fill > 0) await writer.write(batch.subarray(0, fill));
    await writer.drain();
    handle = undefined;
    await file.close();
    await rename(tmp, path);
  } catch (error) {
    // Not awaited: after an abort a read may still be pending, and a generator's return()
    // waits for it; the source's own signal ends that read.
    iterator.return?.(undefined).catch(() => undefined);
    await writer?.drain().catch(() => undefined);
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (signal?.aborted && !(error instanceof OcibuildError)) {
      throw new OcibuildError('ERR_ABORTED', `writing ${options.where} aborted`, { cause: error });
    }
    throw error;
  } finally {
    stopped?.dispose();
  }
}

/**
 * Appends to a file with at most one write in flight: `write(data)` waits for the previous
 * write, starts this one and resolves, so the caller may fill another buffer meanwhile but
 * MUST NOT touch `data` until the next `write` or `drain` has resolved. A failed write
 * rejects the next call.
 */
class BatchWriter {
  readonly #file: FileHandle;
  #pending: Promise<void> | undefined;

  constructor(file: FileHandle) {
    this.#file = file;
  }

  async write(data: Uint8Array): Promise<void> {
    await this.drain();
    const pending = this.#writeAll(data);
    // Observed here so a failure waiting for the next call is not an unhandled rejection.
    pending.catch(() => undefined);
    this.#pending = pending;
  }

  /** Waits for the write in flight (rethrowing its error). */
  async drain(): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    await pending;
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    // Continues after short writes; a FileHandle write without a position appends in order.
    for (let offset = 0; offset < data.byteLength; ) {
      offset += (await this.#file.write(data, offset, data.byteLength - offset)).bytesWritten;
    }
  }
}

/**
 * Races reads against `signal` with one abort listener for the whole write, removed by
 * `dispose()`. Not `Promise.race` with one long-lived abort promise: every race leaves a
 * reaction on it that keeps its result (a chunk) reachable until the abort promise settles.
 */
function abortPromise(signal: AbortSignal | undefined, where: string): { race: <T>(read: Promise<T>) => Promise<T>; dispose: () => void } | undefined {
  if (signal === undefined) return undefined;
  let rejectCurrent: ((error: unknown) => void) | undefined;
  const abortError = (): OcibuildError => new OcibuildError('ERR_ABORTED', `writing ${where} aborted`, { cause: signal.reason });
  const onAbort = (): void => rejectCurrent?.(abortError());
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    race: <T>(read: Promise<T>): Promise<T> => {
      if (signal.aborted) {
        read.catch(() => undefined);
        return Promise.reject(abortError());
      }
      return new Promise<T>((resolve, reject) => {
        rejectCurrent = reject;
        read.then(resolve, reject);
      });
    },
    dispose: () => signal.removeEventListener('abort', onAbort),
  };
}
/** Options of {@link readFileStream}. */
export interface ReadFileOptions {
  /** First byte offset (inclusive). */
  start?: number;
  /** Last byte offset (inclusive), as in `fs.createReadStream`. */
  end?: number;
  /** Aborts the read. */
  signal?: AbortSignal;
}

/** Streams a file (or a byte range of it) as `Uint8Array` chunks. */
export async function* readFileStream(path: string, options: ReadFileOptions = {}): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, {
    highWaterMark: 256 * 1024,
    ...(options.start === undefined ? {} : { start: options.start }),
    ...(options.end === undefined ? {} : { end: options.end }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      yield new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
  } finally {
    stream.destroy();
  }
}

/** True when `error` is a Node file-system error with `code`. */
export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** Short words for the errno codes a write meets (the temp path in Node's message is internal). */
const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a parent of the path is not a folder',
  EISDIR: 'the path is a folder',
  ENOENT: 'no such file or folder',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'the path exists',
  EMFILE: 'too many open files',
};

/** `permission denied (EACCES)` for a Node file-system error, else its message. */
export function describeFsError(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `${ERRNO_WORDS[code] ?? 'file-system error'} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** True when a process with this id exists (EPERM: it exists but belongs to another user). */
export function processAlive(pid: number): boolean {
  return tagAlive(pid, undefined);
}

/**
 * Removes the files {@link tempName} made with `prefix` in `dir` whose process is gone: what a
 * killed writer left next to its target (pid-only names of older versions judged by their pid).
 * Best effort, never throws.
 */
export async function sweepStaleTempFiles(dir: string, prefix: string): Promise<void> {
  await removeStaleTemps(dir, `${prefix}-`, { judgePidOnly: true });
}
