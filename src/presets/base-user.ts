/**
 * The users of a base image: its config's `User` and the accounts in its /etc/passwd, read
 * from the layers (top first) through the cache when there is one.
 * @module
 */
import { createHash } from 'node:crypto';
import { hostPlatform, normalizePlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import { OcibuildError } from '../errors.ts';
import type { Image } from '../image/model.ts';
import { openReference } from '../image/open.ts';
import type { OpenedSource, TransportOptions } from '../pipeline/targets.ts';
import { withSession } from '../pipeline/session.ts';
import type { Transport } from '../transports/types.ts';
import { openCache, type CacheOptions, type LocalCache } from '../cache/store.ts';
import type { Descriptor } from '../oci/types.ts';
import { cachedSource } from '../cache/source.ts';
import { parsePasswd, readImageFile, type PasswdUser } from './passwd.ts';

/**
 * What {@link baseUsers} found.
 * @category Node
 */
export interface BaseUsers {
  /** The accounts of /etc/passwd; undefined when the image has none. */
  users: PasswdUser[] | undefined;
  /** The base config's `User`, when set. */
  configUser: string | undefined;
}

/**
 * Options of {@link baseUsers}.
 * @category Node
 */
export interface BaseUsersOptions extends TransportOptions {
  /** Platforms of the build: the first one's base manifest is read. */
  platforms?: readonly string[] | 'all';
  /** Cache (default on); `false` reads straight from the source. */
  cache?: CacheOptions | false;
  /** Read from the cache only. */
  offline?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
}

/**
 * Reads the users of the base image `from` (for one platform: the build's first, else the host's).
 * Everything it opens is closed before it returns, its own session included (a session given
 * as `options.session` stays open).
 * @example
 * ```ts
 * import { baseUsers } from 'ocibuild';
 *
 * const { users } = await baseUsers('registry.example/base/node:22');
 * const node = users?.find((u) => u.name === 'node'); // the /etc/passwd entry, when there is one
 * ```
 * @category Node
 */
export function baseUsers(from: string, options: BaseUsersOptions = {}): Promise<BaseUsers> {
  return withSession(options, (session) => readBaseUsers(from, session.openSource(from), options));
}

async function readBaseUsers(from: string, opened: OpenedSource, options: BaseUsersOptions): Promise<BaseUsers> {
  let transport = opened.transport;
  const signal = options.signal ? { signal: options.signal } : {};
  try {
    let cache: LocalCache | undefined;
    if (options.cache !== false) {
      cache = await openCache(options.cache ?? {});
      transport = cachedSource(transport, cache, { offline: options.offline ?? false, name: from });
    }
    const image = await openFor(transport, opened.reference ?? '', options.platforms, signal);
    const layers = image.layers.map((l) => l.descriptor);
    const passwd = await cachedImageFile(cache, layers, '/etc/passwd', () => readImageFile(transport, layers, '/etc/passwd', signal));
    const configUser = image.config.config?.User;
    return {
      users: passwd === undefined ? undefined : parsePasswd(new TextDecoder().decode(passwd)),
      configUser: configUser === undefined || configUser === '' ? undefined : configUser,
    };
  } finally {
    await transport.close?.();
  }
}

/** A file read from layers, as {@link cachedImageFile} keeps it. */
interface ImageFileRecord {
  /** The file's bytes in base64, absent when no layer holds it. */
  base64?: string;
}

/**
 * `read()` memoised in the cache by the layers' digests and the path (the answer depends on
 * nothing else, so it never goes stale): a rebuild does not decompress the base's layers again
 * to find /etc/passwd.
 */
async function cachedImageFile(cache: LocalCache | undefined, layers: readonly Descriptor[], filePath: string, read: () => Promise<Uint8Array | undefined>): Promise<Uint8Array | undefined> {
  if (cache === undefined) return read();
  const key = createHash('sha256').update(JSON.stringify([filePath, layers.map((l) => l.digest)])).digest('hex');
  const known = await cache.readJson<ImageFileRecord>('image-files', key);
  if (known !== undefined && known !== null && typeof known === 'object') {
    if (known.base64 === undefined) return undefined;
    if (typeof known.base64 === 'string') return new Uint8Array(Buffer.from(known.base64, 'base64'));
  }
  const bytes = await read();
  await cache.writeJson('image-files', key, bytes === undefined ? {} : { base64: Buffer.from(bytes).toString('base64') });
  return bytes;
}

/** The image for the build's first platform, else the host's, else an index's first. */
async function openFor(transport: Transport, reference: string, platforms: readonly string[] | 'all' | undefined, signal: { signal?: AbortSignal }): Promise<Image> {
  const requested = Array.isArray(platforms) && platforms[0] !== undefined ? normalizePlatform(parsePlatform(platforms[0])) : undefined;
  const top = await openReference(transport, reference, signal);
  // A single manifest is used whatever its platform (as for a build's base).
  if (top.kind === 'image') return top.image;
  if (top.kind === 'artifact') throw new OcibuildError('ERR_UNSUPPORTED', `${transport.description} is an OCI artifact (${top.artifactType}), not an image`);
  const host = normalizePlatform({ os: 'linux', architecture: hostPlatform().architecture });
  const platform = requested ?? top.index.platforms.find((p) => platformMatches(host, p)) ?? top.index.platforms[0];
  if (platform === undefined) throw new OcibuildError('ERR_INVALID_ARGUMENT', `${transport.description} is a multi-platform index: choose a platform`);
  return top.index.image(platform, signal);
}
