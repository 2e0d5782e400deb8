/**
 * A read-through caching wrapper around a base image's transport. Manifests and blobs that
 * are read go into the local cache; offline, everything comes from the cache and the inner
 * transport is never called. Blobs are still read only when someone asks for them, so base
 * layers stay lazy (a push to a registry that has them or can mount them reads nothing).
 * Capabilities pass through: `listReferrers` and `commit` (online only) and the inner transport's
 * {@link TransportCapabilities} flags.
 * @module
 */
import { NotFoundError, OcibuildError } from '../errors.ts';
import { isDigest } from '../oci/digest.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import type { BlobBody, OperationOptions, Transport, TransportCapabilities } from '../transports/types.ts';
import type { LocalCache } from './store.ts';

/** Options of {@link cachedSource}. */
export interface CachedSourceOptions {
  /** Never call the inner transport: answer from the cache or fail with `ERR_NOT_FOUND`. */
  offline?: boolean;
  /** Name tags are recorded under (default the inner transport's description). */
  name?: string;
  /** Close the inner transport on `close()` (default true). */
  closeInner?: boolean;
}

/** The cache references (`dir NUL name NUL tag`) each manifest object read by tag was stored under. */
const storedTags = new WeakMap<RawManifest, Set<string>>();

/**
 * Wraps `inner` so reads are served from and stored in `cache`. Online, a tag is always
 * resolved by `inner` (tags move), while anything named by digest is served from the cache
 * when present. Writes pass through to `inner` unchanged.
 */
export function cachedSource(inner: Transport, cache: LocalCache, options: CachedSourceOptions = {}): Transport {
  const offline = options.offline ?? false;
  const name = options.name ?? inner.description;
  const description = offline ? `${inner.description} (offline, from cache ${cache.dir})` : inner.description;

  const missing = (what: string): OcibuildError =>
    new NotFoundError(`${what} of ${inner.description} is not in the cache ${cache.dir} and the build is offline (run \`ocibuild warm\` first)`);

  async function getManifest(reference: string, opts: OperationOptions = {}): Promise<RawManifest> {
    if (isDigest(reference)) {
      const stored = await cache.getManifest(reference);
      if (stored !== undefined) return stored;
      if (offline) throw missing(`manifest ${reference}`);
      const fetched = await inner.getManifest(reference, opts);
      await cache.putManifest(fetched);
      return fetched;
    }
    if (offline) {
      const ref = await cache.getReference(name, reference);
      const stored = ref === undefined ? undefined : await cache.getManifest(ref.digest);
      if (stored === undefined) throw missing(`manifest ${JSON.stringify(reference)}`);
      return stored;
    }
    const fetched = await inner.getManifest(reference, opts);
    // A session reads a tag once and hands every later caller the same manifest object
    // (pipeline/targets.ts), through this wrapper or another over the same cache: stored once.
    const key = `${cache.dir}\0${name}\0${reference}`;
    const stored = storedTags.get(fetched);
    if (stored?.has(key) !== true) {
      await cache.putManifest(fetched);
      await cache.putReference(name, reference, fetched);
      if (stored === undefined) storedTags.set(fetched, new Set([key]));
      else stored.add(key);
    }
    return fetched;
  }

  async function getBlob(descriptor: Descriptor, opts: OperationOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    if (await cache.hasBlob(descriptor.digest, descriptor.size)) {
      try {
        return await cache.openBlob(descriptor, opts);
      } catch (error) {
        if (!(error instanceof OcibuildError && error.code === 'ERR_NOT_FOUND')) throw error;
      }
    }
    if (offline) throw missing(`blob ${descriptor.digest}`);
    // Fill the cache first, then stream from it: the bytes are verified once on the way in,
    // and a failed download leaves nothing behind.
    await cache.putBlob(descriptor, teeBody(inner, descriptor, opts), { signal: opts.signal });
    return cache.openBlob(descriptor, opts);
  }

  const transport: Transport = {
    description,
    // Writes go to the inner transport, so what it can hold is what this one can.
    acceptsIndex: inner.acceptsIndex,
    acceptsArtifacts: inner.acceptsArtifacts,
    acceptsZstd: inner.acceptsZstd,
    needsForeignLayers: inner.needsForeignLayers,
    getManifest,
    getBlob,
    async hasBlob(descriptor, opts) {
      if (await cache.hasBlob(descriptor.digest, descriptor.size)) return true;
      if (offline) return false;
      return inner.hasBlob(descriptor, opts);
    },
    async putManifest(manifest, reference, opts) {
      if (offline) throw new OcibuildError('ERR_UNSUPPORTED', `${description}: cannot write while offline`);
      return inner.putManifest(manifest, reference, opts);
    },
    async putBlob(descriptor, body, opts) {
      if (offline) throw new OcibuildError('ERR_UNSUPPORTED', `${description}: cannot write while offline`);
      return inner.putBlob(descriptor, body, opts);
    },
    async close() {
      if (options.closeInner !== false) await inner.close?.();
    },
  };
  // Referrers are asked of the inner transport every time (new signatures appear under an
  // unchanged digest); offline there is no one to ask, so the capability is not declared.
  const innerReferrers = inner.listReferrers;
  const innerCommit = inner.commit;
  // Writes to a staging transport become visible when it commits.
  if (innerCommit !== undefined && !offline) transport.commit = (opts) => innerCommit.call(inner, opts);
  if (innerReferrers !== undefined && !offline) transport.listReferrers = (digest, opts) => innerReferrers.call(inner, digest, opts);
  // Offline, no mount is attempted from the source's registry: it may be unreachable.
  if (inner.origin !== undefined && !offline) Object.defineProperty(transport, 'origin', { value: inner.origin, enumerable: true });
  return transport;
}

function teeBody(inner: Transport, descriptor: Descriptor, opts: OperationOptions): BlobBody {
  return async function* () {
    yield* await inner.getBlob(descriptor, { signal: opts.signal });
  };
}
