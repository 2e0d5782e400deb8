/**
 * The zstd layer encoder: the input is cut into fixed-size chunks and each chunk becomes one
 * independent zstd frame (RFC 8878 section 3.1: a zstd stream is a sequence of frames, and every
 * decoder, `zstd -d`, containerd and containers/image included, decodes them as one stream).
 * The frames are written by the reference zstd library compiled to WebAssembly
 * (`@bokuweb/zstd-wasm`), so the bytes depend only on the input, the level, the chunk size and
 * that library's version: never on the CPU, the Node version, how the input was split into
 * chunks, or how many threads ran. docs/compression.md records why this library and these
 * defaults.
 * @module
 */
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import type { ZstdEncoder } from './types.ts';

/**
 * Options of {@link zstdWasm}.
 * @category Layers
 */
export interface ZstdWasmOptions {
  /**
   * Compression level, an integer 1-19. Default
   * 3. Levels 20-22 ("ultra") are refused: their windows need hundreds
   * of MB of memory for a gain that the chunking cancels.
   */
  level?: number;
  /**
   * Input chunk size in bytes, each compressed as one frame. Part of the output contract:
   * another size gives other bytes. Default 4 MiB; at most
   * 64 MiB.
   */
  chunkSize?: number;
}

/** The zstd level used when none is given: 3, zstd's own default (and containerd's, BuildKit's). */
export const DEFAULT_ZSTD_LEVEL = 3;
/** Lowest accepted level. */
export const MIN_ZSTD_LEVEL = 1;
/** Highest accepted level (zstd's highest without `--ultra`). */
export const MAX_ZSTD_LEVEL = 19;

/**
 * Chunk size of the default encoder: 4 MiB. At level 3 zstd's window is 2-4 MiB, so larger
 * chunks gain little, while memory (chunk, output bound and the WASM heap) grows with them;
 * docs/compression.md has the measurements. Never change it without accepting new layer digests.
 */
export const DEFAULT_ZSTD_CHUNK_SIZE = 4 * 1024 * 1024;
/** Largest accepted chunk size: 64 MiB (the WASM heap holds the chunk and its output together). */
export const MAX_ZSTD_CHUNK_SIZE = 64 * 1024 * 1024;

/**
 * Version of the zstd library the WASM encoder runs; it names the encoder in cache keys. It is
 * the exact version pinned in package.json; a test checks that the installed one agrees.
 */
export const ZSTD_WASM_VERSION = '0.0.27';

/** The parts of the WASM module used here. */
export interface ZstdWasmModule {
  init(): Promise<void>;
  compress(data: Uint8Array, level?: number): Uint8Array;
  decompress(data: Uint8Array): Uint8Array;
}

let loading: Promise<ZstdWasmModule> | undefined;

/** Loads and initialises the WASM module once per process (it holds one heap; init twice would reset it). */
export function loadZstdWasm(): Promise<ZstdWasmModule> {
  loading ??= (async () => {
    try {
      const imported = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasmModule & { default?: ZstdWasmModule };
      const module = typeof imported.compress === 'function' ? imported : (imported.default as ZstdWasmModule);
      await module.init();
      return module;
    } catch (error) {
      loading = undefined;
      throw new OcibuildError('ERR_UNSUPPORTED', `cannot load the zstd encoder (@bokuweb/zstd-wasm): ${(error as Error).message}`, { cause: error });
    }
  })();
  return loading;
}

/** Checks a zstd level, throwing `ERR_INVALID_ARGUMENT` naming the accepted range. */
export function checkZstdLevel(level: number): void {
  if (!Number.isInteger(level) || level < MIN_ZSTD_LEVEL || level > MAX_ZSTD_LEVEL) {
    throw new InvalidArgumentError(`zstd level must be an integer ${MIN_ZSTD_LEVEL}-${MAX_ZSTD_LEVEL}, got ${level}`);
  }
}

/**
 * Creates a deterministic zstd encoder on the WASM build of the reference library. Input is
 * gathered into chunks of exactly `chunkSize` bytes (the last one shorter; an empty input gives
 * one empty frame), each compressed into one frame carrying its content size. Memory: one chunk,
 * its compressed bound and the module's heap (a few MB at the default level).
 * @category Layers
 * @example
 * ```ts
 * import { buildImage, zstdWasm } from 'ocibuild';
 *
 * // zstd layers at level 9 (OCI format only), for registries and runtimes that read zstd.
 * await buildImage({
 *   from: 'oci:./base:latest',
 *   layers: [{ directories: [{ source: './dist', destination: '/app' }], createdBy: 'app files' }],
 *   to: ['oci:./out:app'],
 *   encoder: zstdWasm({ level: 9 }),
 * });
 * ```
 */
export function zstdWasm(options: ZstdWasmOptions = {}): ZstdEncoder {
  const level = options.level ?? DEFAULT_ZSTD_LEVEL;
  const chunkSize = options.chunkSize ?? DEFAULT_ZSTD_CHUNK_SIZE;
  checkZstdLevel(level);
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_ZSTD_CHUNK_SIZE) {
    throw new InvalidArgumentError(`zstd chunkSize must be an integer 1-${MAX_ZSTD_CHUNK_SIZE}, got ${chunkSize}`);
  }
  return {
    format: 'zstd',
    implementation: `zstd-wasm/${ZSTD_WASM_VERSION}`,
    level,
    chunkSize,
    encode: (input) => encodeChunks(input, level, chunkSize),
  };
}

async function* encodeChunks(input: AsyncIterable<Uint8Array>, level: number, chunkSize: number): AsyncGenerator<Uint8Array> {
  const zstd = await loadZstdWasm();
  const frame = (data: Uint8Array): Uint8Array => {
    try {
      return zstd.compress(data, level);
    } catch (error) {
      throw new OcibuildError('ERR_LAYER', `zstd compression failed: ${(error as Error).message}`, { cause: error });
    }
  };
  // The buffer is allocated at the size of the first full chunk only: a small layer stays small.
  let block: Uint8Array | undefined;
  let fill = 0;
  let frames = 0;
  for await (const chunk of input) {
    for (let offset = 0; offset < chunk.length; ) {
      const n = Math.min(chunkSize - fill, chunk.length - offset);
      if (fill === 0 && n === chunkSize) {
        // A whole chunk in place: no copy.
        yield frame(chunk.subarray(offset, offset + n));
        frames++;
        offset += n;
        continue;
      }
      block ??= new Uint8Array(chunkSize);
      block.set(chunk.subarray(offset, offset + n), fill);
      fill += n;
      offset += n;
      if (fill === chunkSize) {
        yield frame(block);
        frames++;
        fill = 0;
      }
    }
  }
  if (fill > 0 || frames === 0) yield frame((block ?? new Uint8Array(0)).subarray(0, fill));
}
