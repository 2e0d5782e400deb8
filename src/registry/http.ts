/**
 * The registry client's HTTP layer on undici: one pooled keep-alive `Agent`, the scheme of
 * each registry (found by a `/v2/` ping), authentication with one re-auth on 401, manual
 * redirects that drop `Authorization` across origins, error mapping, and the one retry loop.
 * @module
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { request, type Dispatcher } from 'undici';
import { createRegistryDispatcher, type ProxySettings } from './proxy.ts';
import { defaultCertsDirs, perHostConnector, sslCertFile } from './certs-d.ts';
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import { DOCKER_HUB_API_HOST, DOCKER_HUB_REGISTRY } from '../reference.ts';
import { Authenticator } from './auth.ts';
import { explainUnauthorized } from './auth-messages.ts';
import type { CredentialProvider } from './types.ts';
import { resolveLimits, type RegistryLimits } from './limits.ts';
import { errorFromNetwork, errorFromResponse, isNotTlsServer, readErrorText, type ResponseLike } from './response-errors.ts';
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from './retry.ts';
import { watchdogInterceptor } from './watchdog.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

/**
 * Connection settings of the HTTP layer, and the bounds on what a registry may send
 * ({@link RegistryLimits}: sizes, connect, idle and low-speed timeouts; see docs/limits.md).
 * @category Registry
 */
export interface HttpOptions extends Partial<RegistryLimits> {
  /** Credential provider. */
  credentials?: CredentialProvider;
  /** Registries (host or host:port) that may be reached over plain HTTP, after HTTPS is tried. */
  insecure?: readonly string[];
  /** Extra CA certificates: PEM text or file paths. Added to Node's bundled roots. */
  ca?: string | readonly string[];
  /** Do not verify TLS certificates (explicit opt-in). */
  skipTlsVerify?: boolean;
  /** Older name of `idleTimeoutMs` (used when that is not given). */
  timeoutMs?: number;
  /** Retry policy overrides. */
  retries?: Partial<Pick<RetryPolicy, 'count' | 'maxDelayMs' | 'baseDelayMs' | 'maxTotalMs'>>;
  /** `User-Agent` header. */
  userAgent?: string;
  /**
   * A dispatcher to use instead of the client's own Agent (tests, proxies). Its own connect and
   * header timeouts apply; the idle and low-speed watch on response bodies is added to it.
   */
  dispatcher?: Dispatcher;
  /** Proxies (`false`: none). Default: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` of the environment. */
  proxy?: ProxySettings | false;
  /** certs.d directories (`DIR/HOST[:PORT]/*.crt` per registry). Default: `OCIBUILD_CERTS_D` (colon-separated) when set, else podman's and Docker's. */
  certsDirs?: string[];
  /** Also trust the PEM file `SSL_CERT_FILE` names (default true). */
  sslCertFile?: boolean;
}

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

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** Host to send API requests to for a registry name (`docker.io` is served by `registry-1.docker.io`). */
export function apiHostOf(registry: string): string {
  return registry === DOCKER_HUB_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

/** True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port. */
export function isLoopback(host: string): boolean {
  // `[::1]:5000`, bare `::1` (more than one colon: no port), or `name:port`.
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':').length > 2 ? host : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function loadCa(ca: string | readonly string[] | undefined): string[] | undefined {
  if (ca === undefined) return undefined;
  const list = typeof ca === 'string' ? [ca] : ca;
  return list.map((entry) => {
    if (entry.includes('-----BEGIN')) return entry;
    try {
      return readFileSync(entry, 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`cannot read CA certificate file ${entry}`, { cause: error });
    }
  });
}

/** The HTTP layer shared by every operation of one client. */
export class RegistryHttp {
  /** Authentication state (exposed for the client's credential-free checks). */
  readonly auth: Authenticator;
  /** The retry policy in force. */
  readonly retryPolicy: RetryPolicy;
  /** The size and time bounds in force. */
  readonly limits: RegistryLimits;
  readonly #dispatcher: Dispatcher;
  readonly #ownAgent: Dispatcher | undefined;
  readonly #insecure: Set<string>;
  readonly #userAgent: string;
  readonly #bases = new Map<string, Promise<URL>>();
  readonly #credentials: CredentialProvider | undefined;

  constructor(options: HttpOptions = {}) {
    const limits = resolveLimits(options);
    this.limits = limits;
    const watchdog = watchdogInterceptor({ windowMs: limits.idleTimeoutMs, minBytesPerSecond: limits.minBytesPerSecond });
    if (options.dispatcher) {
      this.#dispatcher = options.dispatcher.compose(watchdog);
    } else {
      const extra = [...(loadCa(options.ca) ?? []), ...(options.sslCertFile !== false ? [sslCertFile()].filter((c): c is string => c !== undefined) : [])];
      // `ca` replaces Node's roots, so keep them next to the extra ones.
      const tls = { rejectUnauthorized: !options.skipTlsVerify, ...(extra.length ? { ca: [...rootCertificates, ...extra] } : {}) };
      this.#ownAgent = createRegistryDispatcher(
        {
          keepAliveTimeout: 30_000,
          headersTimeout: limits.idleTimeoutMs,
          bodyTimeout: limits.idleTimeoutMs,
          // certs.d CAs are per registry, so the connector picks them by host.
          connect: perHostConnector({ timeout: limits.connectTimeoutMs, ...tls }, options.certsDirs ?? defaultCertsDirs()),
        },
        options.proxy,
        tls,
      );
      this.#dispatcher = this.#ownAgent.compose(watchdog);
    }
    this.#credentials = options.credentials;
    this.#insecure = new Set(options.insecure ?? []);
    this.#userAgent = options.userAgent ?? 'ocibuild';
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...definedOnly(options.retries ?? {}) };
    this.auth = new Authenticator({
      ...(options.credentials ? { credentials: options.credentials } : {}),
      request: (url, init) => this.#raw(url, init.method as Dispatcher.HttpMethod, init.headers, init.body, init.signal),
      allowsPlainHttp: (registry) => this.allowsPlainHttp(registry),
      maxTokenResponseBytes: limits.maxTokenResponseBytes,
      timeouts: limits,
    });
  }

  /** True when plain HTTP may be used for `registry`: loopback, or listed as insecure. */
  allowsPlainHttp(registry: string): boolean {
    const host = apiHostOf(registry);
    return isLoopback(host) || this.#insecure.has(registry) || this.#insecure.has(host) || this.#insecure.has(host.replace(/:\d+$/, ''));
  }

  /**
   * The base URL of a registry (`https://host` or `http://host`), found once by pinging `/v2/`:
   * HTTPS first; plain HTTP only for loopback and insecure registries, and for loopback only
   * when the server does not speak TLS at all (a certificate error is never downgraded).
   * The ping also records the auth challenge.
   *
   * One ping, never retried here: the caller's retry loop (around the whole request) retries it,
   * so a failing registry sees at most one ping per attempt (house style rule 9). A failed ping
   * is forgotten, so the next attempt pings again.
   */
  base(registry: string, signal?: AbortSignal): Promise<URL> {
    let pending = this.#bases.get(registry);
    if (!pending) {
      pending = this.#ping(registry, signal);
      pending.catch(() => this.#bases.delete(registry));
      this.#bases.set(registry, pending);
    }
    return pending;
  }

  async #ping(registry: string, signal: AbortSignal | undefined): Promise<URL> {
    const host = apiHostOf(registry);
    const loopback = isLoopback(host);
    const plainAllowed = this.allowsPlainHttp(registry);
    const schemes = plainAllowed ? ['https', 'http'] : ['https'];
    let lastError: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${host}/v2/`);
      let response: ResponseLike;
      try {
        response = await this.#raw(url, 'GET', {}, undefined, signal);
      } catch (error) {
        lastError = error;
        // Loopback falls back only for "not a TLS server"; a listed insecure host on any failure
        // of HTTPS (as Docker does for insecure registries).
        if (scheme === 'https' && plainAllowed && (!loopback || isNotTlsServer(error))) continue;
        throw errorFromNetwork(error, `ping registry ${registry}`, url, this.limits);
      }
      const challenges = response.statusCode === 401 ? parseWwwAuthenticate(response.headers['www-authenticate']) : [];
      await response.body.dump?.();
      if (response.statusCode >= 500) {
        // Let the retry loop see a transient failure.
        throw await errorFromResponse(response, `ping registry ${registry}`, url, this.limits.maxErrorBodyBytes);
      }
      this.auth.setChallenges(registry, challenges);
      return new URL(`${scheme}://${host}`);
    }
    throw errorFromNetwork(lastError, `ping registry ${registry}`, new URL(`https://${host}/v2/`), this.limits);
  }

  /** Sends one request with auth, redirects, error mapping and (unless disabled) retries. */
  send(options: SendOptions): Promise<RegistryResponse> {
    const attempt = () => this.#attempt(options);
    return options.retry === false ? attempt() : withRetries(attempt, this.retryPolicy, options.signal);
  }

  async #attempt(options: SendOptions): Promise<RegistryResponse> {
    const { registry, scopes, signal } = options;
    const base = await this.base(registry, signal);
    const url = new URL(options.path, base);
    let authorization = await this.auth.authorization(registry, scopes, signal);
    for (let reauthorized = false; ; reauthorized = true) {
      const response = await this.#exchange(url, options, authorization, base.origin);
      if (response.statusCode === 401 && !reauthorized) {
        const challenges = parseWwwAuthenticate(response.headers['www-authenticate']);
        const text = await readErrorText(response.body, this.limits.maxErrorBodyBytes);
        const next = await this.auth.reauthorize(registry, scopes, challenges, authorization, signal);
        if (next !== undefined) {
          authorization = next;
          continue;
        }
        // Nothing new to send: report this 401 with the registry's error body, and why.
        const error = await errorFromResponse({ statusCode: 401, headers: response.headers, body: textBody(text) }, options.what, response.url);
        throw explainUnauthorized(error, registry, await this.auth.credential(registry).catch(() => undefined), this.#credentials);
      }
      if (options.accept.includes(response.statusCode)) return response;
      const error = await errorFromResponse(response, options.what, response.url, this.limits.maxErrorBodyBytes);
      throw response.statusCode === 401
        ? explainUnauthorized(error, registry, await this.auth.credential(registry).catch(() => undefined), this.#credentials)
        : error;
    }
  }

  /** One request plus its redirects; `Authorization` goes only to the registry's own origin. */
  async #exchange(start: URL, options: SendOptions, authorization: string | undefined, origin: string): Promise<RegistryResponse> {
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
      let response: Dispatcher.ResponseData;
      try {
        response = await this.#rawResponse(url, method, headers, payload, options.signal);
      } catch (error) {
        if (bodyError !== undefined) throw bodyError;
        if (options.signal?.aborted) throw new OcibuildError('ERR_ABORTED', `${options.what}: aborted`, { cause: options.signal.reason });
        throw errorFromNetwork(error, options.what, url, this.limits);
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

  #rawResponse(
    url: URL,
    method: Dispatcher.HttpMethod,
    headers: Record<string, string>,
    body: string | Uint8Array | AsyncIterable<Uint8Array> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    return request(url, {
      dispatcher: this.#dispatcher,
      method,
      headers: { 'user-agent': this.#userAgent, ...headers },
      ...(body !== undefined ? { body: body as Dispatcher.DispatchOptions['body'] } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  #raw(
    url: URL,
    method: Dispatcher.HttpMethod,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ResponseLike> {
    return this.#rawResponse(url, method, headers, body, signal);
  }

  /** Closes the client's own Agent (not a dispatcher passed in). */
  async close(): Promise<void> {
    await this.#ownAgent?.close();
  }
}

function textBody(text: string): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield Buffer.from(text, 'utf8');
  })();
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
