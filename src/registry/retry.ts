/**
 * The retry policy: which failures are worth another try, how long to wait (exponential
 * backoff with full jitter, `Retry-After` honoured), and the one retry loop every registry
 * operation goes through. Retrying happens at exactly one level (house style rule 9): a
 * request is retried by its operation's loop, never also by a loop around it.
 * @module
 */
import { OcibuildError, RegistryError, TimeoutError, throwIfAborted } from '../errors.ts';

/** How often and how long to retry. */
export interface RetryPolicy {
  /** Retries after the first attempt (default 5). */
  count: number;
  /** First backoff step in ms (default 200). */
  baseDelayMs: number;
  /** Longest single wait in ms (default 10,000). */
  maxDelayMs: number;
  /** Give up when a further wait would end after this many ms since the first attempt (default 120,000). */
  maxTotalMs: number;
}

/** The default retry policy. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { count: 5, baseDelayMs: 200, maxDelayMs: 10_000, maxTotalMs: 120_000 };

/** HTTP statuses that mean "try again later". */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Registry error codes (distribution spec and Docker Hub) that mean "try again later". */
const RETRYABLE_REGISTRY_CODES: ReadonlySet<string> = new Set(['TOOMANYREQUESTS', 'UNAVAILABLE', 'BLOB_UPLOAD_UNKNOWN_TRANSIENT']);

/** Network error codes worth a new connection (Node and undici names). */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_REQ_RETRY',
]);

/**
 * Parses `Retry-After` (delay-seconds or an HTTP date) into milliseconds from `now`.
 * Returns undefined when absent or unparseable; never negative.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Backoff before retry number `attempt` (0-based): full jitter over `base * 2^attempt`, capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  // Half fixed, half random: always some wait, still spread out across clients.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The error codes in an error's `cause` chain (Node `code` and undici `code`). */
export function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}

/**
 * True when a failure is transient: a network reset/timeout, a retryable status or registry code.
 * A `TimeoutError` is retried like a reset (a new connection may well be faster); the retry
 * policy's count and `maxTotalMs` bound the whole.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof TimeoutError) return true;
  if (error instanceof RegistryError) {
    if (error.status !== undefined && RETRYABLE_STATUSES.has(error.status)) return true;
    if (error.registryCodes.some((c) => RETRYABLE_REGISTRY_CODES.has(c))) return true;
    // A network failure wrapped by us keeps the original as its cause.
    if (error.status === undefined && error.code === 'ERR_REGISTRY') return isNetworkRetryable(error.cause);
    return false;
  }
  if (error instanceof OcibuildError) return false;
  return isNetworkRetryable(error);
}

function isNetworkRetryable(error: unknown): boolean {
  return errorCodes(error).some((c) => RETRYABLE_NETWORK_CODES.has(c));
}

/** Sleeps `ms`, rejecting with `ERR_ABORTED` when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new OcibuildError('ERR_ABORTED', 'operation aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error is thrown, or the policy is spent.
 * Waits the larger of the backoff and the failure's `Retry-After`; gives up early when that
 * wait would pass `maxTotalMs`. `attempt` receives the 0-based attempt number. `retryAlso`
 * makes more failures retryable for this one operation (given the error and the attempt
 * number), inside the same loop and budget, so that no operation needs a loop of its own.
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
  retryAlso?: (error: unknown, n: number) => boolean,
): Promise<T> {
  const start = Date.now();
  for (let n = 0; ; n++) {
    throwIfAborted(signal);
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= policy.count || signal?.aborted || !(isRetryable(error) || retryAlso?.(error, n) === true)) throw error;
      const retryAfter = error instanceof RegistryError ? error.retryAfterMs : undefined;
      const delay = Math.max(backoffDelay(n, policy), Math.min(retryAfter ?? 0, policy.maxTotalMs));
      if (Date.now() + delay - start > policy.maxTotalMs) throw error;
      await sleep(delay, signal);
    }
  }
}
