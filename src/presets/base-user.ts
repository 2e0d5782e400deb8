/**
 * The users of a base image: its config's `User` and the accounts in its /etc/passwd, read
 * from the layers (top first) through the cache when there is one.
 * @module
 */
import { hostPlatform, normalizePlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { basePlatforms, resolveBase } from '../build/base.ts';
import { openSource, type TransportOptions } from '../build/targets.ts';
import { openCache, type CacheOptions } from '../cache/store.ts';
import { cachedSource } from '../cache/source.ts';
import { parsePasswd, readImageFile, type PasswdUser } from './passwd.ts';

/** What {@link baseUsers} found. */
export interface BaseUsers {
  /** The accounts of /etc/passwd; undefined when the image has none. */
  users: PasswdUser[] | undefined;
  /** The base config's `User`, when set. */
  configUser: string | undefined;
}

/** Options of {@link baseUsers}. */
export interface BaseUsersOptions extends TransportOptions {
  /** Platforms of the build: the first one's base manifest is read. */
  platforms?: string[] | 'all';
  /** Cache (default on); `false` reads straight from the source. */
  cache?: CacheOptions | false;
  /** Read from the cache only. */
  offline?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
}

/** Reads the users of the base image `from` (for one platform: the build's first, else the host's). */
export async function baseUsers(from: string, options: BaseUsersOptions = {}): Promise<BaseUsers> {
  const opened = openSource(from, options);
  let transport = opened.transport;
  if (options.cache !== false) {
    const cache = await openCache(options.cache ?? {});
    transport = cachedSource(transport, cache, { offline: options.offline ?? false, name: from });
  }
  const signal = options.signal ? { signal: options.signal } : {};
  try {
    let platform: Platform | undefined;
    if (Array.isArray(options.platforms) && options.platforms[0] !== undefined) {
      platform = normalizePlatform(parsePlatform(options.platforms[0]));
    } else {
      const available = await basePlatforms(transport, opened.reference, signal);
      const host = normalizePlatform({ os: 'linux', architecture: hostPlatform().architecture });
      platform = available.find((p) => platformMatches(host, p)) ?? available[0];
    }
    const base = await resolveBase(transport, opened.reference, platform, signal);
    const passwd = await readImageFile(transport, base.layers.map((l) => l.descriptor), '/etc/passwd', signal);
    const configUser = base.config.config?.User;
    return {
      users: passwd === undefined ? undefined : parsePasswd(new TextDecoder().decode(passwd)),
      configUser: configUser === undefined || configUser === '' ? undefined : configUser,
    };
  } finally {
    await transport.close?.();
  }
}
