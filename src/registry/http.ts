/**
 * The registry client's HTTP layer: it puts the units together and owns the one retry loop.
 * Each concern lives in its own small module: connections and TLS trust (`agent.ts`), the
 * scheme of each registry found by a `/v2/` ping (`scheme.ts`), authentication with one
 * re-auth on 401 (`authorized.ts`, `auth.ts`), manual redirects that drop `Authorization`
 * across origins (`redirects.ts`), and error mapping (`response-errors.ts`).
 * @module
 */
import type { Dispatcher } from 'undici';
import { request } from './undici-lib.ts';
import type { ProxySettings } from './proxy.ts';
import { createAgent } from './agent.ts';
import { Authenticator } from './auth.ts';
import { sendAuthorized, type AuthorizedContext } from './authorized.ts';
import type { CredentialProvider } from './types.ts';
import { resolveLimits, type RegistryLimits } from './limits.ts';
import type { ResponseLike } from './response-errors.ts';
import type { RegistryResponse, SendOptions, SendRaw } from './request.ts';
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from './retry.ts';
import { RegistryBases } from './scheme.ts';

export type { RegistryResponse, SendOptions } from './request.ts';
export { apiHostOf, isLoopback } from './scheme.ts';

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

/** The HTTP layer shared by every operation of one client. */
export class RegistryHttp {
  /** Authentication state (exposed for the client's credential-free checks). */
  readonly auth: Authenticator;
  /** The retry policy in force. */
  readonly retryPolicy: RetryPolicy;
  /** The size and time bounds in force. */
  readonly limits: RegistryLimits;
  readonly #ownAgent: Dispatcher | undefined;
  readonly #bases: RegistryBases;
  readonly #context: AuthorizedContext;

  constructor(options: HttpOptions = {}) {
    const limits = resolveLimits(options);
    this.limits = limits;
    const { dispatcher, own } = createAgent(options, limits);
    this.#ownAgent = own;
    const userAgent = options.userAgent ?? 'ocibuild';
    const send: SendRaw = (url, method, headers, body, signal) =>
      request(url, {
        dispatcher,
        method,
        headers: { 'user-agent': userAgent, ...headers },
        body: body as Dispatcher.DispatchOptions['body'],
        signal,
      });
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...definedOnly(options.retries ?? {}) };
    const bases = new RegistryBases({
      send,
      insecure: options.insecure ?? [],
      limits,
      onChallenges: (registry, challenges) => this.auth.setChallenges(registry, challenges),
    });
    this.#bases = bases;
    this.auth = new Authenticator({
      credentials: options.credentials,
      request: (url, init): Promise<ResponseLike> => send(url, init.method as Dispatcher.HttpMethod, init.headers, init.body, init.signal),
      allowsPlainHttp: (registry) => bases.allowsPlainHttp(registry),
      maxTokenResponseBytes: limits.maxTokenResponseBytes,
      timeouts: limits,
    });
    this.#context = { bases, auth: this.auth, send, limits, credentials: options.credentials };
  }

  /** True when plain HTTP may be used for `registry`: loopback, or listed as insecure. */
  allowsPlainHttp(registry: string): boolean {
    return this.#bases.allowsPlainHttp(registry);
  }

  /** The base URL of a registry, found once by a ping (see `RegistryBases.base`); never retried here. */
  base(registry: string, signal?: AbortSignal): Promise<URL> {
    return this.#bases.base(registry, signal);
  }

  /** Sends one request with auth, redirects, error mapping and (unless disabled) retries. */
  send(options: SendOptions): Promise<RegistryResponse> {
    const attempt = () => sendAuthorized(this.#context, options);
    return options.retry === false ? attempt() : withRetries(attempt, this.retryPolicy, options.signal);
  }

  /** Closes the client's own Agent (not a dispatcher passed in). */
  async close(): Promise<void> {
    await this.#ownAgent?.close();
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
