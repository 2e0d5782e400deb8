/**
 * The block scheduler of the block encoders (fflate's chained DEFLATE blocks, libdeflate's gzip
 * members): the input cut into blocks of exactly `blockSize` bytes (the last one shorter), each
 * compressed on the calling thread or on a worker pool, the outputs yielded in input order with
 * a bounded number waiting. Where a block is compressed never changes its bytes.
 * @module
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';
import { BlockPool, type BlockWorkerSpec } from './worker.ts';

/** What a block encoder adds to the scheduler: its job parameters and its inline compressor. */
export interface BlockCodec<P extends Record<string, unknown>> {
  /**
   * True when the blocks are one DEFLATE stream that a final block must close (an empty one when
   * the input ends on a block boundary); false when each block stands alone, so such an input
   * adds no block (an empty input still gives one).
   */
  readonly chained: boolean;
  /** The parameters of the next block, called once per block in input order, before its buffer is handed on. */
  params(data: Uint8Array, final: boolean): P;
  /** Compresses a block on the calling thread. */
  inline(data: Uint8Array, params: P): Uint8Array[];
  /** Awaited before the first block is compressed (a module loading while that block's input is read). */
  readonly ready?: Promise<void>;
  /** Sees every input chunk, in order (a checksum over the whole input). */
  onInput?(chunk: Uint8Array): void;
}

/** The pool choice of a block encoder's options. */
export interface BlockPoolOptions {
  /** Compress on worker threads too (default: more than 2 CPUs, or `workers` given). */
  worker?: boolean;
  /** Worker threads, at least 1 (default one per CPU but one, at least 1). */
  workers?: number;
}

/**
 * The pool getter of an encoder: undefined when blocks are compressed on the calling thread only
 * (`enabled` false, `worker` false, or 2 CPUs or fewer without `workers`); else one pool per
 * encoder, started on first need (idle threads do not keep the process alive). Throws
 * `ERR_INVALID_ARGUMENT` for a worker count that is not a positive integer.
 */
export function blockPoolGetter(options: BlockPoolOptions, spec: BlockWorkerSpec, enabled = true): (() => BlockPool) | undefined {
  const workers = options.workers ?? Math.max(1, availableParallelism() - 1);
  if (!Number.isInteger(workers) || workers < 1) {
    throw new InvalidArgumentError(`gzip workers must be a positive integer, got ${workers}`);
  }
  let pool: BlockPool | undefined;
  const useWorkers = options.worker ?? (options.workers !== undefined || availableParallelism() > 2);
  return useWorkers && enabled ? () => (pool ??= new BlockPool(workers, spec)) : undefined;
}

interface PendingBlock {
  chunks?: Uint8Array[];
  error?: unknown;
  done: Promise<void>;
}

/** Compresses `input` block by block with `codec`, yielding the blocks' outputs in order. */
export async function* encodeBlocks<P extends Record<string, unknown>>(
  input: AsyncIterable<Uint8Array>,
  blockSize: number,
  getPool: (() => BlockPool) | undefined,
  codec: BlockCodec<P>,
): AsyncGenerator<Uint8Array> {
  let pool: BlockPool | undefined;
  let blocks = 0;
  // Blocks in order of the output; at most pool size + 2 wait, which bounds memory.
  const pending: PendingBlock[] = [];
  // Allocated at the first need only, so that a small input stays small.
  let block: Uint8Array | undefined;
  let fill = 0;

  const submit = async (data: Uint8Array, final: boolean): Promise<void> => {
    if (blocks === 0) await codec.ready;
    const params = codec.params(data, final);
    // The first block is compressed here while the pool's threads start (tens of ms; an input of
    // one block starts none); after that a block goes to the pool while a worker is free or about
    // to be, and is compressed here otherwise, so this thread works as one more worker.
    const first = blocks++ === 0;
    if (getPool === undefined || first || (pool !== undefined && pool.backlog >= pool.size)) {
      if (first && getPool !== undefined && data.length === blockSize) getPool().warm();
      pending.push({ chunks: codec.inline(data, params), done: Promise.resolve() });
      return;
    }
    pool ??= getPool();
    const entry: PendingBlock = { done: Promise.resolve() };
    entry.done = pool.run({ data, params }).then(
      (chunks) => {
        entry.chunks = chunks;
      },
      (error: unknown) => {
        entry.error = error;
      },
    );
    pending.push(entry);
    block = undefined; // transferred
  };

  for await (const chunk of input) {
    codec.onInput?.(chunk);
    for (let offset = 0; offset < chunk.length; ) {
      const n = Math.min(blockSize - fill, chunk.length - offset);
      block ??= pool !== undefined ? pool.takeBuffer(blockSize) : new Uint8Array(blockSize);
      block.set(n === chunk.length ? chunk : chunk.subarray(offset, offset + n), fill);
      fill += n;
      offset += n;
      if (fill === blockSize) {
        // Not final even when the input ends right here: a chained stream is closed below.
        await submit(block, false);
        fill = 0;
        while (pool !== undefined && pending.length > pool.size + 2) yield* await take(pending);
      }
    }
    while (pending[0]?.chunks !== undefined || pending[0]?.error !== undefined) yield* await take(pending);
  }
  if (codec.chained || fill > 0 || blocks === 0) await submit((block ?? new Uint8Array(0)).subarray(0, fill), true);
  while (pending.length > 0) yield* await take(pending);
}

/** Removes and returns the first block's output, waiting for it; rethrows its failure. */
async function take(pending: PendingBlock[]): Promise<Uint8Array[]> {
  const first = pending.shift()!;
  await first.done;
  if (first.error !== undefined) throw first.error;
  return first.chunks ?? [];
}
