/**
 * zstd decoding without the `zstd` program: the stream is split into its frames by reading
 * their headers and block headers (RFC 8878 section 3.1.1), and each frame that declares its
 * content size is decoded whole by the WASM library. That covers every layer ocibuild writes
 * (frames of at most 4 MiB by default) and small layers of other writers; a frame without a
 * declared size or larger than {@link MAX_WASM_FRAME_CONTENT} needs the `zstd` program, which
 * is preferred whenever it is on `PATH` (it streams any frame).
 * @module
 */
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { OcibuildError, UnsupportedError } from '../errors.ts';
import { externalDecoder } from './external-stream.ts';
import type { ByteTransform } from './types.ts';
import { loadZstdWasm, MAX_ZSTD_CHUNK_SIZE } from './zstd.ts';

/** Largest frame content the WASM decoder takes (the largest frame the encoder writes). */
export const MAX_WASM_FRAME_CONTENT = MAX_ZSTD_CHUNK_SIZE;

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;

/** Input chunks read by absolute offset without concatenating them. */
class ByteQueue {
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Little-endian unsigned integer of `n` (1-4) bytes at `offset` (which must be in range). */
  read(offset: number, n: number): number {
    let value = 0;
    let chunkIndex = 0;
    let at = offset;
    while (at >= this.#chunks[chunkIndex]!.length) at -= this.#chunks[chunkIndex++]!.length;
    for (let i = 0; i < n; i++) {
      let chunk = this.#chunks[chunkIndex]!;
      if (at >= chunk.length) {
        chunk = this.#chunks[++chunkIndex]!;
        at = 0;
      }
      value += chunk[at++]! * 2 ** (8 * i);
    }
    return value;
  }

  /** Removes and returns the first `n` bytes as one array. */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, count), filled);
      filled += count;
      if (count === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(count);
    }
    this.#length -= n;
    return out;
  }
}

/** What the start of the queue holds: a whole frame (its length and content size), a skippable frame, or not enough bytes yet. */
type FrameScan = { kind: 'frame'; length: number; contentSize: number } | { kind: 'skip'; length: number } | undefined;

function scanFrame(queue: ByteQueue, where: string): FrameScan {
  if (queue.length < 4) return undefined;
  const magic = queue.read(0, 4);
  if (magic >>> 4 === 0x184d2a5) {
    if (queue.length < 8) return undefined;
    return { kind: 'skip', length: 8 + queue.read(4, 4) };
  }
  if (magic !== ZSTD_MAGIC) throw new OcibuildError('ERR_LAYER', `${where}: not a zstd frame (magic ${magic.toString(16)})`);
  if (queue.length < 5) return undefined;
  const descriptor = queue.read(4, 1);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  let offset = 5 + (singleSegment ? 0 : 1) + dictionaryBytes;
  if (queue.length < offset + fcsBytes) return undefined;
  if (dictionaryBytes > 0 && queue.length < 5 + (singleSegment ? 0 : 1) + dictionaryBytes) return undefined;
  if (dictionaryBytes > 0 && queue.read(5 + (singleSegment ? 0 : 1), dictionaryBytes) !== 0) {
    throw new UnsupportedError(`${where} has a zstd frame that needs a dictionary, which layers never use`);
  }
  if (fcsBytes === 0) {
    throw new UnsupportedError(`${where} has a zstd frame without a declared size: decoding it needs the "zstd" program on PATH (Debian package zstd)`);
  }
  let contentSize = fcsBytes === 8 ? queue.read(offset, 4) + queue.read(offset + 4, 4) * 2 ** 32 : queue.read(offset, fcsBytes);
  if (fcsBytes === 2) contentSize += 256;
  if (contentSize > MAX_WASM_FRAME_CONTENT) {
    throw new UnsupportedError(
      `${where} has a zstd frame of ${contentSize} bytes, over the ${MAX_WASM_FRAME_CONTENT} the built-in decoder takes: decoding it needs the "zstd" program on PATH (Debian package zstd)`,
    );
  }
  offset += fcsBytes;
  for (;;) {
    if (queue.length < offset + 3) return undefined;
    const header = queue.read(offset, 3);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new OcibuildError('ERR_LAYER', `${where}: corrupt zstd data (reserved block type)`);
    if (size > BLOCK_MAX) throw new OcibuildError('ERR_LAYER', `${where}: corrupt zstd data (block of ${size} bytes)`);
    offset += 3 + (type === 1 ? 1 : size);
    if (last) break;
    // A frame cannot be much larger than its content: stop a hostile stream of empty blocks.
    if (offset > contentSize + (contentSize >> 3) + 1024 * 1024) throw new OcibuildError('ERR_LAYER', `${where}: corrupt zstd data (frame longer than its content)`);
  }
  offset += checksum ? 4 : 0;
  if (queue.length < offset) return undefined;
  return { kind: 'frame', length: offset, contentSize };
}

/**
 * Creates a streaming zstd decoder on the WASM library: frames are decoded one by one as they
 * arrive, so memory holds at most one frame and its content. A frame without a declared
 * content size or above {@link MAX_WASM_FRAME_CONTENT} throws `UnsupportedError` (the `zstd`
 * program decodes those); corrupt data, truncation or a content size that does not match the
 * frame throw `ERR_LAYER`. `where` names the data in errors.
 */
export function zstdWasmDecoder(where = 'input'): ByteTransform {
  return (input) => decodeFrames(input, where);
}

async function* decodeFrames(input: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Uint8Array> {
  const zstd = await loadZstdWasm();
  const queue = new ByteQueue();
  const drain = function* (): Generator<Uint8Array> {
    for (let scan = scanFrame(queue, where); scan !== undefined; scan = scanFrame(queue, where)) {
      const bytes = queue.take(scan.length);
      if (scan.kind === 'skip') continue;
      let content: Uint8Array;
      try {
        content = zstd.decompress(bytes);
      } catch (error) {
        throw new OcibuildError('ERR_LAYER', `${where}: corrupt zstd data: ${(error as Error).message}`, { cause: error });
      }
      if (content.length !== scan.contentSize) {
        throw new OcibuildError('ERR_LAYER', `${where}: corrupt zstd data (a frame declares ${scan.contentSize} bytes, holds ${content.length})`);
      }
      if (content.length > 0) yield content;
    }
  };
  for await (const chunk of input) {
    queue.push(chunk);
    yield* drain();
    // At most one frame is buffered: scanFrame refuses a frame much longer than its content,
    // and its content is at most MAX_WASM_FRAME_CONTENT.
  }
  if (queue.length > 0) throw new OcibuildError('ERR_LAYER', `${where}: truncated zstd data (${queue.length} bytes of an incomplete frame at the end)`);
}

let probed: { path: string; found: boolean } | undefined;

/** True when an executable `zstd` is on `PATH` (checked once per PATH value). */
export function hasZstdProgram(env: NodeJS.ProcessEnv = process.env): boolean {
  const searchPath = env.PATH ?? '';
  if (probed?.path === searchPath) return probed.found;
  const found = searchPath.split(path.delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(path.join(dir, 'zstd'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  probed = { path: searchPath, found };
  return found;
}

/**
 * The default zstd decoder: the `zstd` program when it is on PATH (streaming, any frame size),
 * else {@link zstdWasmDecoder} (every layer ocibuild writes; frames up to 64 MiB with a
 * declared size).
 */
export function zstdDecoder(where = 'input'): ByteTransform {
  return hasZstdProgram() ? externalDecoder('zstd', where) : zstdWasmDecoder(where);
}
