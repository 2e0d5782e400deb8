/**
 * The registry client: one object per set of connection settings, shared by every transport
 * that talks to registries (it holds the connection pool, auth state and transfer limits).
 * @module
 */
import type { Descriptor, RawManifest } from '../oci/types.ts';
import type { BlobBody } from '../blob/types.ts';
import { getBlob, hasBlob } from './blobs.ts';
import { RegistryHttp, type HttpOptions } from './http.ts';
import { withRetries } from './retry.ts';
import {
  getManifest,
  headManifest,
  listReferrers,
  listTags,
  type ListTagsOptions,
  type PutManifestResult,
  type ReferrersOptions,
} from './manifests.ts';
import { putManifestAndReferrers } from './referrers.ts';
import { Semaphore, type OperationContext, type RepositoryLocation, type RequestOptions, type TransferOptions } from './operation.ts';
import { mountBlob, putBlob, type PutBlobOptions, type PutBlobResult } from './uploads.ts';

/**
 * Options of {@link createRegistryClient}.
 * @category Registry
 */
export interface RegistryClientOptions extends HttpOptions {
  /**
   * Blob transfers at once per registry and direction (default 6, as skopeo's and containers/image's
   * parallel blob copies: a 5-layer image then transfers all its layers at once).
   */
  concurrency?: number;
  /** Upload blobs larger than this many bytes in chunks (PATCH); default: always one request. */
  chunkSize?: number;
}

/**
 * A Docker Registry HTTP API v2 / OCI distribution client. Every method takes an `AbortSignal`;
 * failures are `RegistryError`s (`ERR_REGISTRY_UNAUTHORIZED`, `ERR_REGISTRY_DENIED`,
 * `ERR_REGISTRY_NOT_FOUND`, `ERR_REGISTRY_TLS`, `ERR_REGISTRY`), `DigestMismatchError` or
 * `SizeMismatchError`, and `ERR_ABORTED` on abort.
 * @category Registry
 */
export interface RegistryClient {
  /** Checks that the registry answers `/v2/` and records what auth it wants. */
  ping(registry: string, options?: RequestOptions): Promise<void>;
  /** True when the repository has the blob. */
  hasBlob(repo: RepositoryLocation, digest: string, options?: RequestOptions): Promise<boolean>;
  /** Streams a blob, verified against `descriptor`; resumes dropped downloads. Consume or `return()` the stream. */
  getBlob(repo: RepositoryLocation, descriptor: Descriptor, options?: TransferOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Uploads a blob (optionally trying a mount first); retries restart from the body factory. */
  putBlob(repo: RepositoryLocation, descriptor: Descriptor, body: BlobBody | Uint8Array, options?: PutBlobOptions): Promise<PutBlobResult>;
  /** Mounts a blob from another repository of the same registry; false when the registry did not. */
  mountBlob(repo: RepositoryLocation, descriptor: Descriptor, fromRepository: string, options?: RequestOptions): Promise<boolean>;
  /** A manifest's descriptor by tag or digest, or undefined when absent. */
  headManifest(repo: RepositoryLocation, reference: string, options?: RequestOptions): Promise<Descriptor | undefined>;
  /** Pulls a manifest or index by tag or digest, digest-checked. */
  getManifest(repo: RepositoryLocation, reference: string, options?: RequestOptions): Promise<RawManifest>;
  /**
   * Pushes a manifest under a tag, or by digest when `reference` is undefined. A manifest with a
   * `subject` is also added to the subject's fallback-tag referrers index when the registry does
   * not index it itself (no `OCI-Subject` header).
   */
  putManifest(repo: RepositoryLocation, manifest: RawManifest, reference: string | undefined, options?: RequestOptions): Promise<PutManifestResult>;
  /** Lists every tag of a repository. */
  listTags(repo: RepositoryLocation, options?: ListTagsOptions): Promise<string[]>;
  /** Lists the manifests referring to `digest` (OCI 1.1 referrers, with the tag-scheme fallback). */
  listReferrers(repo: RepositoryLocation, digest: string, options?: ReferrersOptions): Promise<Descriptor[]>;
  /** Closes idle connections. The client must not be used afterwards. */
  close(): Promise<void>;
}

/** Blob transfers at once per registry and direction unless `concurrency` says otherwise. */
const DEFAULT_CONCURRENCY = 6;

/**
 * Creates a registry client.
 * @example
 * ```ts
 * import { createRegistryClient } from 'ocibuild';
 *
 * const client = createRegistryClient({ insecure: ['localhost:5000'] });
 * try {
 *   const raw = await client.getManifest({ registry: 'localhost:5000', repository: 'team/app' }, '1');
 *   console.log(raw.mediaType, raw.digest);
 * } finally {
 *   await client.close();
 * }
 * ```
 * @category Registry
 */
export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const http = new RegistryHttp(options);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const downloadSlots = new Map<string, Semaphore>();
  const uploadSlots = new Map<string, Semaphore>();
  const slots = (map: Map<string, Semaphore>, registry: string) => {
    let semaphore = map.get(registry);
    if (!semaphore) {
      semaphore = new Semaphore(concurrency);
      map.set(registry, semaphore);
    }
    return semaphore;
  };
  const ctx: OperationContext = {
    http,
    downloads: (registry) => slots(downloadSlots, registry),
    uploads: (registry) => slots(uploadSlots, registry),
    chunkSize: options.chunkSize,
    tagsSeen: new Map(),
  };
  return {
    async ping(registry, opts = {}) {
      // The one retry loop of this operation: `base` itself pings once.
      await withRetries(() => http.base(registry, opts.signal), http.retryPolicy, opts.signal);
    },
    hasBlob: (repo, digest, opts) => hasBlob(ctx, repo, digest, opts),
    getBlob: (repo, descriptor, opts) => getBlob(ctx, repo, descriptor, opts),
    putBlob: (repo, descriptor, body, opts) => putBlob(ctx, repo, descriptor, body, opts),
    mountBlob: (repo, descriptor, from, opts) => mountBlob(ctx, repo, descriptor, from, opts),
    headManifest: (repo, reference, opts) => headManifest(ctx, repo, reference, opts),
    getManifest: (repo, reference, opts) => getManifest(ctx, repo, reference, opts),
    putManifest: (repo, manifest, reference, opts) => putManifestAndReferrers(ctx, repo, manifest, reference, opts),
    listTags: (repo, opts) => listTags(ctx, repo, opts),
    listReferrers: (repo, digest, opts) => listReferrers(ctx, repo, digest, opts),
    close: () => http.close(),
  };
}
