/**
 * File helpers shared by the staged transports: verified blob writes (temp file + rename)
 * and file reads as async byte streams.
 * @module
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcibuildError } from '../errors.ts';
import type { HashFactory } from '../hash/types.ts';
import type { Descriptor } from '../oci/types.ts';
import type { BlobBody, OperationOptions } from '../transports/types.ts';
import { verifyStream } from './verify.ts';

/** Options of {@link writeVerifiedFile}. */
export interface WriteVerifiedOptions extends OperationOptions {
  /** Directory for the temporary file; MUST be on the same file system as `path`. */
  tempDir: string;
  /** Names the blob's location in error messages. */
  where: string;
  /** Hash implementation. */
  hash?: HashFactory;
}

/** A unique name for a temporary file or directory. */
export function tempName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Writes `body` to `path` verified against `descriptor`: the bytes go to a temporary file that
 * is renamed into place only when size and digest match, so `path` never holds wrong content.
 */
export async function writeVerifiedFile(
  path: string,
  descriptor: Descriptor,
  body: BlobBody,
  options: WriteVerifiedOptions,
): Promise<void> {
  const tmp = join(options.tempDir, tempName('.ocibuild-blob'));
  const onProgress = options.onProgress;
  let bytes = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of verifyStream(body(), descriptor, options.where, options.hash)) {
      bytes += chunk.byteLength;
      onProgress?.(bytes);
      yield chunk;
    }
  }
  try {
    await mkdir(dirname(path), { recursive: true });
    await pipeline(
      Readable.from(counted(), { objectMode: false }),
      createWriteStream(tmp, { mode: 0o644 }),
      options.signal === undefined ? {} : { signal: options.signal },
    );
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    if (options.signal?.aborted && !(error instanceof OcibuildError)) {
      throw new OcibuildError('ERR_ABORTED', `writing ${options.where} aborted`, { cause: error });
    }
    throw error;
  }
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
