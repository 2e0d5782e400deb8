/**
 * Writing blobs: monolithic uploads (POST, then PUT `?digest=` with the body), chunked uploads
 * (PATCH with `Content-Range`, at least `OCI-Chunk-Min-Length` bytes each, then PUT), and
 * cross-repository mounts (`POST ?mount=&from=`). The upload session is the unit of retry: a
 * failure anywhere restarts a new session from the body factory, and the requests inside a
 * session are not retried on their own (one retry level).
 * @module
 */
import { verifyStream } from '../blob/verify.ts';
import type { Descriptor } from '../oci/types.ts';
import type { BlobBody } from '../blob/types.ts';
import type { RegistryResponse, SendOptions } from './request.ts';
import { withRetries } from './retry.ts';
import {
  header,
  pullScope,
  pushScope,
  repositoryName,
  repositoryPath,
  resolveLocation,
  withQuery,
  type OperationContext,
  type RepositoryLocation,
  type RequestOptions,
  type TransferOptions,
} from './operation.ts';

/** Options of `RegistryClient.putBlob`. */
export interface PutBlobOptions extends TransferOptions {
  /** Try to mount the blob from this repository of the same registry first. */
  mountFrom?: string;
}

/** What an upload did. */
export type PutBlobResult = 'uploaded' | 'mounted';

const OCTET_STREAM = 'application/octet-stream';

/**
 * How long the clean-up `DELETE` of an abandoned upload session may take. It runs after the
 * caller's signal has fired (an interrupted push), so it has its own short bound: Ctrl-C must
 * not wait on a registry that does not answer.
 */
const CANCEL_UPLOAD_WAIT_MS = 5_000;

/**
 * Uploads a blob from a restartable body, verified against `descriptor` while it streams (a
 * mismatch aborts the request before the registry can commit it). With `mountFrom`, asks for
 * a cross-repository mount first and continues as a normal upload in the session the registry
 * opens when it does not mount (202).
 */
export async function putBlob(
  ctx: OperationContext,
  repo: RepositoryLocation,
  descriptor: Descriptor,
  body: BlobBody | Uint8Array,
  options: PutBlobOptions = {},
): Promise<PutBlobResult> {
  const release = await ctx.uploads(repo.registry).acquire(options.signal);
  try {
    return await withRetries(() => uploadOnce(ctx, repo, descriptor, body, options), ctx.http.retryPolicy, options.signal);
  } finally {
    release();
  }
}

/**
 * Asks the registry to mount a blob from another repository. True when mounted (201); false
 * when the registry opened an upload session instead (202), which is cancelled here.
 */
export async function mountBlob(
  ctx: OperationContext,
  repo: RepositoryLocation,
  descriptor: Descriptor,
  fromRepository: string,
  options: RequestOptions = {},
): Promise<boolean> {
  const response = await startSession(ctx, repo, descriptor, fromRepository, options, true);
  await response.body.dump();
  if (response.statusCode === 201) return true;
  const location = header(response.headers, 'location');
  if (location) await cancelSession(ctx, repo, new URL(location, response.url));
  return false;
}

async function startSession(
  ctx: OperationContext,
  repo: RepositoryLocation,
  descriptor: Descriptor,
  fromRepository: string | undefined,
  options: RequestOptions,
  retry: boolean,
): Promise<RegistryResponse> {
  // `mount` is only ever sent with `from`: a mount without `from` asks some registries (and the
  // OCI spec since 1.1) to search every repository the caller can see, which leaks nothing to us
  // but costs the registry and is not what we mean.
  const query = fromRepository === undefined
    ? ''
    : `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(fromRepository)}`;
  const scopes = [pushScope(repo.repository)];
  if (fromRepository !== undefined) scopes.push(pullScope(fromRepository));
  return ctx.http.send({
    registry: repo.registry,
    method: 'POST',
    path: `${repositoryPath(repo)}/blobs/uploads/${query}`,
    headers: { 'content-length': '0' },
    scopes,
    accept: [201, 202],
    what: fromRepository === undefined
      ? `start upload of ${descriptor.digest} to ${repositoryName(repo)}`
      : `mount ${descriptor.digest} from ${repo.registry}/${fromRepository} into ${repositoryName(repo)}`,
    retry,
    signal: options.signal,
  });
}

/**
 * Cancels an upload session (`DELETE` on its URL), best effort: registries expire abandoned
 * sessions themselves, so a failure here is not reported. Uses its own bounded signal, not the
 * caller's, which may be the very abort that made the session abandoned.
 */
async function cancelSession(ctx: OperationContext, repo: RepositoryLocation, location: URL): Promise<void> {
  try {
    const response = await ctx.http.send({
      registry: repo.registry,
      method: 'DELETE',
      path: location.toString(),
      scopes: [pushScope(repo.repository)],
      accept: [200, 202, 204, 404],
      what: `cancel upload to ${repositoryName(repo)}`,
      retry: false,
      signal: AbortSignal.timeout(CANCEL_UPLOAD_WAIT_MS),
    });
    await response.body.dump();
  } catch {
    // Best effort (see above).
  }
}

async function uploadOnce(
  ctx: OperationContext,
  repo: RepositoryLocation,
  descriptor: Descriptor,
  body: BlobBody | Uint8Array,
  options: PutBlobOptions,
): Promise<PutBlobResult> {
  const { signal, onProgress } = options;
  const session = await startSession(ctx, repo, descriptor, options.mountFrom, options, false);
  await session.body.dump();
  if (session.statusCode === 201) return 'mounted';
  const what = `upload blob ${descriptor.digest} to ${repositoryName(repo)}`;
  let location = resolveLocation(session.headers['location'], session.url, what);
  const where = `upload of ${repositoryName(repo)} blob ${descriptor.digest}`;
  // Every request of the session: not retried alone (the caller retries the whole upload).
  const send = (request: Pick<SendOptions, 'method' | 'path' | 'headers' | 'body' | 'accept'>): Promise<RegistryResponse> =>
    ctx.http.send({ registry: repo.registry, scopes: [pushScope(repo.repository)], what, retry: false, signal, ...request });
  const source = (): AsyncIterable<Uint8Array> => {
    const raw = body instanceof Uint8Array ? single(body) : body();
    return counted(verifyStream(raw, descriptor, where), onProgress);
  };
  const minChunk = Number(header(session.headers, 'oci-chunk-min-length') ?? 0) || 0;
  const chunkSize = ctx.chunkSize === undefined ? undefined : Math.max(ctx.chunkSize, minChunk);
  try {
    if (chunkSize === undefined || descriptor.size <= chunkSize) {
      const response = await send({
        method: 'PUT',
        path: withQuery(location, 'digest', descriptor.digest),
        headers: { 'content-type': OCTET_STREAM, 'content-length': String(descriptor.size) },
        body: source,
        accept: [201],
      });
      await response.body.dump();
      return 'uploaded';
    }
    let offset = 0;
    for await (const pieces of rechunk(source(), chunkSize)) {
      const length = pieces.reduce((n, p) => n + p.byteLength, 0);
      const response = await send({
        method: 'PATCH',
        path: location.toString(),
        headers: {
          'content-type': OCTET_STREAM,
          'content-length': String(length),
          'content-range': `${offset}-${offset + length - 1}`,
        },
        body: () => pieces.length === 1 ? pieces[0]! : single(...pieces),
        accept: [202],
      });
      await response.body.dump();
      offset += length;
      location = resolveLocation(response.headers['location'] ?? location.toString(), response.url, what);
    }
    const response = await send({ method: 'PUT', path: withQuery(location, 'digest', descriptor.digest), headers: { 'content-length': '0' }, accept: [201] });
    await response.body.dump();
    return 'uploaded';
  } catch (error) {
    // Leave no half-written session behind, an interrupted one included.
    await cancelSession(ctx, repo, location);
    throw error;
  }
}

async function* single(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

async function* counted(source: AsyncIterable<Uint8Array>, onProgress: ((bytes: number) => void) | undefined): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    onProgress?.(total);
    yield chunk;
  }
}

/** Groups a stream into runs of exactly `size` bytes (the last may be shorter), as lists of slices. */
async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array[]> {
  let pieces: Uint8Array[] = [];
  let filled = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (rest.byteLength > 0) {
      const take = Math.min(size - filled, rest.byteLength);
      // Copy: the producer may reuse its buffer once we ask for the next chunk.
      pieces.push(rest.slice(0, take));
      filled += take;
      rest = rest.subarray(take);
      if (filled === size) {
        yield pieces;
        pieces = [];
        filled = 0;
      }
    }
  }
  if (filled > 0) yield pieces;
}
