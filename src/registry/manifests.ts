/**
 * Manifests, tags and referrers: GET/HEAD with an Accept list covering OCI and Docker v2.2,
 * digest checks over the exact bytes (`Docker-Content-Digest` and the digest asked for), a
 * 4 MiB size cap, PUT with the document's media type (skipped when the tag already points at
 * the same digest), tag listing with `Link` pagination, and the OCI 1.1 referrers API with
 * its fallback tag scheme.
 * @module
 */
import { DigestMismatchError, isNotFound, isOcibuildError, LimitExceededError, RegistryError } from '../errors.ts';
import { DEFAULT_REGISTRY_LIMITS, limitExceeded, readLimited } from './limits.ts';
import { errorFromNetwork, safeUrl } from './response-errors.ts';
import { withRetries } from './retry.ts';
import { hashBytes } from '../hash/index.ts';
import { nodeHash } from '../hash/node.ts';
import { isDigest, parseDigest } from '../oci/digest.ts';
import { checkDescriptor } from '../oci/manifest.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../oci/mediatypes.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import {
  header,
  noteTag,
  pullScope,
  pushScope,
  repositoryName,
  repositoryPath,
  seenTag,
  type OperationContext,
  type RepositoryLocation,
  type RequestOptions,
} from './operation.ts';
import type { RegistryResponse, SendOptions } from './request.ts';

/** Largest manifest accepted by default (the limit distribution and containerd use); see `maxManifestBytes`. */
export const MAX_MANIFEST_BYTES = DEFAULT_REGISTRY_LIMITS.maxManifestBytes;

/** The Accept header of manifest requests. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');

/** Content types that say nothing about the document's kind. */
const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512'): string {
  return hashBytes(bytes, nodeHash(algorithm));
}

function stripParameters(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The media type of manifest bytes when the Content-Type does not say: the document's own, else by shape. */
function sniffMediaType(bytes: Uint8Array): string {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
    return Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST;
  } catch {
    return OCI_MANIFEST;
  }
}

function manifestPath(repo: RepositoryLocation, reference: string): string {
  // Tags and digests need no escaping (`sha256:` stays readable in logs, as Docker sends it).
  const safe = /^[A-Za-z0-9_.:+=-]+$/.test(reference) ? reference : encodeURIComponent(reference);
  return `${repositoryPath(repo)}/manifests/${safe}`;
}

/** What a manifest GET and HEAD have in common: path, Accept list, pull scope, signal. */
function manifestRequest(repo: RepositoryLocation, reference: string, options: RequestOptions): Omit<SendOptions, 'method' | 'accept' | 'what'> {
  return {
    registry: repo.registry,
    path: manifestPath(repo, reference),
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [pullScope(repo.repository)],
    signal: options.signal,
  };
}

/** Reads a manifest response whole, failing as soon as it is declared or grows beyond `maxManifestBytes`. */
async function readCapped(ctx: OperationContext, response: RegistryResponse, what: string): Promise<Uint8Array> {
  const max = ctx.http.limits.maxManifestBytes;
  try {
    return await readLimited(response, 'maxManifestBytes', max, what, `the manifest at ${safeUrl(response.url)}`);
  } catch (error) {
    throw errorFromNetwork(error, what, response.url, ctx.http.limits);
  }
}

/**
 * Pulls a manifest or index by tag or digest. Checks the bytes against the digest asked for
 * and against `Docker-Content-Digest` (`DigestMismatchError` on either). The media type is the
 * Content-Type, else the document's own, else inferred from its shape.
 */
export async function getManifest(
  ctx: OperationContext,
  repo: RepositoryLocation,
  reference: string,
  options: RequestOptions = {},
): Promise<RawManifest> {
  const what = `pull manifest ${reference} of ${repositoryName(repo)}`;
  // The body is part of the attempt: a manifest that stalls or drops mid-body is asked for again.
  const { response, bytes } = await withRetries(
    async () => {
      const response = await ctx.http.send({ ...manifestRequest(repo, reference, options), method: 'GET', accept: [200], what, retry: false });
      return { response, bytes: await readCapped(ctx, response, what) };
    },
    ctx.http.retryPolicy,
    options.signal,
  ).catch((error: unknown) => {
    if (isNotFound(error)) noteTag(ctx, repo, reference, null);
    throw error;
  });
  const byDigest = isDigest(reference);
  const headerDigest = header(response.headers, 'docker-content-digest');
  const algorithm = byDigest ? parseDigest(reference).algorithm : 'sha256';
  const digest = digestOf(bytes, algorithm);
  const where = `${repositoryName(repo)} manifest ${reference}`;
  if (byDigest && digest !== reference) throw new DigestMismatchError(reference, digest, where);
  if (headerDigest && isDigest(headerDigest)) {
    const headerAlgorithm = parseDigest(headerDigest).algorithm;
    const computed = headerAlgorithm === algorithm ? digest : digestOf(bytes, headerAlgorithm);
    if (computed !== headerDigest) throw new DigestMismatchError(headerDigest, computed, `${where} (Docker-Content-Digest)`);
  }
  const contentType = stripParameters(header(response.headers, 'content-type'));
  const mediaType = GENERIC_TYPES.has(contentType) ? sniffMediaType(bytes) : contentType;
  noteTag(ctx, repo, reference, digest);
  return { mediaType, digest, bytes };
}

/**
 * HEADs a manifest: its descriptor (media type, digest, size), or undefined when absent.
 * Falls back to a GET when the registry does not send `Docker-Content-Digest` on HEAD.
 */
export async function headManifest(
  ctx: OperationContext,
  repo: RepositoryLocation,
  reference: string,
  options: RequestOptions = {},
): Promise<Descriptor | undefined> {
  const response = await ctx.http.send({
    ...manifestRequest(repo, reference, options),
    method: 'HEAD',
    accept: [200, 404],
    what: `check manifest ${reference} of ${repositoryName(repo)}`,
  });
  await response.body.dump();
  if (response.statusCode === 404) {
    noteTag(ctx, repo, reference, null);
    return undefined;
  }
  const digest = header(response.headers, 'docker-content-digest');
  const size = Number(header(response.headers, 'content-length'));
  const mediaType = stripParameters(header(response.headers, 'content-type'));
  if (digest && isDigest(digest) && Number.isSafeInteger(size) && !GENERIC_TYPES.has(mediaType)) {
    noteTag(ctx, repo, reference, digest);
    return { mediaType, digest, size };
  }
  const raw = await getManifest(ctx, repo, reference, options);
  return { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.byteLength };
}

/** Re-sends of a manifest the registry said names an unknown blob (see `putManifest`). */
const MANIFEST_BLOB_RACE_RETRIES = 3;

/** A 400 whose codes include MANIFEST_BLOB_UNKNOWN: the blob-link race of distribution's storage. */
function isBlobUnknownRace(error: unknown): boolean {
  return error instanceof RegistryError && error.status === 400 && error.registryCodes.includes('MANIFEST_BLOB_UNKNOWN');
}

/**
 * What `RegistryClient.putManifest` did.
 * @category Registry
 */
export interface PutManifestResult {
  /** Digest of the manifest. */
  digest: string;
  /** True when the tag already pointed at this digest and nothing was sent. */
  skipped: boolean;
  /** True when the registry answered `OCI-Subject`: it indexed the manifest's `subject` itself. */
  subjectIndexed?: boolean;
}

/**
 * Pushes a manifest under a tag, or by digest when `reference` is undefined (or a digest).
 * Verifies `manifest.digest` against the bytes first (`DigestMismatchError`), skips the PUT when
 * a HEAD shows the tag already points at the same digest (no HEAD when this client has just read
 * the tag as absent or naming another digest: the PUT goes ahead, as after such a HEAD),
 * re-sends up to three times (with the retry policy's backoff, in its one loop) a PUT refused
 * with MANIFEST_BLOB_UNKNOWN (a race inside the registry's storage when another push links the
 * same blob), and checks the digest the registry reports back.
 */
export async function putManifest(
  ctx: OperationContext,
  repo: RepositoryLocation,
  manifest: RawManifest,
  reference: string | undefined,
  options: RequestOptions = {},
): Promise<PutManifestResult> {
  const where = `${repositoryName(repo)} manifest ${reference ?? manifest.digest}`;
  const actual = digestOf(manifest.bytes, parseDigest(manifest.digest).algorithm);
  if (actual !== manifest.digest) throw new DigestMismatchError(manifest.digest, actual, where);
  const max = ctx.http.limits.maxManifestBytes;
  // Registries refuse larger ones too (distribution: 4 MiB), after the whole upload.
  if (manifest.bytes.byteLength > max) throw limitExceeded('maxManifestBytes', max, `push ${where}`, 'the manifest');
  const target = reference ?? manifest.digest;
  const seen = reference === undefined ? undefined : seenTag(ctx, repo, reference);
  if (reference !== undefined && !isDigest(reference) && (seen === undefined || seen === manifest.digest)) {
    const existing = await headManifest(ctx, repo, reference, options).catch((error: unknown) => {
      // Absent, or not readable with push-only credentials: push. Anything else (a server error
      // after retries, an abort) fails here rather than being taken for "not there".
      if (isNotFound(error) || isOcibuildError(error, 'ERR_REGISTRY_UNAUTHORIZED', 'ERR_REGISTRY_DENIED')) return undefined;
      throw error;
    });
    if (existing?.digest === manifest.digest) return { digest: manifest.digest, skipped: true };
  }
  // distribution's filesystem storage rewrites a repository's blob link in place, so a manifest
  // PUT that races another push (or cross-repository mount) of the same blob into the same
  // repository can read the link half-written and answer MANIFEST_BLOB_UNKNOWN for a blob that is
  // there. The blobs were all confirmed before the PUT, so a few retries (in the one retry loop)
  // settle it; a blob that is really missing still fails, after them, with the registry's codes.
  const response: RegistryResponse = await withRetries(
    () =>
      ctx.http.send({
        registry: repo.registry,
        method: 'PUT',
        path: manifestPath(repo, target),
        headers: { 'content-type': manifest.mediaType },
        body: () => manifest.bytes,
        scopes: [pushScope(repo.repository)],
        accept: [200, 201, 202],
        what: `push ${where}`,
        retry: false,
        signal: options.signal,
      }),
    ctx.http.retryPolicy,
    options.signal,
    (error, n) => n < MANIFEST_BLOB_RACE_RETRIES && isBlobUnknownRace(error),
  );
  await response.body.dump();
  const reported = header(response.headers, 'docker-content-digest');
  if (reported && isDigest(reported) && parseDigest(reported).algorithm === parseDigest(manifest.digest).algorithm && reported !== manifest.digest) {
    throw new DigestMismatchError(manifest.digest, reported, `${where} (as stored by the registry)`);
  }
  if (reference !== undefined) noteTag(ctx, repo, reference, manifest.digest);
  return { digest: manifest.digest, skipped: false, subjectIndexed: header(response.headers, 'oci-subject') !== undefined };
}

/**
 * Options of `RegistryClient.listTags`.
 * @category Registry
 */
export interface ListTagsOptions extends RequestOptions {
  /** Page size asked for with `n` (the registry may send fewer). */
  pageSize?: number;
}

/** The `rel="next"` target of a `Link` header, if any. */
export function nextLink(link: string | string[] | undefined): string | undefined {
  const text = Array.isArray(link) ? link.join(', ') : link;
  if (!text) return undefined;
  for (const part of text.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel="?next"?/i.test(match[2]!)) return match[1];
  }
  return undefined;
}

/**
 * Lists every tag of a repository, following `Link` pagination: each page is capped at
 * `maxTagPageBytes` and at most `maxTagPages` pages are followed (`LimitExceededError` past
 * either), so a registry whose `Link` keeps naming new pages cannot hold the client forever.
 */
export async function listTags(ctx: OperationContext, repo: RepositoryLocation, options: ListTagsOptions = {}): Promise<string[]> {
  const { maxTagPageBytes, maxTagPages } = ctx.http.limits;
  const what = `list tags of ${repositoryName(repo)}`;
  const tags: string[] = [];
  let path = `${repositoryPath(repo)}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ''}`;
  const seen = new Set<string>();
  for (let page = 1; ; page++) {
    const response = await ctx.http.send({
      registry: repo.registry,
      method: 'GET',
      path,
      headers: { accept: 'application/json' },
      scopes: [pullScope(repo.repository)],
      accept: [200],
      what,
      signal: options.signal,
    });
    const where = safeUrl(response.url);
    const bytes = await readLimited(response, 'maxTagPageBytes', maxTagPageBytes, what, `the tag page at ${where}`);
    let doc: { tags?: unknown };
    try {
      doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { tags?: unknown };
    } catch (error) {
      throw new RegistryError('ERR_REGISTRY', `${what}: the tag page at ${where} is not JSON`, { url: where, cause: error });
    }
    if (Array.isArray(doc?.tags)) for (const tag of doc.tags) if (typeof tag === 'string') tags.push(tag);
    const next = nextLink(response.headers['link']);
    if (!next) break;
    const url = new URL(next, response.url).toString();
    // A registry that links a page to itself would loop forever.
    if (seen.has(url)) break;
    if (page >= maxTagPages) {
      throw new LimitExceededError(
        'maxTagPages',
        maxTagPages,
        `${what}: the registry still links a next page after ${maxTagPages} pages (at ${where}); raise the registry client option maxTagPages if this is expected`,
      );
    }
    seen.add(url);
    path = url;
  }
  return tags;
}

/**
 * Options of `RegistryClient.listReferrers`.
 * @category Registry
 */
export interface ReferrersOptions extends RequestOptions {
  /** Only referrers of this artifact type. */
  artifactType?: string;
}

/**
 * Lists the manifests that refer to `digest` (OCI 1.1): `GET /v2/NAME/referrers/DIGEST`, or,
 * when the registry does not implement it (404), the index tagged `sha256-HEX` (the spec's
 * fallback tag scheme). Returns the descriptors, filtered by `artifactType` when asked.
 */
export async function listReferrers(
  ctx: OperationContext,
  repo: RepositoryLocation,
  digest: string,
  options: ReferrersOptions = {},
): Promise<Descriptor[]> {
  const { algorithm, hex } = parseDigest(digest);
  const query = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : '';
  const response = await ctx.http.send({
    registry: repo.registry,
    method: 'GET',
    path: `${repositoryPath(repo)}/referrers/${digest}${query}`,
    headers: { accept: OCI_INDEX },
    scopes: [pullScope(repo.repository)],
    accept: [200, 404],
    what: `list referrers of ${digest} in ${repositoryName(repo)}`,
    signal: options.signal,
  });
  let manifests: Descriptor[];
  const contentType = stripParameters(header(response.headers, 'content-type'));
  if (response.statusCode === 200 && contentType === OCI_INDEX) {
    const bytes = await readCapped(ctx, response, `list referrers of ${digest}`);
    manifests = indexManifests(bytes, `referrers of ${digest} in ${repositoryName(repo)}`);
  } else {
    await response.body.dump();
    let raw: RawManifest;
    try {
      raw = await getManifest(ctx, repo, `${algorithm}-${hex}`, options);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'ERR_REGISTRY_NOT_FOUND') return [];
      throw error;
    }
    manifests = indexManifests(raw.bytes, `referrers of ${digest} in ${repositoryName(repo)}`);
  }
  return options.artifactType ? manifests.filter((m) => m.artifactType === options.artifactType) : manifests;
}

/** The descriptors of a referrers index, each checked (`ERR_INVALID_MANIFEST` names the bad one). */
function indexManifests(bytes: Uint8Array, where: string): Descriptor[] {
  let doc: { manifests?: unknown } | null;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { manifests?: unknown } | null;
  } catch (error) {
    throw new RegistryError('ERR_REGISTRY', `${where}: the referrers response is not a JSON index`, { cause: error });
  }
  const manifests = Array.isArray(doc?.manifests) ? (doc.manifests as unknown[]) : [];
  manifests.forEach((m, i) => checkDescriptor(m, `${where}: referrers manifests[${i}]`));
  return manifests as Descriptor[];
}
