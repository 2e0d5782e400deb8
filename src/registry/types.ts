/**
 * Registry-facing types shared by the client and the credential providers.
 * @module
 */

/**
 * Credentials for one registry. Exactly one shape applies.
 * @category Registry
 */
export type Credential =
  | { username: string; password: string }
  /** An OAuth2 refresh token (`identitytoken` in config.json): exchanged at the token realm with POST. */
  | { identityToken: string; username?: string }
  /** A bearer token sent as is (`registrytoken` in config.json). */
  | { registryToken: string };

/**
 * Looks up credentials for a registry host as written in references (`localhost:5000`, `ghcr.io`,
 * `docker.io`). Resolves undefined when it has none. MUST NOT log or embed secrets in errors.
 * @category Registry
 */
export type CredentialProvider = (registry: string) => Promise<Credential | undefined>;
