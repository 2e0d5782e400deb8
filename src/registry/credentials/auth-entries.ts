/**
 * Pure parsing of the credential files Docker (`config.json`) and podman/buildah (`auth.json`)
 * write: registry key normalisation and `auths` entry decoding. No I/O here.
 * @module
 */
import { OcibuildError } from '../../errors.ts';
import { DOCKER_HUB_API_HOST, DOCKER_HUB_REGISTRY as DOCKER_HUB } from '../../reference.ts';
import type { Credential } from '../types.ts';

/** The key Docker writes for Docker Hub in `auths` and sends to credential helpers. */
const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';

// Hosts that all mean Docker Hub; Docker's own config may hold any of them.
const HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', DOCKER_HUB_API_HOST, 'registry.hub.docker.com']);

/** One `auths` value as written to disk; every field is optional. */
export interface AuthEntry {
  /** base64 of `username:password`. */
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

/** The fields of `config.json` / `auth.json` that carry credentials. */
export interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/**
 * Normalises a registry host: lower case, Docker Hub aliases become `docker.io`.
 * Host names are case-insensitive (RFC 3986 section 3.2.2), so `Localhost:5000` is `localhost:5000`.
 */
function normalizeRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/**
 * Reduces a Docker `auths`/`credHelpers` key to a registry host the way Docker does
 * (`https://host/v1/`, `http://host`, `host` all mean `host`): drop the scheme, then any path.
 */
export function dockerKeyToHost(key: string): string {
  const withoutScheme = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  return normalizeRegistryHost(slash < 0 ? withoutScheme : withoutScheme.slice(0, slash));
}

/**
 * Normalises a podman `auth.json` key, which may carry a repository namespace
 * (`quay.io/org/repo`). A key with a scheme is a legacy Docker key: only its host counts,
 * as containers/image treats it.
 */
export function authFileKeyToScope(key: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(key)) return dockerKeyToHost(key);
  const trimmed = key.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  if (slash < 0) return normalizeRegistryHost(trimmed);
  return normalizeRegistryHost(trimmed.slice(0, slash)) + trimmed.slice(slash);
}

/**
 * Lists the scopes to look up for `registry` (which may be `host` or `host/repo/path`),
 * most specific first: `host/a/b`, `host/a`, `host`.
 */
export function lookupScopes(registry: string): string[] {
  const scope = authFileKeyToScope(registry);
  const scopes = [scope];
  for (let cut = scope.lastIndexOf('/'); cut > 0; cut = scope.lastIndexOf('/', cut - 1)) {
    scopes.push(scope.slice(0, cut));
  }
  return scopes;
}

/** The registry host part of a lookup (`quay.io/org/repo` → `quay.io`). */
export function hostOf(registry: string): string {
  const scope = authFileKeyToScope(registry);
  const slash = scope.indexOf('/');
  return slash < 0 ? scope : scope.slice(0, slash);
}

/** The server URL Docker hands to credential helpers for a host. */
export function helperServerUrl(host: string): string {
  return host === DOCKER_HUB ? DOCKER_HUB_SERVER_URL : host;
}

function optionalString(value: unknown, field: string, where: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new OcibuildError('ERR_CREDENTIALS', `${where}: field "${field}" must be a string`);
  }
  return value;
}

/**
 * Decodes one `auths` entry into a {@link Credential}, or undefined when it holds none (credential
 * stores leave `{}` placeholders). `where` names the file and key for errors; errors never quote values.
 * Precedence follows what a client can use directly: a registry token, then an identity token, then a password.
 */
export function decodeAuthEntry(entry: unknown, where: string): Credential | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new OcibuildError('ERR_CREDENTIALS', `${where}: entry must be an object`);
  }
  const e = entry as AuthEntry;
  const registryToken = optionalString(e.registrytoken, 'registrytoken', where);
  if (registryToken !== undefined) return { registryToken };

  let username = optionalString(e.username, 'username', where);
  let password = optionalString(e.password, 'password', where);
  const auth = optionalString(e.auth, 'auth', where);
  if (auth !== undefined) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    // Only the first colon separates: passwords and tokens may contain colons.
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new OcibuildError('ERR_CREDENTIALS', `${where}: field "auth" is not base64 of "username:password"`);
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }

  const identityToken = optionalString(e.identitytoken, 'identitytoken', where);
  if (identityToken !== undefined) {
    // Docker writes "<token>" as the user name alongside identity tokens; it is not a real user.
    return username !== undefined && username !== '' && username !== '<token>'
      ? { identityToken, username }
      : { identityToken };
  }
  if (username === undefined || username === '') return undefined;
  return { username, password: password ?? '' };
}

/**
 * Validates the top-level shape of a parsed credential file. `file` names it in errors.
 */
export function asAuthFile(parsed: unknown, file: string): AuthFile {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new OcibuildError('ERR_CREDENTIALS', `${file}: expected a JSON object`);
  }
  const p = parsed as Record<string, unknown>;
  const isObject = (v: unknown): boolean => v === undefined || (v !== null && typeof v === 'object' && !Array.isArray(v));
  if (!isObject(p.auths)) throw new OcibuildError('ERR_CREDENTIALS', `${file}: "auths" must be an object`);
  if (!isObject(p.credHelpers)) throw new OcibuildError('ERR_CREDENTIALS', `${file}: "credHelpers" must be an object`);
  if (p.credsStore !== undefined && typeof p.credsStore !== 'string') {
    throw new OcibuildError('ERR_CREDENTIALS', `${file}: "credsStore" must be a string`);
  }
  return p as AuthFile;
}

/**
 * Finds the `auths` key for `host` in a Docker config: the exact key first, then any key
 * that normalises to the same host (Docker's fallback), in file order.
 */
export function findDockerAuthKey(auths: Record<string, unknown>, host: string): string | undefined {
  const exact = host === DOCKER_HUB ? DOCKER_HUB_SERVER_URL : host;
  if (Object.hasOwn(auths, exact)) return exact;
  return Object.keys(auths).find((key) => dockerKeyToHost(key) === host);
}

/** Finds the credential helper named for `host` in `credHelpers`, matching keys like `auths` keys. */
export function findCredHelper(credHelpers: Record<string, string> | undefined, host: string): string | undefined {
  if (credHelpers === undefined) return undefined;
  const key = findDockerAuthKey(credHelpers, host);
  const name = key === undefined ? undefined : credHelpers[key];
  return typeof name === 'string' && name !== '' ? name : undefined;
}
