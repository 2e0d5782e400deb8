/**
 * Deterministic test data and stream helpers shared by tests and benchmarks: a seeded PRNG
 * (a failure reproduces, a benchmark writes the same bytes every run), a stream of chosen chunk
 * sizes, and a stream collector.
 * @module
 */

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

/** Reads a whole stream into one Buffer. */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}
