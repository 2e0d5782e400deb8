/**
 * Compression interfaces. An encoder's output bytes MUST depend only on the input bytes and
 * its options, never on how the input was split into chunks.
 * @module
 */

/**
 * A streaming transform from one byte stream to another.
 * @category Layers
 */
export type ByteTransform = (input: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/**
 * A gzip encoder.
 * @category Layers
 */
export interface GzipEncoder {
  /** `gzip` (optional: an encoder without `format` is a gzip encoder). */
  readonly format?: 'gzip';
  /** Implementation name (`fflate`, `node:zlib`). */
  readonly implementation: string;
  /** Compression level 0-9. */
  readonly level: number;
  /** Compresses a stream. */
  encode: ByteTransform;
}

/**
 * A zstd encoder. Its output is a sequence of zstd frames (one stream to any decoder).
 * @category Layers
 */
export interface ZstdEncoder {
  /** Always `zstd`: tells it from a {@link GzipEncoder}. */
  readonly format: 'zstd';
  /** Implementation and library version (`zstd-wasm/0.0.27`): part of layer cache keys. */
  readonly implementation: string;
  /** zstd compression level. */
  readonly level: number;
  /** Input bytes per frame: part of the output contract, so of layer cache keys too. */
  readonly chunkSize: number;
  /** Compresses a stream. */
  encode: ByteTransform;
}

/**
 * Any layer encoder: gzip or zstd, told apart by `format`.
 * @category Layers
 */
export type LayerEncoder = GzipEncoder | ZstdEncoder;

/**
 * A gzip decoder.
 * @category Layers
 */
export interface GzipDecoder {
  /** Implementation name. */
  readonly implementation: string;
  /** Decompresses a stream (concatenated members allowed). */
  decode: ByteTransform;
}
