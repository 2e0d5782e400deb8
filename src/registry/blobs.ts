/**
 * Reading blobs: HEAD for existence, and GET streamed through size and digest verification,
 * resuming with `Range` from the byte reached when the connection drops mid-body.
 * @module
 */
import { RegistryError } from '../errors.ts';
import { VerifiedStream, verifyStream } from '../blob/verify.ts';
import type { Descriptor } from '../oci/types.ts';
import { isConfigMediaType, limitExceeded } from './limits.ts';
import { errorFromNetwork } from './response-errors.ts';
import { backoffDelay, isRetryable, sleep } from './retry.ts';
import {
  pullScope,
  repositoryName,
  repositoryPath,
  type OperationContext,
  type RepositoryLocation,
  type RequestOptions,
  type TransferOptions,
} from './operation.ts';
import type { RegistryResponse } from './request.ts';

/** True when the repository has the blob (HEAD 200), false on 404. */
export async function hasBlob(ctx: OperationContext, repo: RepositoryLocation, digest: string, options: RequestOptions = {}): Promise<boolean> {
  const response = await ctx.http.send({
    registry: repo.registry,
    method: 'HEAD',
    path: `${repositoryPath(repo)}/blobs/${digest}`,
    scopes: [pullScope(repo.repository)],
    accept: [200, 404],
    what: `check blob ${digest} in ${repositoryName(repo)}`,
    signal: options.signal,
  });
  await response.body.dump();
  return response.statusCode === 200;
}

/**
 * Streams a blob, verified against `descriptor` (size cap and digest, `SizeMismatchError` /
 * `DigestMismatchError` at the end). The request is made before this resolves, so a missing
 * blob rejects here with `ERR_REGISTRY_NOT_FOUND`. A dropped connection is resumed with
 * `Range: bytes=N-` (or by skipping N bytes when the registry ignores ranges), within the
 * retry policy. Holds one download slot of the registry until the stream ends or is abandoned.
 * An image config (read whole by its users) declared larger than `maxConfigBytes` is refused
 * with `LimitExceededError` before any request.
 */
export async function getBlob(
  ctx: OperationContext,
  repo: RepositoryLocation,
  descriptor: Descriptor,
  options: TransferOptions = {},
): Promise<AsyncIterable<Uint8Array>> {
  const { signal, onProgress } = options;
  const what = `pull blob ${descriptor.digest} from ${repositoryName(repo)}`;
  const maxConfig = ctx.http.limits.maxConfigBytes;
  if (isConfigMediaType(descriptor.mediaType) && descriptor.size > maxConfig) {
    throw limitExceeded('maxConfigBytes', maxConfig, what, `the image config (${descriptor.size} bytes declared)`);
  }
  const release = await ctx.downloads(repo.registry).acquire(signal);
  const fetchFrom = (offset: number, retry = true) =>
    ctx.http.send({
      registry: repo.registry,
      method: 'GET',
      path: `${repositoryPath(repo)}/blobs/${descriptor.digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [pullScope(repo.repository)],
      accept: offset > 0 ? [200, 206] : [200],
      what,
      signal,
      retry,
    });
  let first: RegistryResponse;
  try {
    first = await fetchFrom(0);
  } catch (error) {
    release();
    throw error;
  }
  const policy = ctx.http.retryPolicy;
  async function* resumable(): AsyncGenerator<Uint8Array> {
    let response = first;
    let received = 0;
    let skip = 0;
    for (let resumes = 0; ; ) {
      try {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          let piece = chunk;
          if (skip > 0) {
            // The registry ignored Range and started over: drop what we already passed on.
            const drop = Math.min(skip, piece.byteLength);
            skip -= drop;
            piece = piece.subarray(drop);
            if (piece.byteLength === 0) continue;
          }
          received += piece.byteLength;
          onProgress?.(received);
          yield piece;
        }
        return;
      } catch (error) {
        // One loop for the whole download (house style rule 9): a dropped body and a failed
        // resume request each spend one retry of the policy; the resume request is not retried
        // on its own, or a flaky registry would get count x count requests.
        let failure: unknown = error;
        for (;;) {
          if (resumes >= policy.count || signal?.aborted || !isRetryable(failure)) throw errorFromNetwork(failure, what, response.url, ctx.http.limits);
          const retryAfter = failure instanceof RegistryError ? (failure.retryAfterMs ?? 0) : 0;
          await sleep(Math.max(backoffDelay(resumes, policy), Math.min(retryAfter, policy.maxTotalMs)), signal);
          resumes++;
          try {
            response = await fetchFrom(received, false);
            break;
          } catch (resumeError) {
            failure = resumeError;
          }
        }
        skip = response.statusCode === 200 ? received : 0;
      }
    }
  }
  const where = `${repositoryName(repo)} blob ${descriptor.digest}`;
  const inner = verifyStream(resumable(), descriptor, where);
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    release();
    // An abandoned stream must not keep its connection busy.
    first.body.destroy();
  };
  // A hand-written iterator rather than a generator: `return()` on a generator that never
  // started skips its `finally`, which would leak the download slot.
  const stream: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      return {
        async next() {
          try {
            const result = await inner.next();
            if (result.done) finish();
            return result;
          } catch (error) {
            finish();
            throw error;
          }
        },
        async return() {
          finish();
          await inner.return(undefined).catch(() => undefined);
          return { done: true, value: undefined };
        },
      };
    },
  };
  // It passes the verified stream through unchanged: a verifying consumer need not hash again.
  return new VerifiedStream(stream, descriptor);
}
