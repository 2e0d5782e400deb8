/**
 * Deterministic test data and stream helpers shared by tests and benchmarks: a seeded PRNG
 * (a failure reproduces, a benchmark writes the same bytes every run), a stream of chosen chunk
 * sizes, a stream collector and the sha256 digest of bytes: the one copy of each for all tests.
 * @module
 */
import { createHash } from 'node:crypto';

/** Small seeded PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Streams `data` in chunks of the sizes `sizes()` returns, the last one cut to what is left.
 * A size of 0 (or less) yields an empty chunk: `sizes` must not return it forever.
 */
export async function* chunked(data: Uint8Array, sizes: () => number): AsyncGenerator<Uint8Array> {
  let offset = 0;
  while (offset < data.length) {
    const n = Math.max(0, Math.min(sizes(), data.length - offset));
    yield data.subarray(offset, offset + n);
    offset += n;
  }
}

/**
 * Reads a whole stream into one plain Uint8Array (not a Buffer, so that `assert.deepEqual`
 * against a Uint8Array compares bytes, not prototypes).
 */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

/** The `sha256:` digest of bytes (a string is hashed as UTF-8). */
export function sha256(bytes: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * `size` bytes of text-like runs, pseudo-random runs and repeated bytes mixed, the same bytes for
 * the same seed: compressor blocks end at many different bit offsets.
 */
export function mixedData(size: number, seed: number): Buffer {
  const rand = prng(seed);
  const words = ['function', 'return', 'const', 'require(', ');\n', 'exports.', 'value', '{}', 'index', ' '];
  const parts: Buffer[] = [];
  let total = 0;
  while (total < size) {
    const kind = rand();
    const n = 1 + Math.floor(rand() * 20_000);
    const part =
      kind < 0.4
        ? Buffer.from(Array.from({ length: n / 4 }, () => words[Math.floor(rand() * words.length)]).join(''))
        : kind < 0.7
          ? Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)))
          : Buffer.alloc(n, Math.floor(rand() * 256));
    parts.push(part);
    total += part.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}
