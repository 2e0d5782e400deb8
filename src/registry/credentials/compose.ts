/**
 * Static credentials, chains of providers, and the default provider chain.
 * @module
 */
import type { Credential, CredentialProvider } from '../types.ts';
import { containersAuthCredentials } from './containers-auth.ts';
import { dockerConfigCredentials } from './docker-config.ts';
import { lookupScopes, authFileKeyToScope } from './auth-entries.ts';
import { sourcesOf, withCredentialSource, withProviderSources } from './source.ts';

/**
 * Options of {@link staticCredentials} and {@link fixedCredentials}.
 * @category Registry
 */
export interface StaticCredentialsOptions {
  /** Names these credentials in messages (`--creds`); default `static credentials`. Never put a secret here. */
  source?: string;
}

/**
 * Provides fixed credentials keyed by registry host (`localhost:5000`, `ghcr.io`), or by
 * `host/namespace` for one part of a registry. Keys are normalised like config.json keys, so
 * `https://index.docker.io/v1/` and `docker.io` are the same entry.
 * @example
 * ```ts
 * import { buildImage, staticCredentials } from 'ocibuild';
 *
 * const credentials = staticCredentials({ 'registry.example': { username: 'ci', password: process.env.REGISTRY_TOKEN ?? '' } });
 * await buildImage({ from: 'registry.example/base:1', to: 'registry.example/app:1', credentials });
 * ```
 * @category Registry
 */
export function staticCredentials(map: Record<string, Credential>, options: StaticCredentialsOptions = {}): CredentialProvider {
  const source = options.source ?? 'static credentials';
  const byScope = new Map<string, Credential>();
  for (const [key, credential] of Object.entries(map)) byScope.set(authFileKeyToScope(key), credential);
  return withProviderSources(async (registry) => {
    for (const scope of lookupScopes(registry)) {
      const credential = byScope.get(scope);
      if (credential !== undefined) return withCredentialSource({ ...credential }, source);
    }
    return undefined;
  }, [`${source} (for ${[...byScope.keys()].join(', ') || 'no registry'})`]);
}

/**
 * Provides one credential for every registry (what a `--creds USER:PASSWORD` flag means).
 * `options.source` names it in messages, so a rejection says which credentials were refused.
 * @example
 * ```ts
 * import { fixedCredentials } from 'ocibuild';
 *
 * const credentials = fixedCredentials({ username: 'ci', password: 'secret' }, { source: '--creds' });
 * ```
 * @category Registry
 */
export function fixedCredentials(credential: Credential, options: StaticCredentialsOptions = {}): CredentialProvider {
  const source = options.source ?? 'static credentials';
  return withProviderSources(async () => withCredentialSource({ ...credential }, source), [source]);
}

/**
 * Asks each provider in turn; the first defined answer wins. An error from a provider is thrown,
 * not skipped: a broken credential helper should be fixed, not silently bypassed.
 * @example
 * ```ts
 * import { chainCredentials, defaultCredentials, fixedCredentials } from 'ocibuild';
 *
 * // The given user first, then whatever `docker login` stored.
 * const credentials = chainCredentials(fixedCredentials({ username: 'ci', password: 'secret' }), defaultCredentials());
 * ```
 * @category Registry
 */
export function chainCredentials(...providers: CredentialProvider[]): CredentialProvider {
  const sources = providers.flatMap((provider) => sourcesOf(provider) ?? ['a credential provider passed in']);
  return withProviderSources(async (registry) => {
    for (const provider of providers) {
      const credential = await provider(registry);
      if (credential !== undefined) return credential;
    }
    return undefined;
  }, sources);
}

/**
 * Options of {@link defaultCredentials}.
 * @category Registry
 */
export interface DefaultCredentialsOptions {
  /** Environment to read paths and helpers' `PATH` from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Time a credential helper may run. Default 30 s. */
  helperTimeoutMs?: number;
}

/**
 * The provider ocibuild uses when none is given: `$REGISTRY_AUTH_FILE` when set (an explicit choice
 * beats defaults), then Docker's config.json, then the podman/buildah auth.json files.
 * @example
 * ```ts
 * import { createRegistryClient, defaultCredentials } from 'ocibuild';
 *
 * // What `docker login` and `podman login` stored, with their credential helpers.
 * const client = createRegistryClient({ credentials: defaultCredentials() });
 * ```
 * @category Registry
 */
export function defaultCredentials(options: DefaultCredentialsOptions = {}): CredentialProvider {
  const env = options.env ?? process.env;
  const providers: CredentialProvider[] = [];
  if (env.REGISTRY_AUTH_FILE) {
    providers.push(containersAuthCredentials({ ...options, env, path: env.REGISTRY_AUTH_FILE }));
  }
  providers.push(dockerConfigCredentials({ ...options, env }));
  // REGISTRY_AUTH_FILE was already asked first; the rest of the containers list comes after Docker's.
  const { REGISTRY_AUTH_FILE: _explicit, ...rest } = env;
  providers.push(containersAuthCredentials({ helperTimeoutMs: options.helperTimeoutMs, env: { ...rest } }));
  return chainCredentials(...providers);
}
