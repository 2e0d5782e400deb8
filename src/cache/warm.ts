/**
 * Filling the cache ahead of a build (the kaniko warmer's job): manifests, configs and layers
 * of base images, so a later build can run with `offline: true`.
 * @module
 */
import { parseManifest } from '../oci/manifest.ts';
import { formatPlatform, normalizePlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import type { Transport } from '../transports/types.ts';
import { cachedSource } from './source.ts';
import type { LocalCache } from './store.ts';

/** Options of {@link warmCache}. */
export interface WarmCacheOptions {
  /** Platforms to fetch from an index (`linux/amd64`), or `'all'` (default). */
  platforms?: readonly string[] | 'all';
  /** Aborts. */
  signal?: AbortSignal;
  /** Called after each blob is stored, with whether it was already there. */
  onBlob?: (descriptor: Descriptor, alreadyCached: boolean) => void;
}

/** What {@link warmCache} stored. */
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
 */
export async function warmCache(source: Transport, reference: string, name: string, cache: LocalCache, options: WarmCacheOptions = {}): Promise<WarmResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  const cached = cachedSource(source, cache, { name, closeInner: false });
  const top = parseManifest(await cached.getManifest(reference, signal));
  const result: WarmResult = { digest: top.raw.digest, platforms: [], blobsFetched: 0, blobsCached: 0, bytesFetched: 0 };
  const manifests: { descriptor: Descriptor | undefined; platform: string }[] = [];
  if (top.kind === 'index') {
    const wanted = options.platforms === undefined || options.platforms === 'all' ? 'all' : options.platforms.map((p) => normalizePlatform(parsePlatform(p)));
    for (const d of top.index.manifests) {
      if (d.platform === undefined) continue;
      if (wanted !== 'all' && !wanted.some((p) => platformMatches(p, d.platform as Platform))) continue;
      manifests.push({ descriptor: d, platform: formatPlatform(d.platform) });
    }
  } else {
    manifests.push({ descriptor: undefined, platform: '' });
  }
  for (const { descriptor, platform } of manifests) {
    const parsed = descriptor === undefined ? top : parseManifest(await cached.getManifest(descriptor.digest, signal), descriptor.mediaType);
    if (parsed.kind !== 'manifest') continue;
    for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
      if (blob.urls !== undefined && blob.urls.length > 0) continue; // foreign layers are not distributed
      const already = await cache.hasBlob(blob.digest, blob.size);
      if (!already) {
        for await (const _ of await cached.getBlob(blob, signal)) void _;
        result.blobsFetched++;
        result.bytesFetched += blob.size;
      } else {
        result.blobsCached++;
      }
      options.onBlob?.(blob, already);
    }
    if (platform === '') {
      const config = JSON.parse(new TextDecoder().decode(await readBlob(cached, parsed.manifest.config))) as Platform & { variant?: string };
      result.platforms.push(formatPlatform(normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })));
    } else {
      result.platforms.push(platform);
    }
  }
  return result;
}

async function readBlob(transport: Transport, descriptor: Descriptor): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await transport.getBlob(descriptor)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
