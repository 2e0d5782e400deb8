/**
 * Bounds on what a registry may send: the size of each kind of response the client reads
 * whole (manifests, image configs, tag pages, token responses, error bodies), the number of
 * tag pages, and the waits (connect, idle, low speed). Every bound is an option of the
 * registry client; hitting one throws a `LimitExceededError` or `TimeoutError` naming the
 * option, so the message itself says how to raise it (docs/limits.md).
 * @module
 */
import { InvalidArgumentError, LimitExceededError } from '../errors.ts';
import { DOCKER_CONFIG, OCI_CONFIG } from '../oci/mediatypes.ts';
import type { ResponseLike } from './response-errors.ts';

/**
 * Size, count and time bounds of the registry client; every field is optional in the client options.
 * @category Registry
 */
export interface RegistryLimits {
  /** Largest manifest or index read or pushed, in bytes (default 4 MiB, as distribution and containerd). */
  maxManifestBytes: number;
  /** Largest image config read, in bytes (default 32 MiB); checked against the descriptor before any byte is fetched. */
  maxConfigBytes: number;
  /** Largest page of a tag list, in bytes (default 8 MiB). */
  maxTagPageBytes: number;
  /** Most pages of a tag list followed through `Link` headers (default 1,000). */
  maxTagPages: number;
  /** Largest token-service response, in bytes (default 1 MiB). */
  maxTokenResponseBytes: number;
  /** Bytes of an error body read for its message (default 64 KiB); the rest is discarded unread. */
  maxErrorBodyBytes: number;
  /** Time allowed to open a connection, TLS handshake included, in ms (default 30,000, as Go's and ggcr's dialer). */
  connectTimeoutMs: number;
  /**
   * Time allowed without receiving a byte while a response is awaited or read, in ms
   * (default 60,000). A reader that is not asking for data (back-pressure) does not count.
   */
  idleTimeoutMs: number;
  /**
   * Least average speed of a response body, in bytes per second, measured over each
   * `idleTimeoutMs` window (default 1,024; 0 disables): a registry trickling a byte now and then
   * is cut off instead of holding the build for hours.
   */
  minBytesPerSecond: number;
}

/**
 * The default limits (docs/limits.md lists them).
 * @category Registry
 */
export const DEFAULT_REGISTRY_LIMITS: Readonly<RegistryLimits> = Object.freeze({
  maxManifestBytes: 4 * 1024 * 1024,
  maxConfigBytes: 32 * 1024 * 1024,
  maxTagPageBytes: 8 * 1024 * 1024,
  maxTagPages: 1000,
  maxTokenResponseBytes: 1024 * 1024,
  maxErrorBodyBytes: 64 * 1024,
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  minBytesPerSecond: 1024,
});

/**
 * The limits in force: defaults overridden by every defined field of `options`. Throws
 * `ERR_INVALID_ARGUMENT` for a negative, non-finite or zero value (0 is allowed for
 * `minBytesPerSecond` only, where it turns the check off).
 */
export function resolveLimits(options: Partial<RegistryLimits> & { timeoutMs?: number | undefined }): RegistryLimits {
  const limits: RegistryLimits = { ...DEFAULT_REGISTRY_LIMITS };
  // `timeoutMs` is the older name of the idle timeout.
  if (options.timeoutMs !== undefined && options.idleTimeoutMs === undefined) limits.idleTimeoutMs = options.timeoutMs;
  for (const key of Object.keys(DEFAULT_REGISTRY_LIMITS) as (keyof RegistryLimits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const zeroAllowed = key === 'minBytesPerSecond';
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
      throw new InvalidArgumentError(`registry client option ${key} must be a positive number, got ${String(value)}`);
    }
    limits[key] = value;
  }
  return limits;
}

/** True for the media types of image configs (OCI and Docker), the blobs read whole into memory. */
export function isConfigMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_CONFIG || mediaType === DOCKER_CONFIG;
}

/** The error for a response (or declared size) over a limit; `where` is a redacted URL or a name. */
export function limitExceeded(limit: keyof RegistryLimits, value: number, what: string, where: string): LimitExceededError {
  return new LimitExceededError(
    limit,
    value,
    `${what}: ${where} is larger than ${limit} (${value} bytes); raise the registry client option ${limit} if this is expected`,
  );
}

/**
 * Reads a response body whole, failing with `LimitExceededError` as soon as its declared
 * length or the bytes received pass `max`; the connection is then dropped, not drained.
 */
export async function readLimited(
  response: ResponseLike & { body: { destroy?: () => unknown } },
  limit: keyof RegistryLimits,
  max: number,
  what: string,
  where: string,
): Promise<Uint8Array> {
  const declaredText = response.headers['content-length'];
  const declared = Number(Array.isArray(declaredText) ? declaredText[0] : declaredText ?? NaN);
  if (declared > max) {
    response.body.destroy?.();
    throw limitExceeded(limit, max, what, where);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > max) {
      response.body.destroy?.();
      throw limitExceeded(limit, max, what, where);
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
