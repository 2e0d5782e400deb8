/**
 * What an authentication failure tells the user: either no credentials were found for the
 * registry (and where ocibuild looked), or which source supplied the credentials that the
 * registry or its token service refused. Both keep the `RegistryError` code
 * (`ERR_REGISTRY_UNAUTHORIZED`), status and URL; only the message gains the story.
 * @module
 */
import { RegistryError } from '../errors.ts';
import { credentialSource, sourcesOf } from './credentials/source.ts';
import type { Credential, CredentialProvider } from './types.ts';

/** "no credentials found for REGISTRY (looked in: …)". */
export function noCredentialsText(registry: string, provider: CredentialProvider | undefined): string {
  if (provider === undefined) return `no credentials found for ${registry} (the registry client was given no credential provider)`;
  const places = sourcesOf(provider) ?? ['the credential provider passed in'];
  return `no credentials found for ${registry} (looked in: ${places.join('; ')}); log in (docker login / podman login ${registry}) or pass credentials`;
}

/** "credentials from SOURCE were rejected by WHO". */
export function rejectedText(registry: string, credential: Credential, by: string = registry): string {
  const source = credentialSource(credential) ?? 'the credential provider passed in';
  return `credentials for ${registry} from ${source} were rejected by ${by}`;
}

/**
 * Rewrites a final 401 from the registry itself: the same error (code, status, registry codes,
 * URL, cause) with a message that says whether credentials were missing or refused.
 */
export function explainUnauthorized(
  error: RegistryError,
  registry: string,
  credential: Credential | undefined,
  provider: CredentialProvider | undefined,
): RegistryError {
  if (error.status !== 401) return error;
  const story = credential === undefined ? noCredentialsText(registry, provider) : rejectedText(registry, credential);
  return new RegistryError(error.code, `${story}: ${error.message}`, {
    status: error.status,
    registryCodes: error.registryCodes,
    url: error.url,
    cause: error,
  });
}
