/**
 * Resolving the base image of a build: `scratch`, or an {@link Image} (possibly chosen from an
 * index) read from any transport through {@link openImage}. Base layers stay lazy: only the
 * manifest(s) and config are read here.
 * @module
 */
import type { ImageConfig, Platform } from '../oci/types.ts';
import type { Image } from '../image/model.ts';
import { emptyConfig, emptyImage } from '../image/mutate.ts';
import { configPlatform, imagePlatforms, openImage } from '../image/open.ts';
import { formatPlatform, platformKey } from '../oci/platform.ts';
import type { OperationOptions, Transport } from '../transports/types.ts';

/** A fresh config for `FROM scratch` on `platform`. */
export function scratchConfig(platform: Platform): ImageConfig {
  return emptyConfig(platform);
}

/** The base for `scratch`: the empty image. */
export function scratchBase(platform: Platform): Image {
  return emptyImage(platform);
}

/** Lists the platforms of the image `reference` names (one entry for a single manifest, none when its config leaves the platform empty). */
export async function basePlatforms(transport: Transport, reference: string | undefined, options: OperationOptions = {}): Promise<Platform[]> {
  return imagePlatforms(transport, reference ?? '', { signal: options.signal });
}

/**
 * Opens the image `reference` names in `transport`; from an index, the child for `platform`.
 * A single manifest is used whatever its platform (as Docker does for untagged bases).
 */
export async function resolveBase(transport: Transport, reference: string | undefined, platform: Platform | undefined, options: OperationOptions = {}): Promise<Image> {
  return openImage(transport, reference ?? '', { platform, signal: options.signal });
}

/** What a base's name resolved to, for `org.opencontainers.image.base.digest`: the index it was chosen from, else its manifest. */
export function baseDigest(image: Image): string {
  return image.index?.digest ?? image.descriptor.digest;
}

/**
 * BuildKit's InvalidBaseImagePlatform warning: the text when the base a build resolved for
 * `wanted` says another platform in its config (a single-platform base used for another
 * platform: `--platform linux/arm64` on an amd64-only image), else undefined. The build goes on,
 * as BuildKit's does; the image's binaries may not run on `wanted`.
 */
export function basePlatformWarning(resolved: Pick<Image, 'config'>, wanted: Platform, from: string): string | undefined {
  const actual = configPlatform(resolved);
  if (actual === undefined || platformKey(actual) === platformKey(wanted)) return undefined;
  return `the base ${from} is ${formatPlatform(actual)}, not ${formatPlatform(wanted)}: the ${formatPlatform(wanted)} image is built on it, and what it runs may not start there (InvalidBaseImagePlatform)`;
}
