/**
 * What a Node app needs to know about its base image, per platform, read from the base's
 * config and the names in its layers (file contents are never read): the C library (glibc
 * or musl, for native packages), where `node` is on the base's PATH (an entrypoint that
 * works without a shell, as on distroless bases), and whether `/bin/sh` exists. Layers are
 * read through the cache, so a base is downloaded once.
 * @module
 */
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import * as path from 'node:path';
import { defaultGzipDecoder } from '../compress/index.ts';
import { openLayerBlob, openLayerTar } from '../layer/decode.ts';
import { basePlatforms, resolveBase } from '../pipeline/base.ts';
import type { OpenedSource, TransportOptions } from '../pipeline/targets.ts';
import { withSession } from '../pipeline/session.ts';
import { openCache, type CacheOptions } from '../cache/store.ts';
import { cachedSource } from '../cache/source.ts';
import { hostPlatform, normalizePlatform, parsePlatform, platformKey } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import type { Transport } from '../transports/types.ts';
import type { Libc } from './npm-platform.ts';

/** What {@link scanBase} found for one platform. */
export interface BasePlatformFacts {
  /** The platform. */
  platform: Platform;
  /** The C library: musl when a musl loader is present, glibc when a glibc loader or libc.so.6 is; else undefined. */
  libc: Libc | undefined;
  /** Absolute path of the first `node` on the base's PATH, when there is one. */
  node: string | undefined;
  /** True when `/bin/sh` exists. */
  shell: boolean;
  /** The base config's Entrypoint. */
  entrypoint: string[] | undefined;
}

/** Options of {@link scanBase}. */
export interface ScanBaseOptions extends TransportOptions {
  /** Platforms of the build (as `buildImage` takes them). */
  platforms?: readonly string[] | 'all';
  /** Cache (default on); `false` reads straight from the source. */
  cache?: CacheOptions | false;
  /** Read from the cache only. */
  offline?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
  /** Look at layer names (libc, node, shell); false reads the configs only. Default true. */
  layers?: boolean;
}

const MUSL = /^(usr\/)?lib\/ld-musl-[^/]+\.so\.1$/;
const GLIBC = /^(usr\/)?lib(64|32)?\/([^/]+-linux-gnu[^/]*\/)?(ld-linux[^/]*\.so\.\d+|libc\.so\.6)$/;

function normalize(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  return n.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** The platforms `buildImage` will build, chosen by its rules (explicit list, `all`, the base's only one, else the host's). */
export async function buildPlatforms(transport: Transport, reference: string | undefined, requested: readonly string[] | 'all' | undefined, signal: { signal?: AbortSignal }): Promise<Platform[]> {
  if (requested === 'all') return basePlatforms(transport, reference, signal);
  if (requested !== undefined && requested.length > 0) {
    const seen = new Map<string, Platform>();
    for (const p of requested) {
      const platform = normalizePlatform(parsePlatform(p));
      if (!seen.has(platformKey(platform))) seen.set(platformKey(platform), platform);
    }
    return [...seen.values()];
  }
  const available = await basePlatforms(transport, reference, signal);
  if (available.length === 1) return available;
  return [{ os: 'linux', architecture: hostPlatform().architecture }];
}

/**
 * Reads the facts of base image `from` for every platform of the build. For `scratch`, every
 * platform has no libc, no node and no shell.
 */
export async function scanBase(from: string, options: ScanBaseOptions = {}): Promise<BasePlatformFacts[]> {
  if (from === 'scratch') return scratchFacts(options);
  return withSession(options, (session) => scanOpened(from, session.openSource(from), options));
}

function scratchFacts(options: ScanBaseOptions): BasePlatformFacts[] {
  const requested = options.platforms;
  const list = Array.isArray(requested) && requested.length > 0 ? requested.map((p) => normalizePlatform(parsePlatform(p))) : [{ os: 'linux', architecture: hostPlatform().architecture }];
  return list.map((platform) => ({ platform, libc: undefined, node: undefined, shell: false, entrypoint: undefined }));
}

async function scanOpened(from: string, opened: OpenedSource, options: ScanBaseOptions): Promise<BasePlatformFacts[]> {
  let transport = opened.transport;
  if (options.cache !== false) {
    const cache = await openCache(options.cache ?? {});
    transport = cachedSource(transport, cache, { offline: options.offline ?? false, name: from });
  }
  const signal = options.signal ? { signal: options.signal } : {};
  try {
    const facts: BasePlatformFacts[] = [];
    for (const platform of await buildPlatforms(transport, opened.reference, options.platforms, signal)) {
      const base = await resolveBase(transport, opened.reference, platform, signal);
      const env = base.config.config?.Env ?? [];
      const pathValue = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
      const pathDirs = pathValue.split(':').filter((d) => d.startsWith('/')).map((d) => normalize(d));
      const entrypoint = base.config.config?.Entrypoint ?? undefined;
      if (options.layers === false) {
        facts.push({ platform, libc: undefined, node: undefined, shell: false, entrypoint });
        continue;
      }
      const names = await layerNames(transport, base.layers.map((l) => l.descriptor), signal);
      const libc = [...names].some((n) => MUSL.test(n)) ? 'musl' : [...names].some((n) => GLIBC.test(n)) ? 'glibc' : undefined;
      const nodeDir = pathDirs.find((d) => names.has(d === '' ? 'node' : `${d}/node`));
      facts.push({
        platform,
        libc,
        node: nodeDir === undefined ? undefined : path.posix.join('/', nodeDir, 'node'),
        shell: names.has('bin/sh') || names.has('usr/bin/sh'),
        entrypoint,
      });
    }
    return facts;
  } finally {
    await transport.close?.();
  }
}

/**
 * Every path present in the merged view of `layers` (bottom first): names added by a layer,
 * minus those a later layer's whiteout removes. Symlinked directories are not followed, so a
 * merged-/usr base lists its loader under `usr/lib`; the patterns accept both.
 */
async function layerNames(transport: Transport, layers: readonly Descriptor[], signal: { signal?: AbortSignal }): Promise<Set<string>> {
  const names = new Set<string>();
  for (const descriptor of layers) {
    const blob = await openLayerBlob(descriptor, () => transport.getBlob(descriptor, signal), { ...signal, source: transport.description });
    const extract = tar.extract();
    const input = Readable.from(openLayerTar(descriptor, blob, { gzip: defaultGzipDecoder }), { objectMode: false });
    input.on('error', (error) => extract.destroy(error));
    input.pipe(extract);
    try {
      for await (const entry of extract) {
        const name = normalize(entry.header.name);
        const base = name.slice(name.lastIndexOf('/') + 1);
        if (base === '.wh..wh..opq') {
          const dir = name.slice(0, name.lastIndexOf('/'));
          for (const n of names) if (n.startsWith(`${dir}/`)) names.delete(n);
        } else if (base.startsWith('.wh.')) {
          const gone = `${name.slice(0, name.lastIndexOf('/') + 1)}${base.slice(4)}`;
          names.delete(gone);
          for (const n of names) if (n.startsWith(`${gone}/`)) names.delete(n);
        } else {
          names.add(name);
        }
        entry.resume();
      }
    } finally {
      input.unpipe(extract);
      input.destroy();
      extract.destroy();
    }
  }
  return names;
}
