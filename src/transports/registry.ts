/**
 * The registry transport: a `Transport` bound to one repository of one registry, on top of a
 * shared {@link RegistryClient}.
 * @module
 */
import { RegistryError } from '../errors.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import { parseReference, type Reference } from '../reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { BlobBody, BlobOrigin, OperationOptions, Transport } from './types.ts';

/**
 * The transport contract says "absent" is `ERR_NOT_FOUND`; the client says
 * `ERR_REGISTRY_NOT_FOUND`. Keep status, codes and URL, change the code.
 */
function notFound(error: unknown): unknown {
  if (error instanceof RegistryError && error.code === 'ERR_REGISTRY_NOT_FOUND') {
    return new RegistryError('ERR_NOT_FOUND', error.message, {
      status: error.status,
      registryCodes: error.registryCodes,
      url: error.url,
      cause: error,
    });
  }
  return error;
}

function signalOf(options: OperationOptions | undefined): { signal?: AbortSignal } {
  return { signal: options?.signal };
}

/**
 * Opens the repository `ref` names (`host/repo[:tag]`, `docker://` accepted; the tag or digest is
 * ignored: callers pass references to each method) as a transport over `client`. Closing the
 * transport leaves the shared client open.
 */
export function registryTransport(ref: Reference | string, client: RegistryClient): Transport {
  const reference = typeof ref === 'string' ? parseReference(ref) : ref;
  const repo: BlobOrigin = { registry: reference.registry, repository: reference.repository };
  return {
    description: `docker://${reference.registry}/${reference.repository}`,
    origin: repo,
    async getManifest(tagOrDigest: string, options?: OperationOptions): Promise<RawManifest> {
      try {
        return await client.getManifest(repo, tagOrDigest, signalOf(options));
      } catch (error) {
        throw notFound(error);
      }
    },
    async putManifest(manifest: RawManifest, tag: string | undefined, options?: OperationOptions): Promise<void> {
      await client.putManifest(repo, manifest, tag, signalOf(options));
    },
    hasBlob(descriptor: Descriptor, options?: OperationOptions): Promise<boolean> {
      return client.hasBlob(repo, descriptor.digest, signalOf(options));
    },
    async getBlob(descriptor: Descriptor, options?: OperationOptions): Promise<AsyncIterable<Uint8Array>> {
      try {
        return await client.getBlob(repo, descriptor, { signal: options?.signal, onProgress: options?.onProgress });
      } catch (error) {
        throw notFound(error);
      }
    },
    async putBlob(descriptor: Descriptor, body: BlobBody, options?: OperationOptions): Promise<void> {
      await client.putBlob(repo, descriptor, body, { signal: options?.signal, onProgress: options?.onProgress });
    },
    async mountBlob(descriptor: Descriptor, from: BlobOrigin, options?: OperationOptions): Promise<boolean> {
      if (from.registry !== repo.registry || from.repository === repo.repository) return false;
      return client.mountBlob(repo, descriptor, from.repository, signalOf(options));
    },
    async listReferrers(digest: string, options?: OperationOptions & { artifactType?: string }): Promise<Descriptor[]> {
      return client.listReferrers(repo, digest, { signal: options?.signal, artifactType: options?.artifactType });
    },
    async close(): Promise<void> {
      // The client is shared; nothing of ours to release.
    },
  };
}
