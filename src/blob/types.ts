/**
 * Blob stream types shared by every layer above: the retryable body factory, per-operation
 * options, and where a blob can be mounted from.
 * @module
 */

/**
 * A factory of the bytes of a blob. Called again to retry, so it MUST start from the first byte each time.
 * @category Images
 */
export type BlobBody = () => AsyncIterable<Uint8Array>;

/**
 * Options every transport operation takes.
 * @category Images
 */
export interface OperationOptions {
  /** Aborts the operation. */
  signal?: AbortSignal;
  /** Called with bytes transferred so far (blob operations). */
  onProgress?: (bytes: number) => void;
}

/**
 * Where a blob can be mounted from (same registry, another repository).
 * @category Images
 */
export interface BlobOrigin {
  /** Registry host as in references (`localhost:5000`, `docker.io`). */
  registry: string;
  /** Repository path (`library/busybox`). */
  repository: string;
}
