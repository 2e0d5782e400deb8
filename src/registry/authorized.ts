/**
 * One registry request with authentication: the base URL from the ping, the `Authorization`
 * the registry asked for, one re-authorisation on a 401 (a new token for wider scopes, or
 * credentials after an anonymous try), and the mapping of every other unexpected status to a
 * `RegistryError` (a 401 explained: no credentials, or rejected ones).
 * @module
 */
import type { Authenticator } from './auth.ts';
import { explainUnauthorized } from './auth-messages.ts';
import type { RegistryLimits } from './limits.ts';
import { sendFollowingRedirects } from './redirects.ts';
import type { RegistryResponse, SendOptions, SendRaw } from './request.ts';
import { errorFromResponse, readErrorText } from './response-errors.ts';
import type { RegistryBases } from './scheme.ts';
import type { CredentialProvider } from './types.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

/** What {@link sendAuthorized} works with. */
export interface AuthorizedContext {
  /** Base URLs by registry. */
  bases: RegistryBases;
  /** Authentication state. */
  auth: Authenticator;
  /** Sends one request as is. */
  send: SendRaw;
  /** The bounds in force. */
  limits: RegistryLimits;
  /** The credential provider, to explain a 401. */
  credentials: CredentialProvider | undefined;
}

/** Sends one request (no retries) with auth and redirects; a status outside `accept` throws. */
export async function sendAuthorized(ctx: AuthorizedContext, options: SendOptions): Promise<RegistryResponse> {
  const { registry, scopes, signal } = options;
  const { auth, limits } = ctx;
  const base = await ctx.bases.base(registry, signal);
  const url = new URL(options.path, base);
  const explain = async (error: Awaited<ReturnType<typeof errorFromResponse>>) =>
    explainUnauthorized(error, registry, await auth.credential(registry).catch(() => undefined), ctx.credentials);
  let authorization = await auth.authorization(registry, scopes, signal);
  for (let reauthorized = false; ; reauthorized = true) {
    const response = await sendFollowingRedirects(ctx.send, url, options, authorization, base.origin, limits);
    if (response.statusCode === 401 && !reauthorized) {
      const challenges = parseWwwAuthenticate(response.headers['www-authenticate']);
      const text = await readErrorText(response.body, limits.maxErrorBodyBytes);
      const next = await auth.reauthorize(registry, scopes, challenges, authorization, signal);
      if (next !== undefined) {
        authorization = next;
        continue;
      }
      // Nothing new to send: report this 401 with the registry's error body, and why.
      throw await explain(await errorFromResponse({ statusCode: 401, headers: response.headers, body: textBody(text) }, options.what, response.url));
    }
    if (options.accept.includes(response.statusCode)) return response;
    const error = await errorFromResponse(response, options.what, response.url, limits.maxErrorBodyBytes);
    throw response.statusCode === 401 ? await explain(error) : error;
  }
}

function textBody(text: string): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield Buffer.from(text, 'utf8');
  })();
}
