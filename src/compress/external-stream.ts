/**
 * Streaming decoders Node lacks (zstd, xz, bzip2), run as the system tool of the same name
 * (`zstd -dc` reading stdin, writing stdout). Layer readers use them for `+zstd` layers; the
 * whole layer never has to sit on disk or in memory.
 * @module
 */
import { spawn } from 'node:child_process';
import { OcibuildError, UnsupportedError } from '../errors.ts';
import type { ByteTransform } from './types.ts';

/** Formats decoded by an external program. */
export type ExternalCompression = 'zstd' | 'xz' | 'bzip2';

/** Debian package providing each program, for the error hint. */
const PACKAGE: Record<ExternalCompression, string> = { zstd: 'zstd', xz: 'xz-utils', bzip2: 'bzip2' };

/** Longest stderr kept for an error message. */
const STDERR_TAIL = 2000;

/**
 * Creates a streaming decoder running `PROGRAM -dc` (stdin to stdout). A missing program throws
 * {@link UnsupportedError} naming it; corrupt input (a non-zero exit) throws `ERR_LAYER` with
 * the tool's message; an error of the input stream is rethrown as it is. Stopping early (the
 * consumer returns) kills the process. `where` names the data in errors.
 */
export function externalDecoder(kind: ExternalCompression, where = 'input'): ByteTransform {
  return (input) => decodeWith(kind, input, where);
}

async function* decodeWith(kind: ExternalCompression, input: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Uint8Array> {
  const child = spawn(kind, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_TAIL);
  });
  let spawnError: Error | undefined;
  let inputError: unknown;
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (error) => {
      spawnError ??= error;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  // The tool stops reading on corrupt data; its exit status tells why, so EPIPE is not the story.
  child.stdin.on('error', () => undefined);
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (child.stdin.destroyed) return;
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              child.stdin.off('drain', done);
              child.stdin.off('close', done);
              resolve();
            };
            child.stdin.on('drain', done);
            child.stdin.on('close', done);
          });
        }
      }
      child.stdin.end();
    } catch (error) {
      inputError = error;
      child.kill('SIGKILL');
    }
  })();
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Uint8Array;
    const code = await exited;
    await feeding;
    finished = true;
    if (inputError !== undefined) throw inputError;
    if (spawnError !== undefined) {
      if ((spawnError as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new UnsupportedError(`${where} is ${kind}-compressed: decoding it needs the "${kind}" program on PATH (Debian package ${PACKAGE[kind]})`, {
          cause: spawnError,
        });
      }
      throw new OcibuildError('ERR_LAYER', `cannot run ${kind} to decode ${where}: ${spawnError.message}`, { cause: spawnError });
    }
    if (code !== 0) throw new OcibuildError('ERR_LAYER', `${kind} -dc failed on ${where} (exit ${code}): ${stderr.trim() || 'no message'}`);
  } finally {
    if (!finished) {
      child.kill('SIGKILL');
      child.stdin.destroy();
      // Not awaited: the feeder may be waiting on a slow input; it stops at its next chunk.
    }
  }
}
