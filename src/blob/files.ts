/**
 * File helpers shared by the staged transports: verified blob writes (temp file + rename)
 * and file reads as async byte streams.
 * @module
 */
import { createReadStream, writeSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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

/** Options of {@link writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** File mode of the new file (default 0666 less the umask). */
  mode?: number;
  /** Temporary file to write first (default a {@link tempName} beside `file`); MUST be on the same file system. */
  temp?: string;
}

/**
 * Writes `data` to `file` so that readers see the old content or the new, never a part: a
 * temporary file (created exclusively) is written and then renamed over `file`. On failure the
 * temporary file is removed and the error is rethrown; `file` is untouched.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: WriteAtomicOptions = {}): Promise<void> {
  const temp = options.temp ?? join(dirname(file), tempName(`.${basename(file)}`));
  try {
    await writeFile(temp, data, { mode: options.mode, flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
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
 * The batches are written synchronously: a 256 KiB write into the page cache takes tens of
 * microseconds, less than the thread-pool round trip of an asynchronous write. Measured on a
 * 200 MB, 5-layer pull on 2 cores: 0.54 s against 0.63 s (async, double-buffered) and 1.0 s
 * (a WriteStream write per chunk). The event loop is held for one batch at most.
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
  const stopped = abortPromise(signal, options.where);
  const iterator = verifyStream(body(), descriptor, options.where, options.hash)[Symbol.asyncIterator]();
  try {
    await mkdir(dirname(path), { recursive: true });
    const file = await open(tmp, 'wx', options.mode ?? 0o644);
    handle = file;
    // Sized to the blob, so a small config or manifest does not allocate a whole batch.
    const capacity = Math.max(1, Math.min(WRITE_BATCH, descriptor.size));
    const batch = new Uint8Array(capacity);
    let fill = 0;
    let bytes = 0;
    for (;;) {
      const next = await (stopped === undefined ? iterator.next() : stopped.race(iterator.next()));
      if (next.done) break;
      const chunk = next.value;
      bytes += chunk.byteLength;
      onProgress?.(bytes);
      if (fill === 0 && chunk.byteLength >= capacity) {
        writeAllSync(file.fd, chunk); // big enough on its own: no copy
        continue;
      }
      for (let offset = 0; offset < chunk.byteLength; ) {
        const n = Math.min(capacity - fill, chunk.byteLength - offset);
        batch.set(n === chunk.byteLength ? chunk : chunk.subarray(offset, offset + n), fill);
        fill += n;
        offset += n;
        if (fill === capacity) {
          writeAllSync(file.fd, batch);
          fill = 0;
        }
      }
    }
    if (fill > 0) writeAllSync(file.fd, batch.subarray(0, fill));
    handle = undefined;
    await file.close();
    await rename(tmp, path);
  } catch (error) {
    // Not awaited: after an abort a read may still be pending, and a generator's return()
    // waits for it; the source's own signal ends that read.
    iterator.return?.(undefined).catch(() => undefined);
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

/** Writes all of `data` at the file's current position, continuing after short writes. */
function writeAllSync(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.byteLength; ) offset += writeSync(fd, data, offset, data.byteLength - offset);
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
