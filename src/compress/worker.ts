/**
 * Compressing independent blocks, inline or on a pool of worker threads (pigz's scheme), and the
 * fflate encoder's block compressor: each block is compressed by a fresh fflate `Deflate` primed
 * with the previous block's last 32 KiB as its dictionary, and every block but the last ends with a sync flush (an empty stored
 * block), so the compressed blocks concatenate into one DEFLATE stream. A block's bytes depend
 * only on its input, its dictionary and the level, never on which thread compressed it.
 * @module
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { Deflate } from 'fflate';
import { OcibuildError } from '../errors.ts';

/**
 * The block compressor, as JavaScript source so that the worker threads and the main thread
 * run the very same code (a worker is started from source with `eval: true`, which works from
 * the .ts sources and the built dist alike).
 *
 * It reads two fields of fflate 0.8's `Deflate` state (pinned exactly in package.json): `s.r`,
 * the bits of the last byte not yet emitted (count in bits 0-2, byte above), and `s.w`/`s.z`,
 * how far input has been compressed. fflate has no public sync flush; these give one without
 * re-encoding anything.
 */
const DEFLATE_BLOCK_SOURCE = `
var scratch = { window: undefined, head: undefined, prev: undefined };
function deflateBlock(Deflate, data, dictionary, level, final) {
  var out = [];
  var options = { level: level };
  if (dictionary !== undefined && dictionary.length > 0) options.dictionary = dictionary;
  var deflate = new Deflate(options, function (chunk) { if (chunk.length > 0) out.push(chunk); });
  var state = deflate.s;
  if (state === undefined || !(deflate.b instanceof Uint8Array) || typeof state.w !== 'number' || typeof state.z !== 'number') {
    throw new Error('unsupported fflate version: no Deflate state');
  }
  // Reuse this thread's large buffers instead of letting fflate allocate ~3 MiB per block: the
  // window (32 KiB of dictionary, then the block; sized so that fflate never grows it) and the
  // match-finder tables (zeroed, as fresh ones are). Fewer large allocations keep each thread's
  // heap small (measured on a 64 MiB file with two workers: peak RSS 178 -> 155 MB).
  var need = 32768 + data.length;
  if (scratch.window === undefined || scratch.window.length < need) scratch.window = new Uint8Array(Math.ceil(need / 32768) * 32768);
  scratch.window.set(deflate.b.subarray(0, 32768));
  deflate.b = scratch.window;
  if (level > 0) {
    scratch.head = scratch.head || new Uint16Array(1 << 20);
    scratch.prev = scratch.prev || new Uint16Array(32768);
    state.h = scratch.head.fill(0);
    state.p = scratch.prev.fill(0);
  }
  deflate.push(data, final);
  if (final) return out;
  // fflate holds back small pushes; compress what is left.
  if (state.w < state.z) deflate.flush();
  var r = state.r || 0;
  var bits = r & 7;
  // Sync flush: the pending bits, an empty stored block header (3 zero bits), zero padding to
  // the byte boundary, then LEN 0x0000 and NLEN 0xffff (RFC 1951 3.2.4), as zlib's Z_SYNC_FLUSH.
  if (bits === 0) out.push(Uint8Array.of(0, 0, 0, 0xff, 0xff));
  else if (bits <= 5) out.push(Uint8Array.of(r >> 3, 0, 0, 0xff, 0xff));
  else out.push(Uint8Array.of(r >> 3, 0, 0, 0, 0xff, 0xff));
  return out;
}
`;

type DeflateBlockFn = (
  deflate: typeof Deflate,
  data: Uint8Array,
  dictionary: Uint8Array | undefined,
  level: number,
  final: boolean,
) => Uint8Array[];

// eslint-disable-next-line @typescript-eslint/no-implied-eval -- one source for both threads, see above
const deflateBlockFn = new Function(`${DEFLATE_BLOCK_SOURCE}; return deflateBlock;`)() as DeflateBlockFn;

/** The DEFLATE bytes of one block: non-final blocks end byte-aligned with a sync flush. */
export function deflateBlock(data: Uint8Array, dictionary: Uint8Array | undefined, level: number, final: boolean): Uint8Array[] {
  return deflateBlockFn(Deflate, data, dictionary, level, final);
}

/**
 * The fflate worker: runs {@link deflateBlock} on each block it is sent (see `BlockPool`).
 */
const FFLATE_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Deflate } = require(workerData.modulePath);
${DEFLATE_BLOCK_SOURCE}
parentPort.on('message', (job) => {
  let chunks;
  try {
    const data = new Uint8Array(job.data, 0, job.length);
    chunks = deflateBlock(Deflate, data, job.dictionary, job.level, job.final);
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error), recycled: job.data }, [job.data]);
    return;
  }
  // Deflate copied the block, so its buffer goes back to the main thread for reuse.
  parentPort.postMessage({ chunks, recycled: job.data }, [job.data, ...chunks.map((c) => c.buffer)]);
});
`;

/**
 * What a pool's threads run: CommonJS source started with `eval: true` (which works from the .ts
 * sources and the built dist alike), given `workerData.modulePath`, the resolved path of
 * `module`. It receives `{ data: ArrayBuffer, length, ...params }` per block and MUST answer each
 * with `{ chunks: Uint8Array[], recycled: data }` or `{ error: string, recycled: data }`, one
 * block at a time, in order.
 */
export interface BlockWorkerSpec {
  /** The worker's source. */
  readonly source: string;
  /** The package whose entry point the worker loads (resolved from here). */
  readonly module: string;
  /** What failed, in error messages (`gzip`). */
  readonly name: string;
}

/** The fflate deflate worker (blocks are `{ dictionary, level, final }` jobs). */
export const FFLATE_WORKER: BlockWorkerSpec = { source: FFLATE_WORKER_SOURCE, module: 'fflate', name: 'gzip' };

/** One block to compress. */
export interface BlockJob {
  /** The input; its whole ArrayBuffer is transferred to the worker (the caller must not reuse it). */
  data: Uint8Array;
  /** The rest of the job, as the worker expects it (structured-cloned). */
  params: Record<string, unknown>;
}

interface Queued {
  job: BlockJob;
  resolve: (chunks: Uint8Array[]) => void;
  reject: (error: unknown) => void;
}

interface Reply {
  chunks?: Uint8Array[];
  recycled?: ArrayBuffer;
  error?: string;
}

class PoolWorker {
  readonly worker: Worker;
  current: Queued | undefined;
  dead = false;

  constructor(source: string, modulePath: string) {
    this.worker = new Worker(source, { eval: true, workerData: { modulePath } });
  }
}

/**
 * A pool of block-compressing worker threads, started one by one as blocks arrive and never
 * more than `size`. Idle workers do not keep the process alive. Jobs run in submission order.
 */
export class BlockPool {
  /** Maximum number of worker threads. */
  readonly size: number;
  readonly #spec: BlockWorkerSpec;
  readonly #workers: PoolWorker[] = [];
  readonly #queue: Queued[] = [];
  readonly #free: ArrayBuffer[] = [];
  #modulePath: string | undefined;

  /** Creates an empty pool of at most `size` (at least 1) workers running `spec`; no thread starts yet. */
  constructor(size: number, spec: BlockWorkerSpec) {
    this.size = Math.max(1, Math.floor(size));
    this.#spec = spec;
  }

  /** Starts up to `count` workers ahead of the first jobs (thread start-up takes tens of ms). */
  warm(count = this.size): void {
    while (this.#workers.length < Math.min(count, this.size)) this.#start();
  }

  /** Blocks submitted that no worker has started yet. */
  get backlog(): number {
    return this.#queue.length;
  }

  /** Compresses a block on a worker; resolves with its output chunks. */
  run(job: BlockJob): Promise<Uint8Array[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      const idle = this.#workers.find((w) => w.current === undefined);
      if (idle !== undefined) this.#next(idle);
      else if (this.#workers.length < this.size) this.#next(this.#start());
    });
  }

  /** A block buffer of `size` bytes, reusing one a worker has finished with when possible. */
  takeBuffer(size: number): Uint8Array {
    const free = this.#free.pop();
    return free !== undefined && free.byteLength === size ? new Uint8Array(free) : new Uint8Array(size);
  }

  #start(): PoolWorker {
    this.#modulePath ??= createRequire(import.meta.url).resolve(this.#spec.module);
    const entry = new PoolWorker(this.#spec.source, this.#modulePath);
    const name = this.#spec.name;
    this.#workers.push(entry);
    entry.worker.on('message', (reply: Reply) => {
      const done = entry.current;
      entry.current = undefined;
      if (reply.recycled !== undefined && this.#free.length < this.size + 2) this.#free.push(reply.recycled);
      if (reply.error !== undefined) done?.reject(new OcibuildError('ERR_LAYER', `${name} worker failed: ${reply.error}`));
      else done?.resolve(reply.chunks ?? []);
      this.#next(entry);
    });
    const fail = (error: unknown): void => {
      if (entry.dead) return; // 'error' is followed by 'exit'
      entry.dead = true;
      const index = this.#workers.indexOf(entry);
      if (index >= 0) this.#workers.splice(index, 1);
      entry.current?.reject(error);
      entry.current = undefined;
      // Whatever is still queued goes to the remaining workers, or to a new one.
      if (this.#queue.length > 0) {
        const idle = this.#workers.find((w) => w.current === undefined);
        this.#next(idle ?? this.#start());
      }
    };
    entry.worker.on('error', fail);
    entry.worker.on('exit', (code) => fail(new OcibuildError('ERR_LAYER', `${name} worker exited with code ${code}`)));
    // Idle until given a block (after the listeners: adding one may ref the worker again).
    entry.worker.unref();
    return entry;
  }

  #next(entry: PoolWorker): void {
    if (entry.current !== undefined) return;
    const queued = this.#queue.shift();
    if (queued === undefined) {
      entry.worker.unref(); // idle: let the process exit
      return;
    }
    entry.current = queued;
    entry.worker.ref(); // busy: someone awaits this block
    const { data, params } = queued.job;
    // Only whole, encoder-owned buffers are transferred; anything else is copied first.
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
    entry.worker.postMessage({ ...params, data: owned.buffer, length: owned.byteLength }, [owned.buffer as ArrayBuffer]);
  }
}
