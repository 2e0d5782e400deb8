/**
 * The default gzip encoder: libdeflate (compiled to WebAssembly, npm `libdeflate`) writing one
 * gzip member per fixed-size input block. libdeflate compresses whole buffers only and marks its
 * last DEFLATE block final, so blocks cannot be chained into one member as fflate's are; RFC 1952
 * section 2.2 lets a gzip file be a series of members, which every gzip reader decodes as one
 * stream (GNU gzip, zlib, Go's compress/gzip, Node, Python; estargz and BGZF write such files).
 * The bytes depend only on the input, the level, the block size and the libdeflate version.
 * @module
 */
import { InvalidArgumentError, OcibuildError, UnsupportedError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { checkLevel, gzipHeader, gzipTrailer } from './fflate.ts';
import type { GzipEncoder } from './types.ts';
import { blockPoolGetter, encodeBlocks } from './blocks.ts';
import type { BlockPool, BlockWorkerSpec } from './worker.ts';

/**
 * Version of the libdeflate package the encoder runs (pinned exactly in package.json; a test
 * checks the installed one agrees). It names the encoder in layer cache keys.
 */
export const LIBDEFLATE_VERSION = '0.1.0';

/**
 * Input block size of the default libdeflate encoder: 1 MiB, each block one gzip member.
 * Measured on a 23.7 MB tar of node_modules/typescript at level 6: 256 KiB, 512 KiB, 1 MiB and
 * 2 MiB blocks compressed to 19.00%, 18.84%, 18.76% and 18.72% (`gzip -6`: 18.55%) in the same
 * CPU time; memory grows with the block (the block, its output and the WASM heap per thread).
 * Part of the output contract: never change it without accepting new layer digests.
 */
export const DEFAULT_LIBDEFLATE_BLOCK_SIZE = 1024 * 1024;

/** Largest accepted block size: 64 MiB (the WASM heap holds a block and its output together). */
export const MAX_LIBDEFLATE_BLOCK_SIZE = 64 * 1024 * 1024;

/**
 * Options of {@link libdeflateGzip}.
 * @category Layers
 */
export interface LibdeflateGzipOptions {
  /** Compression level 0-9 (0 writes stored blocks). Default 6. */
  level?: number;
  /**
   * Input block size in bytes, at most 64 MiB: the input is cut into blocks of exactly this size
   * (the last one shorter), each written as one gzip member. Changing it changes the output
   * bytes (and the encoder's `implementation`, so cache keys). Default 1 MiB.
   */
  blockSize?: number;
  /**
   * Compress blocks on worker threads too, once the input exceeds one block; the calling thread
   * compresses whenever the workers are busy. Same bytes either way. Default: true when the
   * machine has more than 2 CPUs. Giving `workers` turns workers on unless `worker` is false.
   */
  worker?: boolean;
  /** Number of worker threads (at least 1). Default `os.availableParallelism() - 1`, at least 1. Same bytes for any number. */
  workers?: number;
}

/**
 * Loads the module and removes the process listeners its Emscripten glue adds
 * (`uncaughtException` and `unhandledRejection` handlers that rethrow): a library must not
 * change how its host process reports errors. Source shared by both threads, as in `./worker.ts`.
 */
const LOAD_SOURCE = `
async function loadLibdeflate(importModule) {
  var events = ['uncaughtException', 'unhandledRejection'];
  var before = events.map(function (e) { return process.listeners(e); });
  try {
    var module = await importModule();
    // The module is instantiated on the first call.
    module.gzip(new Uint8Array(0), 6);
    return module.gzip;
  } finally {
    events.forEach(function (e, i) {
      process.listeners(e).forEach(function (l) { if (before[i].indexOf(l) < 0) process.removeListener(e, l); });
    });
  }
}
`;

type GzipFn = (data: Uint8Array, level: number) => Uint8Array;
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- one source for both threads, see above
const loadFn = new Function(`${LOAD_SOURCE}; return loadLibdeflate;`)() as (importModule: () => Promise<unknown>) => Promise<GzipFn>;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
${LOAD_SOURCE}
const loaded = loadLibdeflate(() => import(pathToFileURL(workerData.modulePath).href));
loaded.catch(() => {});
parentPort.on('message', (job) => {
  loaded.then((gzip) => {
    const member = gzip(new Uint8Array(job.data, 0, job.length), job.level);
    parentPort.postMessage({ chunks: [member], recycled: job.data }, [job.data, member.buffer]);
  }).catch((error) => {
    parentPort.postMessage({ error: String((error && error.message) || error), recycled: job.data }, [job.data]);
  });
});
`;

/** The libdeflate worker: blocks are `{ level }` jobs, each answered with one gzip member. */
const LIBDEFLATE_WORKER: BlockWorkerSpec = { source: WORKER_SOURCE, module: 'libdeflate', name: 'gzip (libdeflate)' };

let loading: Promise<GzipFn> | undefined;

/**
 * Loads libdeflate once per thread. Throws `ERR_UNSUPPORTED` when WebAssembly is unavailable
 * (`node --jitless`), naming the portable encoder to choose instead: the encoder never switches
 * by itself, since another encoder writes other bytes (other layer digests).
 */
export function loadLibdeflate(): Promise<GzipFn> {
  if ((globalThis as { WebAssembly?: unknown }).WebAssembly === undefined) {
    return Promise.reject(
      new UnsupportedError(
        'the libdeflate gzip encoder needs WebAssembly, which this Node lacks (--jitless?); choose the pure-JavaScript encoder instead: fflateGzip() as the encoder option, or --gzip-encoder fflate (its layer digests differ)',
      ),
    );
  }
  loading ??= loadFn(() => import('libdeflate')).catch((error: unknown) => {
    loading = undefined;
    throw new UnsupportedError(`cannot load the libdeflate gzip encoder: ${(error as Error).message}; fflateGzip() (--gzip-encoder fflate) needs no WebAssembly`, { cause: error });
  });
  return loading;
}

/**
 * Creates a deterministic gzip encoder on libdeflate (WebAssembly): the input is cut into blocks
 * of exactly `blockSize` bytes (the last one shorter; an empty input gives one empty member), and
 * each block becomes one complete gzip member (mtime 0, no name). The output depends only on the
 * input bytes, `level`, `blockSize` and the libdeflate version, never on how the input was
 * chunked, how many threads compressed it, or the platform. `implementation` is
 * `libdeflate-wasm/<version>`, followed by `/block-<size>` for a block size other than the
 * default, so layer cache keys change with either. Where WebAssembly is unavailable, encoding
 * fails with `ERR_UNSUPPORTED`; use {@link fflateGzip} there.
 * @example
 * ```ts
 * import { libdeflateGzip, writeLayer } from 'ocibuild';
 *
 * const layer = await writeLayer({ directories: [{ source: './dist' }] }, { encoder: libdeflateGzip({ level: 9 }) });
 * ```
 * @category Layers
 */
export function libdeflateGzip(options: LibdeflateGzipOptions = {}): GzipEncoder {
  const level = options.level ?? 6;
  const blockSize = options.blockSize ?? DEFAULT_LIBDEFLATE_BLOCK_SIZE;
  checkLevel(level);
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_LIBDEFLATE_BLOCK_SIZE) {
    throw new InvalidArgumentError(`gzip blockSize must be an integer 1-${MAX_LIBDEFLATE_BLOCK_SIZE}, got ${blockSize}`);
  }
  const getPool = blockPoolGetter(options, LIBDEFLATE_WORKER, level > 0);
  const suffix = blockSize === DEFAULT_LIBDEFLATE_BLOCK_SIZE ? '' : `/block-${blockSize}`;
  return {
    implementation: `libdeflate-wasm/${LIBDEFLATE_VERSION}${suffix}`,
    level,
    encode: (input) => encode(input, level, blockSize, getPool),
  };
}

/** A gzip member of stored (uncompressed) DEFLATE blocks: level 0, which the package refuses. */
export function storedMember(data: Uint8Array): Uint8Array {
  const MAX = 65535;
  const count = Math.max(1, Math.ceil(data.length / MAX));
  const out = new Uint8Array(10 + count * 5 + data.length + 8);
  out.set(gzipHeader(0));
  let at = 10;
  for (let i = 0; i < count; i++) {
    const part = data.subarray(i * MAX, (i + 1) * MAX);
    // BFINAL on the last; BTYPE 00; LEN and its complement, little-endian (RFC 1951 3.2.4).
    out.set([i === count - 1 ? 1 : 0, part.length & 0xff, part.length >> 8, ~part.length & 0xff, (~part.length >> 8) & 0xff], at);
    out.set(part, at + 5);
    at += 5 + part.length;
  }
  out.set(gzipTrailer(crc32(data), data.length), at);
  return out;
}

async function* encode(input: AsyncIterable<Uint8Array>, level: number, blockSize: number, getPool: (() => BlockPool) | undefined): AsyncGenerator<Uint8Array> {
  let gzip: GzipFn | undefined;
  // Loading the module (~20 ms) overlaps reading the first block's input; it is awaited before
  // the first block is compressed.
  const ready = (level === 0 ? Promise.resolve<GzipFn>(storedMember) : loadLibdeflate()).then((fn) => {
    gzip = fn;
  });
  ready.catch(() => undefined); // rejections surface where it is awaited
  yield* encodeBlocks(input, blockSize, getPool, {
    chained: false,
    ready,
    params: () => ({ level }),
    inline(data) {
      try {
        return [gzip!(data, level)];
      } catch (error) {
        throw new OcibuildError('ERR_LAYER', `gzip (libdeflate) compression failed: ${(error as Error).message}`, { cause: error });
      }
    },
  });
}
