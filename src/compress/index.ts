/**
 * Compression codecs: gzip encoders (fflate default, node:zlib opt-in) and the gzip decoder.
 * @module
 */
import { fflateGzip } from './fflate.ts';
import { nodeGunzip } from './node.ts';
import type { GzipDecoder, GzipEncoder } from './types.ts';

export type { ByteTransform, GzipDecoder, GzipEncoder } from './types.ts';
export { DEFAULT_GZIP_BLOCK_SIZE, fflateGzip } from './fflate.ts';
export type { FflateGzipOptions } from './fflate.ts';
export { nodeGunzip, nodeGzip } from './node.ts';
export type { NodeGzipOptions } from './node.ts';
export { crc32 } from './crc32.ts';

/**
 * The default encoder: fflate at level 6, identical bytes on every Node version and CPU.
 * @category Layers
 */
export const defaultGzipEncoder: GzipEncoder = fflateGzip({ level: 6 });

/**
 * The default decoder: node:zlib (about 2.5x faster than fflate at decoding here).
 * @category Layers
 */
export const defaultGzipDecoder: GzipDecoder = nodeGunzip();
export { decompressFile, type ArchiveCompression } from './external.ts';
