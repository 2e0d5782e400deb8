/**
 * Where credentials come from, for messages: each credential a provider returns is recorded
 * with its source (`/home/me/.docker/config.json`, `credential helper docker-credential-pass`,
 * `--creds`), and each provider with the places it looks in. Kept in side tables, so the
 * `Credential` objects stay plain data; sources are paths and names, never secrets.
 * @module
 */
import type { Credential, CredentialProvider } from '../types.ts';

const credentialSources = new WeakMap<object, string>();
const providerSources = new WeakMap<object, readonly string[]>();

/** Records that `credential` came from `source`; returns `credential`. */
export function withCredentialSource<T extends Credential | undefined>(credential: T, source: string): T {
  if (credential !== undefined && !credentialSources.has(credential)) credentialSources.set(credential, source);
  return credential;
}

/** Where a credential came from, when its provider said. */
export function credentialSource(credential: Credential): string | undefined {
  return credentialSources.get(credential);
}

/** Records the places `provider` looks in; returns `provider`. */
export function withProviderSources(provider: CredentialProvider, sources: readonly string[]): CredentialProvider {
  providerSources.set(provider, [...sources]);
  return provider;
}

/** The places a provider looks in, when it said (a chain lists those of its members). */
export function sourcesOf(provider: CredentialProvider): readonly string[] | undefined {
  return providerSources.get(provider);
}
