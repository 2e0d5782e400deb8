/**
 * What a manifest holds, for the checks destinations need: an image or an OCI artifact (a
 * manifest whose config is not an image config), compressed how, with foreign layers or not.
 * Pure functions over descriptors.
 * @module
 */
import { DOCKER_CONFIG, DOCKER_LAYER_FOREIGN, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER_NONDIST_GZIP } from '../oci/mediatypes.ts';
import type { Descriptor, ImageManifest } from '../oci/types.ts';

/** Config media types of container images (OCI and Docker v2.2). */
const IMAGE_CONFIG_TYPES: readonly string[] = [OCI_CONFIG, DOCKER_CONFIG];

/**
 * The artifact type of a manifest that is not a container image (OCI image-spec 1.1: its
 * `artifactType`, else its config's media type), or undefined for an image.
 */
export function artifactTypeOf(manifest: ImageManifest): string | undefined {
  if (IMAGE_CONFIG_TYPES.includes(manifest.config.mediaType)) return undefined;
  return manifest.artifactType ?? manifest.config.mediaType;
}

/** True for a zstd-compressed layer (`+zstd`, including `zstd:chunked`, which keeps the media type). */
export function isZstdLayer(descriptor: Descriptor): boolean {
  return descriptor.mediaType.endsWith('+zstd');
}

/** True for a layer that is not distributed with the image: fetched from its `urls` (Windows base layers). */
export function isForeignLayer(descriptor: Descriptor): boolean {
  return (descriptor.mediaType === DOCKER_LAYER_FOREIGN || descriptor.mediaType === OCI_LAYER_NONDIST_GZIP) && (descriptor.urls?.length ?? 0) > 0;
}

/**
 * Why a Docker v2.2 manifest cannot hold these layers, or undefined: Docker's schema has no zstd
 * layer type, and Docker engines before 23 cannot read one. Writers refuse rather than label
 * zstd bytes with a Docker manifest.
 */
export function dockerLayersProblem(layers: readonly Descriptor[]): string | undefined {
  const zstd = layers.find(isZstdLayer);
  if (zstd === undefined) return undefined;
  return `layer ${zstd.digest} is zstd-compressed (${zstd.mediaType}), which a Docker v2.2 manifest cannot hold; keep the OCI format or recompress the layer with gzip`;
}

/** True when `mediaType` is a Docker v2.2 single-image manifest. */
export function isDockerManifest(mediaType: string): boolean {
  return mediaType === DOCKER_MANIFEST;
}
