/**
 * Reading a foreign (non-distributable) layer from the URLs its descriptor lists, as
 * containers/image does when a destination must hold every layer (a docker-archive). The bytes
 * are verified against the descriptor like any blob.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import type { Descriptor } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import { verifyStream } from '../blob/verify.ts';

/** Options of {@link fetchForeignLayer}. */
export interface FetchForeignOptions {
  /** Aborts the download. */
  signal?: AbortSignal;
  /** Hash implementation for verification. */
  hash?: HashFactory;
}

/**
 * Opens the first of `descriptor.urls` that answers 200 (http and https only), verified against
 * the descriptor's digest and size while streaming. Throws `ERR_NOT_FOUND` naming every URL
 * tried and why it failed. URLs are shown without credentials or query strings.
 */
export async function fetchForeignLayer(descriptor: Descriptor, options: FetchForeignOptions = {}): Promise<AsyncIterable<Uint8Array>> {
  const failures: string[] = [];
  for (const url of descriptor.urls ?? []) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      failures.push(`${JSON.stringify(url)}: not a URL`);
      continue;
    }
    const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      failures.push(`${shown}: only http and https URLs are fetched`);
      continue;
    }
    try {
      const response = await fetch(parsed, options.signal === undefined ? {} : { signal: options.signal });
      if (response.status !== 200 || response.body === null) {
        await response.body?.cancel().catch(() => undefined);
        failures.push(`${shown}: HTTP ${response.status}`);
        continue;
      }
      const body = response.body as unknown as AsyncIterable<Uint8Array>;
      return verifyStream(body, descriptor, `foreign layer ${descriptor.digest} from ${shown}`, options.hash);
    } catch (error) {
      if (options.signal?.aborted) throw new OcibuildError('ERR_ABORTED', `fetching foreign layer ${descriptor.digest} aborted`, { cause: error });
      failures.push(`${shown}: ${(error as Error).message}`);
    }
  }
  throw new OcibuildError(
    'ERR_NOT_FOUND',
    `foreign layer ${descriptor.digest} is not distributed with the image and none of its URLs gave it (${failures.join('; ') || 'no URLs'})`,
  );
}
