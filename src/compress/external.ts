/**
 * Decoders Node lacks (bzip2, xz, zstd), run as the system tools of the same name. Kept here so
 * that the Dockerfile interpreter never spawns processes itself (DESIGN.md module rules).
 * @module
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcibuildError } from '../errors.ts';
import { nodeGunzip } from './node.ts';

/** Compression formats ADD recognises by magic bytes. */
export type ArchiveCompression = 'gzip' | 'bzip2' | 'xz' | 'zstd';

/**
 * Decompresses `file` into `out`: gzip with node:zlib, the others with `bzip2 -dc`, `xz -dc`,
 * `zstd -dc`. A missing tool or a failing decode throws `ERR_UNSUPPORTED` / `ERR_LAYER`.
 */
export async function decompressFile(file: string, kind: ArchiveCompression, out: string): Promise<void> {
  if (kind === 'gzip') {
    await pipeline(Readable.from(nodeGunzip().decode(createReadStream(file) as AsyncIterable<Uint8Array>)), createWriteStream(out));
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn(kind, ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const sink = createWriteStream(out);
    child.stdout.pipe(sink);
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new OcibuildError('ERR_UNSUPPORTED', `decoding ${kind} needs the "${kind}" program on PATH`, { cause: error })
          : error,
      ),
    );
    child.on('close', (code) => {
      const done = () =>
        code === 0 ? resolve() : reject(new OcibuildError('ERR_LAYER', `${kind} -dc ${file} exited ${code}: ${stderr.trim()}`));
      if (sink.writableFinished) done();
      else sink.on('finish', done);
    });
  });
}
