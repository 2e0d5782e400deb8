/**
 * Following redirects by hand (blob GETs and uploads are sent to storage backends):
 * `Authorization` goes only to the registry's own origin, a 303 (or a redirected POST) becomes
 * a body-less GET, and at most {@link MAX_REDIRECTS} hops are followed.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import type { RegistryLimits } from './limits.ts';
import type { RegistryResponse, SendOptions, SendRaw } from './request.ts';
import { errorFromNetwork } from './response-errors.ts';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Redirect hops followed before the redirect itself is returned (and refused as unexpected). */
const MAX_REDIRECTS = 5;

/**
 * Sends one request from `start` and follows its redirects. `authorization` is sent only to
 * `origin` (the registry's). A body that fails while sent is rethrown as its own error (a
 * digest or size mismatch), not as undici's; an abort becomes `ERR_ABORTED`; other network
 * failures are mapped by `errorFromNetwork`.
 */
export async function sendFollowingRedirects(
  send: SendRaw,
  start: URL,
  options: SendOptions,
  authorization: string | undefined,
  origin: string,
  limits: RegistryLimits,
): Promise<RegistryResponse> {
  let url = start;
  let method = options.method;
  let body = options.body;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { ...options.headers };
    if (authorization !== undefined && url.origin === origin) headers['authorization'] = authorization;
    let bodyError: unknown;
    let payload: Uint8Array | AsyncIterable<Uint8Array> | undefined = body?.();
    if (payload !== undefined && !(payload instanceof Uint8Array)) {
      const source = payload;
      // undici reports a failing body as its own error; keep ours (digest/size mismatch) to rethrow.
      payload = (async function* () {
        try {
          yield* source;
        } catch (error) {
          bodyError = error;
          throw error;
        }
      })();
    }
    let response: Awaited<ReturnType<SendRaw>>;
    try {
      response = await send(url, method, headers, payload, options.signal);
    } catch (error) {
      if (bodyError !== undefined) throw bodyError;
      if (options.signal?.aborted) throw new OcibuildError('ERR_ABORTED', `${options.what}: aborted`, { cause: options.signal.reason });
      throw errorFromNetwork(error, options.what, url, limits);
    }
    const location = response.headers['location'];
    if (REDIRECTS.has(response.statusCode) && typeof location === 'string' && hop < MAX_REDIRECTS) {
      await response.body.dump();
      url = new URL(location, url);
      if (response.statusCode === 303 || method === 'POST') {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    return Object.assign(response, { url });
  }
}
