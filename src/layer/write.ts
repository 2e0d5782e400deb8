/**
 * Writes a layer in one streaming pass: tar bytes → diffID hash → gzip or zstd → digest hash →
 * temp file, renamed to its digest at the end. Memory stays flat whatever the layer size.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultZstdEncoder, encoderFormat, layerEncoder } from '../compress/choose.ts';
import type { LayerEncoder } from '../compress/types.ts';
import { InvalidArgumentError, OcibuildError, throwIfAborted } from '../errors.ts';
import { defaultSha256 } from '../hash/index.ts';
import type { HashFactory } from '../hash/types.ts';
import { OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD } from '../oci/mediatypes.ts';
import { listLayerEntries } from './entries.ts';
import { prefetchEntries } from './prefetch.ts';
import { BLOCK_SIZE, END_OF_ARCHIVE, encodeHeader, paddingFor } from './tar.ts';
import type { BuiltLayer, LayerEvent, LayerSpec, ResolvedLayerEntry } from './types.ts';

/**
 * Options of {@link writeLayer}.
 * @category Layers
 */
export interface WriteLayerOptions {
  /** Where the compressed blob is written (as `<directory>/<hex digest>`). Default `os.tmpdir()`. */
  directory?: string;
  /**
   * `gzip`, `zstd` or `none` (plain tar). Default: the encoder's format when `encoder` is given,
   * else `gzip`.
   */
  compression?: 'gzip' | 'zstd' | 'none';
  /** Encoder; its format must match `compression`. Default: libdeflate level 6 (`defaultGzipEncoder`) for gzip, zstd-wasm level 3 for zstd. */
  encoder?: LayerEncoder;
  /** Hash for the digest and diffID. Default SHA-256 on node:crypto. */
  hash?: HashFactory;
  /** Media type of the descriptor. Default the OCI layer type of the compression (`tar+gzip`, `tar+zstd`, `tar`). */
  mediaType?: string;
  /** Default mtime in seconds. Default from `SOURCE_DATE_EPOCH`, else 1 (1970-01-01T00:00:01Z). */
  sourceDateEpoch?: number;
  /** Abort signal: the write stops, the temp file is removed, `ERR_ABORTED` is thrown. */
  signal?: AbortSignal;
  /** Receives warnings such as skipped sockets. */
  onEvent?: (event: LayerEvent) => void;
}

/**
 * The compression and encoder of a layer write: `compression` defaults to the encoder's format
 * (else gzip); the encoder to the default one of `compression`; undefined for `none`. A
 * compression the encoder does not write, or an unknown compression, throws `ERR_INVALID_ARGUMENT`.
 */
export function resolveLayerCompression(
  compression: 'gzip' | 'zstd' | 'none' | undefined,
  encoder: LayerEncoder | undefined,
): { compression: 'gzip' | 'zstd' | 'none'; encoder: LayerEncoder | undefined } {
  if (compression === 'none') return { compression, encoder: undefined };
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
    throw new InvalidArgumentError(`compression must be 'gzip', 'zstd' or 'none', got ${JSON.stringify(compression)}`);
  }
  if (encoder === undefined && compression === 'zstd') return { compression, encoder: defaultZstdEncoder };
  const chosen = layerEncoder({ compression, encoder });
  return { compression: encoderFormat(chosen), encoder: chosen };
}

/** The OCI layer media type of a compression. */
export function defaultLayerMediaType(compression: 'gzip' | 'zstd' | 'none'): string {
  return compression === 'gzip' ? OCI_LAYER_GZIP : compression === 'zstd' ? OCI_LAYER_ZSTD : OCI_LAYER_TAR;
}

/** Tar writes are gathered into chunks of about this size before compression and disk writes. */
const COALESCE = 256 * 1024;

/** Counts the tar entries written; filled in as the stream is consumed. */
export interface TarStats {
  entries: number;
}

/**
 * Streams the tar archive of `entries`: headers, content, padding, end marker. Small pieces are
 * gathered into larger chunks; file content chunks pass through without copying.
 */
export async function* tarStream(entries: AsyncIterable<ResolvedLayerEntry>, stats: TarStats = { entries: 0 }, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let small: Uint8Array[] = [];
  let smallBytes = 0;
  const flush = (): Uint8Array => {
    const out = small.length === 1 ? small[0]! : Buffer.concat(small, smallBytes);
    small = [];
    smallBytes = 0;
    return out;
  };
  for await (const { entry, content } of prefetchEntries(entries)) {
    throwIfAborted(signal);
    stats.entries++;
    const header = encodeHeader(entry);
    small.push(header);
    smallBytes += header.length;
    if (entry.type === 'file' && entry.size > 0) {
      if (entry.open === undefined) throw new OcibuildError('ERR_LAYER', `file entry ${entry.path} has no content`);
      for await (const chunk of content !== undefined ? await content : entry.open()) {
        if (chunk.length < BLOCK_SIZE * 8) {
          small.push(chunk);
          smallBytes += chunk.length;
        } else {
          yield flush();
          yield chunk;
        }
        if (smallBytes >= COALESCE) yield flush();
      }
      const padding = paddingFor(entry.size);
      if (padding > 0) {
        small.push(END_OF_ARCHIVE.subarray(0, padding));
        smallBytes += padding;
      }
    }
    if (smallBytes >= COALESCE) yield flush();
  }
  small.push(END_OF_ARCHIVE);
  smallBytes += END_OF_ARCHIVE.length;
  yield flush();
}

/**
 * Writes one layer from `spec` and returns its descriptor, diffID and location. The blob goes to
 * a temp file in `directory`, renamed to `<directory>/<hex digest>` only when complete; on any
 * failure (missing source `ERR_SOURCE_NOT_FOUND`, escaping path `ERR_PATH_ESCAPE`, abort) nothing
 * is left behind. Identical specs give identical bytes.
 * @example
 * ```ts
 * import { writeLayer } from 'ocibuild';
 *
 * const layer = await writeLayer(
 *   { directories: [{ source: './dist', destination: '/app', exclude: ['*.map'] }], normalizeModes: true },
 *   { sourceDateEpoch: 0 },
 * );
 * console.log(layer.descriptor.digest, layer.diffId, layer.path);
 * ```
 * @category Layers
 */
export async function writeLayer(spec: LayerSpec, options: WriteLayerOptions = {}): Promise<BuiltLayer> {
  const directory = options.directory ?? os.tmpdir();
  const { compression, encoder } = resolveLayerCompression(options.compression, options.encoder);
  const hash = options.hash ?? defaultSha256;
  const mediaType = options.mediaType ?? defaultLayerMediaType(compression);
  const { signal } = options;
  throwIfAborted(signal);

  const diffHasher = hash.create();
  const digestHasher = encoder !== undefined ? hash.create() : undefined;
  const stats: TarStats = { entries: 0 };
  let uncompressedSize = 0;
  async function* tapTar(): AsyncGenerator<Uint8Array> {
    const entries = listLayerEntries(spec, { sourceDateEpoch: options.sourceDateEpoch, signal, onEvent: options.onEvent });
    for await (const chunk of tarStream(entries, stats, signal)) {
      diffHasher.update(chunk);
      uncompressedSize += chunk.length;
      yield chunk;
    }
  }

  const temp = path.join(directory, `.ocibuild-layer-${randomUUID()}.tmp`);
  await fs.mkdir(directory, { recursive: true, mode: 0o700 });
  // Private whatever the umask: a layer holds what a build put in it (the cache adopts this file).
  const handle = await fs.open(temp, 'wx', 0o600);
  let size = 0;
  let finalPath: string;
  let diffId: string;
  let digest: string;
  try {
    const body = encoder !== undefined ? encoder.encode(tapTar()) : tapTar();
    for await (const chunk of body) {
      throwIfAborted(signal);
      digestHasher?.update(chunk);
      size += chunk.length;
      // Awaiting each write is the back-pressure: nothing is read ahead of the disk.
      await handle.write(chunk);
    }
    await handle.close();
    diffId = diffHasher.digest();
    digest = digestHasher?.digest() ?? diffId;
    finalPath = path.join(directory, digest.slice(digest.indexOf(':') + 1));
    await fs.rename(temp, finalPath);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  const blobPath = finalPath;
  return {
    descriptor: { mediaType, digest, size },
    diffId,
    uncompressedSize,
    entryCount: stats.entries,
    path: blobPath,
    open: () => createReadStream(blobPath) as AsyncIterable<Uint8Array>,
  };
}
