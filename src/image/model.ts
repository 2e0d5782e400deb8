/**
 * The image model every path reads and writes images through: an {@link Image} (one platform's
 * manifest, config and layers) and its {@link Layer}s, and a {@link PlatformIndex} of images.
 * Values are immutable: change them only with the pure functions of `mutate.ts`, which return new
 * values. Reading them from a transport is `open.ts`; this module is data only.
 * @module
 */
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform, RawManifest } from '../oci/types.ts';
import type { TarLimits } from '../layer/tar-guard.ts';
import type { BlobOrigin } from '../blob/types.ts';
import type { Transport } from './transport.ts';
import type { OpenedReference } from './open.ts';

/**
 * Options of {@link Layer.open} and {@link Layer.openUncompressed}.
 * @category Images
 */
export interface LayerOpenOptions {
  /** Aborts the read. */
  signal?: AbortSignal;
  /** Bounds on the uncompressed tar ({@link Layer.openUncompressed} only). */
  limits?: Partial<TarLimits> | undefined;
}

/**
 * One layer of an {@link Image}.
 *
 * Contracts: `open()` streams the compressed blob exactly as `descriptor` names it, verified
 * against its size and digest (a mismatch throws at the end of the stream); `openUncompressed()`
 * streams the tar, verified against `diffId` once read to its end. Both are lazy: nothing is
 * read before the stream is iterated, and each call starts from the first byte.
 * @category Images
 */
export interface Layer {
  /** Descriptor of the compressed blob as the manifest lists it. */
  readonly descriptor: Descriptor;
  /** Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  readonly diffId: string;
  /** Streams the compressed blob, verified. */
  open(options?: LayerOpenOptions): AsyncIterable<Uint8Array>;
  /** Streams the uncompressed tar, verified against {@link Layer.diffId}. */
  openUncompressed(options?: LayerOpenOptions): AsyncIterable<Uint8Array>;
  /**
   * Where the blob already lives, so a copy can read it lazily from there or mount it: the
   * transport it was read from, and/or a registry repository holding it. Undefined for a layer
   * that exists only here (a freshly written one).
   */
  readonly origin?: LayerOrigin;
}

/**
 * Where a {@link Layer}'s blob lives: a transport to read it from, a repository to mount it from, or both.
 * @category Images
 */
export type LayerOrigin = { transport: Transport } | BlobOrigin | (BlobOrigin & { transport: Transport });

/**
 * One platform's image: its manifest (exact bytes and parsed), its config and its layers.
 *
 * Invariant: `layers[i].descriptor` is `manifest.layers[i]` and `layers[i].diffId` is
 * `config.rootfs.diff_ids[i]`; `descriptor` and `rawManifest` describe the same bytes.
 * @category Images
 */
export interface Image {
  /** Descriptor of the manifest (media type, digest, size; platform when it came from an index). */
  readonly descriptor: Descriptor;
  /** The manifest's exact bytes: digests are computed over these, never a re-serialisation. */
  readonly rawManifest: RawManifest;
  /** The parsed manifest. */
  readonly manifest: ImageManifest;
  /** The parsed config. */
  readonly config: ImageConfig;
  /** The config blob's exact bytes, when they were read or encoded. */
  readonly rawConfig?: Uint8Array;
  /** The layers, bottom first. */
  readonly layers: readonly Layer[];
  /**
   * The index this image was chosen from by platform, when it was: its descriptor names what a
   * reference pointed at (for `org.opencontainers.image.base.digest`). Derived images drop it.
   */
  readonly index?: Descriptor;
}

/**
 * A multi-platform image index: its exact bytes, the parsed index, and its children by platform.
 * Children are read on demand with {@link PlatformIndex.image}.
 * @category Images
 */
export interface PlatformIndex {
  /** Descriptor of the index. */
  readonly descriptor: Descriptor;
  /** The index's exact bytes. */
  readonly rawIndex: RawManifest;
  /** The parsed index. */
  readonly index: ImageIndex;
  /** Normalised platforms of the children that name one (attestation `unknown/unknown` entries left out). */
  readonly platforms: readonly Platform[];
  /** Reads the child for `platform`; throws `ERR_NOT_FOUND` listing the platforms there are when none matches. */
  image(platform: Platform, options?: { signal?: AbortSignal }): Promise<Image>;
  /** Reads the child for `platform`, whatever it is (an image, an artifact, a nested index); `ERR_NOT_FOUND` as {@link PlatformIndex.image}. */
  child(platform: Platform, options?: { signal?: AbortSignal }): Promise<OpenedReference>;
  /** Reads the child `descriptor` names (one of `index.manifests`), whatever it is. */
  open(descriptor: Descriptor, options?: { signal?: AbortSignal }): Promise<OpenedReference>;
}

/** Descriptor of a manifest or index from its exact bytes. */
export function descriptorOf(raw: RawManifest, platform?: Platform): Descriptor {
  const descriptor: Descriptor = { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length };
  if (platform !== undefined) descriptor.platform = platform;
  return descriptor;
}
