/**
 * The portable gzip encoder: fflate's DEFLATE in pure JavaScript, whose output is the same on
 * every Node version, CPU and runtime, WebAssembly or not (Node's bundled zlib is not: its bytes differ from system zlib at every level).
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { blockPoolGetter, encodeBlocks } from './blocks.ts';
import { deflateBlock, FFLATE_WORKER, type BlockPool } from './worker.ts';
import type { GzipEncoder } from './types.ts';

/**
 * Options of {@link fflateGzip}.
 * @category Layers
 */
export interface FflateGzipOptions {
  /** Compression level 0-9. Default 6. */
  level?: number;
  /**
   * Input block size in bytes. The input is cut into blocks of exactly this size (the last one
   * shorter), each compressed on its own with the previous block's last 32 KiB as dictionary.
   * Changing it changes the output bytes (and the encoder's `implementation`, so cache keys).
   * Default 512 KiB.
   */
  blockSize?: number;
  /**
   * Compress blocks on worker threads once the input exceeds one block, in parallel and
   * overlapping whatever produces the input. Same bytes either way. Default: true when the
   * machine has more than 2 CPUs. On 2 CPUs the one worker there is room for bought ~15% of
   * a 40 MB layer's build time for ~25 MB more peak RSS (measured here: 2.44 s / 150 MB with
   * the worker, 2.79 s / 130 MB without), so the calling thread compresses alone by default.
   * Giving `workers` turns workers on unless `worker` is false.
   */
  worker?: boolean;
  /**
   * Number of worker threads (at least 1). The calling thread compresses blocks too whenever
   * the workers are busy, so the default, `os.availableParallelism() - 1` (at least 1), keeps
   * every core busy with one thread fewer: each worker thread costs ~35-45 MB of peak RSS
   * (its own V8 heap and garbage). Same bytes for any number.
   */
  workers?: number;
}

/**
 * Block size of {@link fflateGzip}: 512 KiB. Each block restarts the match search (primed with
 * a 32 KiB dictionary), so larger blocks compress marginally better, but peak memory grows with
 * them. Measured on 200 MB of mixed data with one worker plus the calling thread: 256 KiB,
 * 512 KiB, 768 KiB and 1 MiB blocks gave peak RSS 99, 105, 120 and 150+ MB for outputs within
 * 0.02% of each other, at the same CPU time.
 * Part of the output contract: never change it without accepting new layer digests.
 */
export const DEFAULT_GZIP_BLOCK_SIZE = 512 * 1024;

/** Builds the 10-byte gzip member header: no name, mtime 0, OS Unix, as `gzip -n` writes. */
export function gzipHeader(level: number): Uint8Array {
  // XFL: 2 = maximum compression, 4 = fastest (RFC 1952 section 2.3.1).
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3);
}

/** Builds the 8-byte gzip trailer: CRC-32 and input size mod 2^32, little-endian. */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, size % 0x1_0000_0000, true);
  return out;
}

/** Checks a 0-9 integer level, throwing `ERR_INVALID_ARGUMENT`. */
export function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new InvalidArgumentError(`gzip level must be an integer 0-9, got ${level}`);
  }
}


/** Dictionary bytes carried from one block to the next: DEFLATE's whole window. */
const WINDOW = 32 * 1024;

/**
 * Creates a deterministic gzip encoder on fflate. The output depends only on the input bytes,
 * `level` and `blockSize`: never on how the input was chunked, how many threads compressed it,
 * the clock, or the platform. Blocks are compressed in parallel (pigz's scheme, see
 * `./worker.ts`) and the gzip trailer's CRC-32 is computed over the input on the calling thread.
 * @example
 * ```ts
 * import { fflateGzip, writeLayer } from 'ocibuild';
 *
 * const layer = await writeLayer({ directories: [{ source: './dist' }] }, { encoder: fflateGzip({ level: 9 }) });
 * ```
 * @category Layers
 */
export function fflateGzip(options: FflateGzipOptions = {}): GzipEncoder {
  const level = options.level ?? 6;
  const blockSize = options.blockSize ?? DEFAULT_GZIP_BLOCK_SIZE;
  checkLevel(level);
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new InvalidArgumentError(`gzip blockSize must be a positive integer, got ${blockSize}`);
  }
  const getPool = blockPoolGetter(options, FFLATE_WORKER);
  return {
    // A block size other than the default changes the bytes, so it names the encoder in cache keys.
    implementation: blockSize === DEFAULT_GZIP_BLOCK_SIZE ? 'fflate' : `fflate/block-${blockSize}`,
    level,
    encode: (input) => encode(input, level, blockSize, getPool),
  };
}

async function* encode(input: AsyncIterable<Uint8Array>, level: number, blockSize: number, getPool: (() => BlockPool) | undefined): AsyncGenerator<Uint8Array> {
  // Raw DEFLATE plus our own header and trailer: fflate's Gzip computes the CRC in JavaScript
  // (slower than node:zlib's) and would stamp the current time unless told otherwise.
  let crc = 0;
  let size = 0;
  let dictionary: Uint8Array | undefined;
  yield gzipHeader(level);
  yield* encodeBlocks(input, blockSize, getPool, {
    chained: true,
    onInput(chunk) {
      crc = crc32(chunk, crc);
      size += chunk.length;
    },
    params(data, final) {
      const params = { dictionary, level, final };
      // The next block's dictionary, copied before `data` is transferred or reused.
      dictionary = final ? undefined : data.slice(Math.max(0, data.length - WINDOW));
      return params;
    },
    inline: (data, params) => deflateBlock(data, params.dictionary, level, params.final),
  });
  yield gzipTrailer(crc, size);
}
