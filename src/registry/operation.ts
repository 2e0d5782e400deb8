/**
 * What every registry operation shares: the HTTP layer, per-registry transfer limits, and
 * helpers for repository paths, scopes and `Location` headers.
 * @module
 */
import { RegistryError } from '../errors.ts';
import type { BlobOrigin } from '../blob/types.ts';
import type { Semaphore } from '../blob/semaphore.ts';
import type { RegistryHttp } from './http.ts';

/**
 * A repository of a registry (`{ registry: 'localhost:5000', repository: 'team/app' }`).
 * @category Registry
 */
export type RepositoryLocation = BlobOrigin;

/**
 * Options every client operation takes.
 * @category Registry
 */
export interface RequestOptions {
  /** Aborts the operation. */
  signal?: AbortSignal;
}

/**
 * Options of blob transfers.
 * @category Registry
 */
export interface TransferOptions extends RequestOptions {
  /** Called with the bytes transferred so far. */
  onProgress?: (bytes: number) => void;
}

export { Semaphore } from '../blob/semaphore.ts';

/** The state operations run against. */
export interface OperationContext {
  /** The HTTP layer. */
  http: RegistryHttp;
  /** Download slots per registry (separate from uploads, so a registry-to-registry copy cannot deadlock). */
  downloads(registry: string): Semaphore;
  /** Upload slots per registry. */
  uploads(registry: string): Semaphore;
  /** Bytes above which uploads are chunked (PATCH), undefined for always monolithic. */
  chunkSize: number | undefined;
  /**
   * The digest each tag named when this client last read or wrote it (`null`: absent), so a
   * push to a tag just read as naming something else skips the HEAD that would only tell it
   * again (see `putManifest`). Never used to skip a write.
   */
  tagsSeen?: Map<string, string | null>;
}

/** Most tags {@link OperationContext.tagsSeen} remembers; past it, it starts again empty. */
const MAX_TAGS_SEEN = 1024;

/** Records what tag `reference` of `repo` named (digests are not tags: ignored). */
export function noteTag(ctx: OperationContext, repo: RepositoryLocation, reference: string, digest: string | null): void {
  const seen = ctx.tagsSeen;
  if (seen === undefined || reference.includes(':')) return;
  if (seen.size >= MAX_TAGS_SEEN) seen.clear();
  seen.set(`${repo.registry}/${repo.repository}:${reference}`, digest);
}

/** What {@link noteTag} recorded for tag `reference` of `repo`: a digest, `null` (absent), or undefined (unknown). */
export function seenTag(ctx: OperationContext, repo: RepositoryLocation, reference: string): string | null | undefined {
  return ctx.tagsSeen?.get(`${repo.registry}/${repo.repository}:${reference}`);
}

/** `/v2/NAME` for a repository (each path component encoded, `/` kept). */
export function repositoryPath(repo: RepositoryLocation): string {
  return `/v2/${repo.repository.split('/').map(encodeURIComponent).join('/')}`;
}

/** The pull scope of a repository. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** The push scope of a repository (push needs pull too: uploads start with HEAD checks). */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Human name of a repository for messages (`localhost:5000/team/app`). */
export function repositoryName(repo: RepositoryLocation): string {
  return `${repo.registry}/${repo.repository}`;
}

/**
 * Resolves a `Location` header (relative or absolute) against the URL that sent it, keeping
 * the query the registry put there (upload `_state`).
 */
export function resolveLocation(location: string | string[] | undefined, base: URL, what: string): URL {
  const value = Array.isArray(location) ? location[0] : location;
  if (!value) throw new RegistryError('ERR_REGISTRY', `${what}: the registry sent no Location header`);
  return new URL(value, base);
}

/** Appends a query parameter without re-encoding what is already there. */
export function withQuery(url: URL, name: string, value: string): string {
  const text = url.toString();
  const hash = text.indexOf('#');
  const base = hash >= 0 ? text.slice(0, hash) : text;
  return `${base}${url.search ? '&' : '?'}${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

/** The first value of a header. */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
