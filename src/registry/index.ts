/**
 * The registry client (Docker Registry HTTP API v2 / OCI distribution) and its building blocks.
 * Credential providers live in `./credentials/`.
 * @module
 */
export { createRegistryClient } from './client.ts';
export type { RegistryClient, RegistryClientOptions } from './client.ts';
export type { HttpOptions } from './http.ts';
export type { RepositoryLocation, RequestOptions, TransferOptions } from './operation.ts';
export type { PutBlobOptions, PutBlobResult } from './uploads.ts';
export { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, nextLink } from './manifests.ts';
export type { ListTagsOptions, PutManifestResult, ReferrersOptions } from './manifests.ts';
export { parseWwwAuthenticate, challengeScopes } from './www-authenticate.ts';
export type { AuthChallenge } from './www-authenticate.ts';
export { DEFAULT_RETRY_POLICY, parseRetryAfter } from './retry.ts';
export { DEFAULT_REGISTRY_LIMITS } from './limits.ts';
export type { RegistryLimits } from './limits.ts';
export type { RetryPolicy } from './retry.ts';
export { proxyFromEnv, createRegistryDispatcher, type ProxySettings } from './proxy.ts';
export { defaultCertsDirs } from './certs-d.ts';
