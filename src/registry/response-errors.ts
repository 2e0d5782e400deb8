/**
 * Turning failed registry responses and network failures into `RegistryError`s with a stable
 * code, the HTTP status, the registry's error codes, and a URL with nothing secret in it.
 * @module
 */
import type { ErrorCode } from '../errors.ts';
import { OcibuildError, RegistryError, TimeoutError } from '../errors.ts';
import { errorCodes, parseRetryAfter } from './retry.ts';

/** The JSON error body of the distribution spec: `{ errors: [{ code, message, detail }] }`. */
export interface RegistryErrorBody {
  /** Error codes (`MANIFEST_UNKNOWN`, `DENIED`, ...). */
  codes: string[];
  /** Human messages, in the same order. */
  messages: string[];
}

/** Default bytes of an error body read (registries send a few hundred bytes; a proxy may send a page). */
const MAX_ERROR_BODY = 64 * 1024;

/** A URL for messages: no user info, no query string (upload `_state` tokens and signed storage URLs live there). */
export function safeUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** Parses a distribution-spec error body; anything else gives empty lists. */
export function parseErrorBody(text: string): RegistryErrorBody {
  const out: RegistryErrorBody = { codes: [], messages: [] };
  try {
    const doc = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(doc.errors)) {
      for (const e of doc.errors as { code?: unknown; message?: unknown }[]) {
        if (typeof e?.code === 'string') out.codes.push(e.code);
        if (typeof e?.message === 'string') out.messages.push(e.message.slice(0, 200));
      }
    }
  } catch {
    // not JSON: no codes
  }
  return out;
}

/** The error code for an HTTP status. */
function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'ERR_REGISTRY_UNAUTHORIZED';
  if (status === 403) return 'ERR_REGISTRY_DENIED';
  if (status === 404) return 'ERR_REGISTRY_NOT_FOUND';
  return 'ERR_REGISTRY';
}

/** The minimal response shape read here (undici's `ResponseData` fits). */
export interface ResponseLike {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array> & { dump?: () => Promise<void>; destroy?: () => unknown };
}

/**
 * Reads at most `max` bytes of a body as text. The rest is not read: the connection is dropped
 * instead, so an endless error body costs nothing (a registry's own are a few hundred bytes).
 */
export async function readErrorText(body: ResponseLike['body'], max: number = MAX_ERROR_BODY): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total >= max) {
        body.destroy?.();
        break;
      }
    }
  } catch {
    // a broken error body still leaves the status to report
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/**
 * Builds the error for a response with an unexpected status. `what` says what was attempted
 * (`pull manifest latest of library/busybox`). Reads (and so consumes) the body.
 */
export async function errorFromResponse(
  response: ResponseLike,
  what: string,
  url: string | URL,
  maxErrorBodyBytes: number = MAX_ERROR_BODY,
): Promise<RegistryError> {
  const text = response.statusCode === 204 ? '' : await readErrorText(response.body, maxErrorBodyBytes);
  const body = parseErrorBody(text);
  const status = response.statusCode;
  const detail = body.codes.length > 0
    ? `: ${body.codes.map((c, i) => (body.messages[i] ? `${c} (${body.messages[i]})` : c)).join(', ')}`
    : '';
  const where = safeUrl(url);
  const error = new RegistryError(codeForStatus(status), `${what}: HTTP ${status} from ${where}${detail}`, {
    status,
    registryCodes: body.codes,
    url: where,
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
  });
  return error;
}

/** True when a network failure is about TLS (certificate or handshake), judged by its error codes. */
function isTlsFailure(error: unknown): boolean {
  return errorCodes(error).some((c) => /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/.test(c));
}

/** True when an HTTPS attempt failed because the server does not speak TLS at all. */
export function isNotTlsServer(error: unknown): boolean {
  const codes = errorCodes(error);
  const text = String((error as { message?: unknown })?.message ?? '') + String((error as { cause?: { message?: unknown } })?.cause?.message ?? '');
  return (
    codes.some((c) => c === 'ERR_SSL_WRONG_VERSION_NUMBER' || c === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || c === 'EPROTO') ||
    /wrong version number|packet length too long|http request/i.test(text)
  );
}

/** The undici error codes of its own timeouts, and the phase each is reported as. */
const UNDICI_TIMEOUTS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect',
  UND_ERR_HEADERS_TIMEOUT: 'idle',
  UND_ERR_BODY_TIMEOUT: 'idle',
};

/** The option that sets the timeout of each phase, named in messages. */
const TIMEOUT_OPTION: Record<string, string> = { connect: 'connectTimeoutMs', idle: 'idleTimeoutMs' };

/**
 * Wraps a network failure (connection refused, reset, TLS) as a `RegistryError` naming the URL;
 * a timeout (undici's connect, headers and body timeouts, or the watchdog's) becomes a
 * `TimeoutError`, and other ocibuild errors pass through. `timeouts` gives the settings in force
 * for the message.
 */
export function errorFromNetwork(
  error: unknown,
  what: string,
  url: string | URL,
  timeouts: { connectTimeoutMs?: number; idleTimeoutMs?: number } = {},
): OcibuildError {
  if (error instanceof TimeoutError) {
    return new TimeoutError(error.phase, error.timeoutMs, `${what}: ${error.message}`, { cause: error });
  }
  if (error instanceof OcibuildError) return error;
  const where = safeUrl(url);
  const codes = errorCodes(error);
  // undici's own abort (the caller's signal fired): not a network failure.
  if (codes.includes('UND_ERR_ABORTED') || (error as { name?: unknown })?.name === 'AbortError') {
    return new OcibuildError('ERR_ABORTED', `${what}: aborted`, { cause: error });
  }
  const phase = codes.map((c) => UNDICI_TIMEOUTS[c]).find((p) => p !== undefined);
  if (phase !== undefined) {
    const option = TIMEOUT_OPTION[phase]!;
    const ms = phase === 'connect' ? timeouts.connectTimeoutMs : timeouts.idleTimeoutMs;
    const after = ms === undefined ? '' : ` within ${ms} ms`;
    const doing = phase === 'connect' ? 'could not connect to' : 'got no data from';
    return new TimeoutError(phase, ms ?? 0, `${what}: ${doing} ${where}${after}; raise the registry client option ${option} if the registry is this slow`, {
      cause: error,
    });
  }
  const reason = codes[codes.length - 1] ?? (error as Error)?.message ?? String(error);
  if (isTlsFailure(error)) {
    return new RegistryError('ERR_REGISTRY_TLS', `${what}: TLS failure talking to ${where} (${reason}); pass the registry's CA with \`ca\`, or skipTlsVerify`, {
      url: where,
      cause: error,
    });
  }
  return new RegistryError('ERR_REGISTRY', `${what}: cannot reach ${where} (${reason})`, { url: where, cause: error });
}
