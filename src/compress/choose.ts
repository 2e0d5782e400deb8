/**
 * Picking the layer encoder from the user's choice of compression and level, with one encoder
 * per (format, level) per process, so a build's layers share one gzip worker pool.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { checkLevel, fflateGzip } from './fflate.ts';
import { libdeflateGzip } from './libdeflate.ts';
import type { GzipEncoder, LayerEncoder, ZstdEncoder } from './types.ts';
import { checkZstdLevel, zstdWasm } from './zstd.ts';

/** The formats a layer encoder writes (the compressions a new layer can have). */
export type EncoderFormat = 'gzip' | 'zstd';

/**
 * The default gzip encoder: libdeflate (WebAssembly) at level 6 in 1 MiB blocks, one gzip member
 * each ({@link libdeflateGzip}); identical bytes on every Node version and CPU. It needs
 * WebAssembly: where that is missing, choose {@link fflateGzip} explicitly.
 * @category Layers
 */
export const defaultGzipEncoder: GzipEncoder = libdeflateGzip({ level: 6 });

/**
 * The default zstd encoder: level 3, 4 MiB frames, identical bytes on every Node version and CPU.
 * @category Layers
 */
export const defaultZstdEncoder: ZstdEncoder = zstdWasm();

const made = new Map<string, LayerEncoder>([
  ['gzip/6', defaultGzipEncoder],
  [`zstd/${defaultZstdEncoder.level}`, defaultZstdEncoder],
]);

/** The format of an encoder (`gzip` when it does not say). */
export function encoderFormat(encoder: LayerEncoder): EncoderFormat {
  return encoder.format === 'zstd' ? 'zstd' : 'gzip';
}

/**
 * The encoder for new layers. `encoder`, when given, is used as it is: `compression` and
 * `level`, when also given, must agree with it. Otherwise the default encoder of `compression`
 * (default gzip) at `level` (gzip 0-9, default 6; zstd 1-19, default 3). A mismatch or a level
 * out of range throws `ERR_INVALID_ARGUMENT` naming `what` (a flag or an option).
 */
export function layerEncoder(choice: { compression?: EncoderFormat | undefined; level?: number | undefined; encoder?: LayerEncoder | undefined }, what = 'compression'): LayerEncoder {
  const { compression, level, encoder } = choice;
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
    throw new InvalidArgumentError(`${what} must be "gzip" or "zstd", got ${JSON.stringify(compression)}`);
  }
  if (encoder !== undefined) {
    const format = encoderFormat(encoder);
    if (compression !== undefined && compression !== format) {
      throw new InvalidArgumentError(`${what} is "${compression}" but the encoder given writes ${format}`);
    }
    if (level !== undefined && level !== encoder.level) {
      throw new InvalidArgumentError(`compression level ${level} differs from the level of the encoder given (${encoder.level})`);
    }
    return encoder;
  }
  const format = compression ?? 'gzip';
  const chosen = level ?? (format === 'zstd' ? defaultZstdEncoder.level : defaultGzipEncoder.level);
  const key = `${format}/${chosen}`;
  const known = made.get(key);
  if (known !== undefined) return known;
  if (format === 'zstd') checkZstdLevel(chosen);
  else checkLevel(chosen);
  const fresh = format === 'zstd' ? zstdWasm({ level: chosen }) : libdeflateGzip({ level: chosen });
  made.set(key, fresh);
  return fresh;
}

