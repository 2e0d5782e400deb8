/**
 * The shapes one registry request is made of, shared by the HTTP layer's units (scheme probing,
 * auth, redirects) and the operations above them. Types only.
 * @module
 */
import type { Dispatcher } from 'undici';
import type { ResponseLike } from './response-errors.ts';

/** A response as the client's operations see it. */
export interface RegistryResponse extends ResponseLike {
  /** The URL that answered (after redirects). */
  url: URL;
  /** undici body with its helpers. */
  body: Dispatcher.ResponseData['body'];
}

/** One request to a registry. */
export interface SendOptions {
  /** Registry as in references (`docker.io`, `localhost:5000`). */
  registry: string;
  /** HTTP method. */
  method: Dispatcher.HttpMethod;
  /** Path from the registry root (`/v2/...`), or an absolute URL (a `Location` header). */
  path: string;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Body factory, called once per attempt so retries resend from the first byte. */
  body?: () => Uint8Array | AsyncIterable<Uint8Array>;
  /** Auth scopes the request needs (`repository:NAME:pull`). */
  scopes: readonly string[];
  /** Statuses returned to the caller; anything else throws a `RegistryError`. */
  accept: readonly number[];
  /** What is being done, for messages (`pull manifest latest of app`). */
  what: string;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Retry transient failures here (default true); false when the caller retries a larger unit. */
  retry?: boolean;
}

/** Sends one HTTP request as is: no auth, redirects, retries or error mapping. */
export type SendRaw = (
  url: URL,
  method: Dispatcher.HttpMethod,
  headers: Record<string, string>,
  body: string | Uint8Array | AsyncIterable<Uint8Array> | undefined,
  signal: AbortSignal | undefined,
) => Promise<Dispatcher.ResponseData>;
