/**
 * The compression of a build's new layers: the encoder chosen from `compression`,
 * `compressionLevel` and `encoder`, and the check, before any work, that every target can hold
 * it (a Docker v2.2 manifest has no zstd layer type, and `docker load` reads gzip only).
 * @module
 */
import { encoderFormat, layerEncoder } from '../compress/choose.ts';
import type { LayerEncoder } from '../compress/types.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { Destination } from './targets.ts';

/** The options that choose the compression (a subset of `BuildOptions`). */
export interface CompressionChoice {
  /** `gzip` (default) or `zstd`. */
  compression?: 'gzip' | 'zstd';
  /** Level: gzip 0-9 (default 6), zstd 1-19 (default 3). */
  compressionLevel?: number;
  /** An encoder object; `compression` and `compressionLevel`, when also given, must agree with it. */
  encoder?: LayerEncoder;
  /** Manifest format. */
  format?: 'oci' | 'docker';
}

/** The encoder of a build's new layers (one object per format and level, shared across builds). */
export function buildEncoder(options: CompressionChoice): LayerEncoder {
  return layerEncoder({ compression: options.compression, level: options.compressionLevel, encoder: options.encoder }, 'compression');
}

/**
 * Refuses zstd layers where they cannot go, naming the option and the target: `format:
 * 'docker'` (Docker v2.2 manifests have no zstd layer type; BuildKit and podman refuse the same
 * combination) and `docker-archive:` targets. Throws `ERR_INVALID_ARGUMENT`.
 */
export function assertCompressionFitsTargets(encoder: LayerEncoder, format: 'oci' | 'docker', destinations: readonly Destination[]): void {
  if (encoderFormat(encoder) !== 'zstd') return;
  if (format === 'docker') {
    throw new InvalidArgumentError(
      'compression "zstd" (--compression zstd) needs OCI manifests, but the format is "docker" (--format docker): a Docker v2.2 manifest has no zstd layer type; use --format oci or --compression gzip',
    );
  }
  const archive = destinations.find((d) => d.parsed.kind === 'docker-archive');
  if (archive !== undefined) {
    throw new InvalidArgumentError(
      `compression "zstd" (--compression zstd) cannot be written to ${archive.target}: docker load reads gzip or uncompressed layers only; write it to a registry or an oci: layout, or use --compression gzip`,
    );
  }
}
