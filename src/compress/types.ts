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
  /** Implementation name (`fflate`, `node:zlib`). */
  readonly implementation: string;
  /** Compression level 0-9. */
  readonly level: number;
  /** Compresses a stream. */
  encode: ByteTransform;
}

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
