/**
 * Filling the cache ahead of a build (the kaniko warmer's job): manifests, configs and layers
 * of base images, so a later build can run with `offline: true`. The walk is the image model's
 * (`openReference`); every blob is read through the caching source.
 * @module
 */
import { formatPlatform, normalizePlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { openReference, type ImageSource, type OpenedReference } from '../image/open.ts';
import { readAll } from '../image/verify.ts';
import type { Transport } from '../transports/types.ts';
import { cachedSource } from './source.ts';
import type { LocalCache } from './store.ts';

/**
 * Options of {@link warmCache}.
 * @category Cache
 */
export interface WarmCacheOptions {
  /** Platforms to fetch from an index (`linux/amd64`), or `'all'` (default). */
  platforms?: readonly string[] | 'all';
  /** Aborts. */
  signal?: AbortSignal;
  /** Called after each blob is stored, with whether it was already there. */
  onBlob?: (descriptor: Descriptor, alreadyCached: boolean) => void;
}

/**
 * What {@link warmCache} stored.
 * @category Cache
 */
export interface WarmResult {
  /** Digest `reference` resolved to. */
  digest: string;
  /** Platforms fetched (`linux/amd64`); one entry for a single manifest. */
  platforms: string[];
  /** Blobs stored now. */
  blobsFetched: number;
  /** Blobs that were already in the cache. */
  blobsCached: number;
  /** Bytes of the blobs stored now. */
  bytesFetched: number;
}

/**
 * Reads `reference` of `source` (tag or digest) and stores its manifest(s), config(s) and
 * layers in `cache`, recording the tag under `name` (use the same name the build uses for
 * `from`, e.g. the `from` string). `source` is left open.
 * @example
 * ```ts
 * import { createSession, openCache, warmCache } from 'ocibuild';
 *
 * const cache = await openCache();
 * await using session = createSession();
 * const source = session.openSource('registry.example/base/node:22');
 * try {
 *   const warmed = await warmCache(source.transport, source.reference ?? '', source.name, cache, { platforms: ['linux/amd64'] });
 *   console.log(`${warmed.blobsFetched} blobs fetched, ${warmed.blobsCached} already cached`);
 * } finally {
 *   await source.transport.close?.();
 * }
 * ```
 * @category Cache
 */
export async function warmCache(source: Transport, reference: string, name: string, cache: LocalCache, options: WarmCacheOptions = {}): Promise<WarmResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  const cached = cachedSource(source, cache, { name, closeInner: false });
  // Opening an image reads its config through the cache: remember what was there before, so
  // the counts say what this call fetched.
  const before = new Map<string, boolean>();
  const reading: ImageSource = {
    description: cached.description,
    getManifest: (ref, o) => cached.getManifest(ref, o),
    getBlob: async (d, o) => {
      if (!before.has(d.digest)) before.set(d.digest, await cache.hasBlob(d.digest, d.size));
      return cached.getBlob(d, o);
    },
  };
  const top = await openReference(reading, reference, signal);
  const children: { opened: OpenedReference; platform: string }[] = [];
  if (top.kind === 'index') {
    const wanted = options.platforms === undefined || options.platforms === 'all' ? 'all' : options.platforms.map((p) => normalizePlatform(parsePlatform(p)));
    for (const d of top.index.index.manifests) {
      if (d.platform === undefined) continue;
      if (wanted !== 'all' && !wanted.some((p) => platformMatches(p, d.platform as Platform))) continue;
      children.push({ opened: await top.index.open(d, signal), platform: formatPlatform(d.platform) });
    }
  } else {
    children.push({ opened: top, platform: '' });
  }
  const digest = top.kind === 'index' ? top.index.descriptor.digest : top.kind === 'image' ? top.image.descriptor.digest : top.rawManifest.digest;
  const result: WarmResult = { digest, platforms: [], blobsFetched: 0, blobsCached: 0, bytesFetched: 0 };
  for (const { opened, platform } of children) {
    if (opened.kind === 'index') continue;
    const manifest = opened.kind === 'image' ? opened.image.manifest : opened.manifest;
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (blob.urls !== undefined && blob.urls.length > 0) continue; // foreign layers are not distributed
      const already = before.get(blob.digest) ?? (await cache.hasBlob(blob.digest, blob.size));
      if (!already) {
        if (!(await cache.hasBlob(blob.digest, blob.size))) for await (const _ of await cached.getBlob(blob, signal)) void _;
        result.blobsFetched++;
        result.bytesFetched += blob.size;
      } else {
        result.blobsCached++;
      }
      options.onBlob?.(blob, already);
    }
    if (platform === '') {
      const config = opened.kind === 'image' ? opened.image.config : (JSON.parse(new TextDecoder().decode(await readAll(await cached.getBlob(manifest.config)))) as Platform);
      result.platforms.push(formatPlatform(normalizePlatform({ os: config.os, architecture: config.architecture, variant: config.variant })));
    } else {
      result.platforms.push(platform);
    }
  }
  return result;
}
