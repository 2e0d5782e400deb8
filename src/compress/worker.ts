/**
 * Runs the fflate gzip encoder's DEFLATE in a worker thread, so compression overlaps with
 * producing the input (reading files, tar headers, hashing) on the main thread. The same fflate
 * build is fed the same fixed-size blocks, so the bytes equal the inline encoder's.
 * @module
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { OcibuildError } from '../errors.ts';

// CommonJS source run with `eval: true` so it works both from .ts sources and the built dist
// without shipping a separate worker file. It answers every block with the output chunks.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Deflate } = require(workerData.fflatePath);
let out = [];
const deflate = new Deflate({ level: workerData.level }, (chunk) => { if (chunk.length > 0) out.push(chunk); });
parentPort.on('message', (message) => {
  try {
    deflate.push(new Uint8Array(message.data, 0, message.length), message.final);
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
    return;
  }
  const chunks = out;
  out = [];
  // Deflate copied the block, so its buffer goes back to the main thread for reuse.
  parentPort.postMessage({ chunks, recycled: message.data }, [message.data, ...chunks.map((c) => c.buffer)]);
});
`;

/** How many blocks may wait for the worker: enough to keep it busy, few enough to bound memory. */
const IN_FLIGHT = 3;

interface Reply {
  chunks?: Uint8Array[];
  recycled?: ArrayBuffer;
  error?: string;
}

/** Deflates `blocks` (each exactly blockSize bytes except the last, `final` one) in a worker. */
export class DeflateWorker {
  readonly #worker: Worker;
  readonly #waiting: { resolve: (chunks: Uint8Array[]) => void; reject: (error: unknown) => void }[] = [];
  readonly #replies: Promise<Uint8Array[]>[] = [];
  readonly #free: ArrayBuffer[] = [];
  #failure: unknown;

  /** Starts the worker thread. */
  constructor(level: number) {
    const fflatePath = createRequire(import.meta.url).resolve('fflate');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fflatePath, level } });
    this.#worker.on('message', (reply: Reply) => {
      const waiter = this.#waiting.shift();
      if (reply.error !== undefined) waiter?.reject(new OcibuildError('ERR_LAYER', `gzip worker failed: ${reply.error}`));
      else waiter?.resolve(reply.chunks ?? []);
      if (reply.recycled !== undefined) this.#free.push(reply.recycled);
    });
    const fail = (error: unknown): void => {
      this.#failure ??= error;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new OcibuildError('ERR_LAYER', `gzip worker exited with code ${code}`)));
  }

  /** Number of blocks sent and not yet collected. */
  get inFlight(): number {
    return this.#replies.length;
  }

  /** True when no more blocks should be sent before collecting one. */
  get full(): boolean {
    return this.#replies.length >= IN_FLIGHT;
  }

  /** Returns a block buffer of `size` bytes, reusing one the worker has finished with when possible. */
  takeBlock(size: number): Uint8Array {
    const free = this.#free.pop();
    return free !== undefined && free.byteLength === size ? new Uint8Array(free) : new Uint8Array(size);
  }

  /** Sends one block; its ArrayBuffer is transferred (the caller must not reuse it). */
  send(block: Uint8Array, final: boolean): void {
    if (this.#failure !== undefined) throw this.#failure;
    const reply = new Promise<Uint8Array[]>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    reply.catch(() => undefined); // observed later by collect(); avoids an unhandled rejection meanwhile
    this.#replies.push(reply);
    // Only whole, encoder-owned buffers are transferred; anything else is copied first.
    const owned = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength ? block : new Uint8Array(block);
    this.#worker.postMessage({ data: owned.buffer, length: owned.length, final }, [owned.buffer as ArrayBuffer]);
  }

  /** Waits for the oldest block's output. */
  async collect(): Promise<Uint8Array[]> {
    const reply = this.#replies.shift();
    if (reply === undefined) return [];
    return reply;
  }

  /** Stops the worker thread. */
  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}
