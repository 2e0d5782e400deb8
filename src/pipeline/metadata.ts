/**
 * Build metadata for CI, in the keys `docker buildx build --metadata-file` writes, so scripts
 * written for buildx read ocibuild's file unchanged; ocibuild adds the digest per target.
 * @module
 */

/**
 * The metadata of one build (`--metadata-file`), BuildKit's keys plus `ocibuild.targets`.
 * @category Build
 */
export interface BuildMetadata {
  /** Digest of the manifest or index written (`containerimage.digest` of buildx). */
  'containerimage.digest': string;
  /** Descriptor of that document. */
  'containerimage.descriptor': { mediaType: string; digest: string; size: number };
  /** Digest of the image config (first platform's when an index was built). */
  'containerimage.config.digest': string;
  /** The targets written, comma-separated, as buildx lists image names. */
  'image.name': string;
  /** Each target and the digest it holds (they differ for a Docker-format build with an `oci:` target). */
  'ocibuild.targets': { ref: string; digest: string }[];
}

/**
 * Builds the metadata object from a build's outcome (pure).
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { buildImage, buildMetadata } from 'ocibuild';
 *
 * const result = await buildImage({ from: 'registry.example/base:1', to: 'registry.example/app:1' });
 * await writeFile('metadata.json', JSON.stringify(buildMetadata(result), null, 2));
 * ```
 * @category Build
 */
export function buildMetadata(result: {
  digest: string;
  mediaType: string;
  size: number;
  manifest: { config: { digest: string } };
  targets: readonly { ref: string; digest: string }[];
}): BuildMetadata {
  return {
    'containerimage.digest': result.digest,
    'containerimage.descriptor': { mediaType: result.mediaType, digest: result.digest, size: result.size },
    'containerimage.config.digest': result.manifest.config.digest,
    'image.name': result.targets.map((t) => t.ref).join(','),
    'ocibuild.targets': result.targets.map((t) => ({ ref: t.ref, digest: t.digest })),
  };
}
