/**
 * The transport interface an image is read through and written to (a registry repository, an
 * OCI layout, a docker-archive tarball). Declared here, below the transports that implement it,
 * so the image model never imports an implementation.
 * @module
 */
import type { BlobBody, BlobOrigin, OperationOptions } from '../blob/types.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';

/**
 * What a destination can hold, declared by the transport (all optional: a registry holds
 * everything). The copier reads them from the {@link Transport}; nothing is duck-typed.
 * @category Images
 */
export interface TransportCapabilities {
  /** False when the transport holds single-platform images only. */
  readonly acceptsIndex?: boolean;
  /** False when it holds container images only, not OCI artifacts (a manifest whose config is not an image config). */
  readonly acceptsArtifacts?: boolean;
  /** False when it cannot hold zstd layers. */
  readonly acceptsZstd?: boolean;
  /** True when it must hold foreign layers itself: they are then fetched from their URLs. */
  readonly needsForeignLayers?: boolean;
}

/**
 * A place images are read from or written to. Optional extras (`mountBlob`, `listReferrers`,
 * `commit`, `close`) and the {@link TransportCapabilities} are declared on the transport and
 * checked at run time.
 *
 * Contracts:
 * - `getBlob` MUST verify the size and digest while streaming and throw `DigestMismatchError`
 *   or `SizeMismatchError` at the end of the stream rather than yield unverified trailing data silently.
 * - `putBlob` MUST verify the bytes against `descriptor` and never make a blob visible under a
 *   digest its bytes do not have.
 * - Callers push every blob an image references before its manifest, and index children before the index.
 * - Writing transports that stage their output (OCI layout, docker-archive) make it visible only
 *   in `commit()`; `close()` without `commit()` discards everything written.
 * @category Images
 */
export interface Transport extends TransportCapabilities {
  /** Human-readable location for messages (`oci:/tmp/out:latest`). Never contains secrets. */
  readonly description: string;
  /** Reads a manifest or index by tag or digest. Throws `OcibuildError` `ERR_NOT_FOUND` when absent. */
  getManifest(reference: string, options?: OperationOptions): Promise<RawManifest>;
  /**
   * Stores a manifest or index. `reference` is a tag to point at it; when undefined the manifest
   * is stored by digest only.
   */
  putManifest(manifest: RawManifest, reference: string | undefined, options?: OperationOptions): Promise<void>;
  /** True when the blob is present. */
  hasBlob(descriptor: Descriptor, options?: OperationOptions): Promise<boolean>;
  /** Streams a blob, verified (see the interface contract). */
  getBlob(descriptor: Descriptor, options?: OperationOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Stores a blob from a restartable body. */
  putBlob(descriptor: Descriptor, body: BlobBody, options?: OperationOptions): Promise<void>;
  /**
   * Makes a blob available by mounting it from another repository of the same registry.
   * Returns false when the registry did not mount it (the caller then uploads).
   */
  mountBlob?(descriptor: Descriptor, from: BlobOrigin, options?: OperationOptions): Promise<boolean>;
  /**
   * Lists the manifests whose `subject` is the manifest `digest` (OCI 1.1 referrers: signatures,
   * SBOMs, attestations), as descriptors carrying `artifactType` and `annotations`; only those of
   * `artifactType` when given. Declared by the transports that can answer; an absent subject or
   * no referrers gives `[]`, never `ERR_NOT_FOUND`. The order is unspecified.
   */
  listReferrers?(digest: string, options?: OperationOptions & { artifactType?: string }): Promise<Descriptor[]>;
  /** The registry and repository this transport writes to, for mount decisions. */
  readonly origin?: BlobOrigin;
  /** Makes everything written visible atomically (staged transports). */
  commit?(options?: OperationOptions): Promise<void>;
  /** Releases resources; discards uncommitted staged output. Safe to call twice. */
  close?(): Promise<void>;
}
