/**
 * Which scheme a registry is spoken to over: HTTPS, or plain HTTP for loopback and listed
 * insecure registries, found once per registry by pinging `/v2/` (which also records the auth
 * challenge the registry answers with).
 * @module
 */
import { DOCKER_HUB_API_HOST, DOCKER_HUB_REGISTRY } from '../reference.ts';
import type { RegistryLimits } from './limits.ts';
import type { SendRaw } from './request.ts';
import { errorFromNetwork, errorFromResponse, isNotTlsServer } from './response-errors.ts';
import { errorCodes } from './retry.ts';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.ts';

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

/** What {@link RegistryBases} needs from the HTTP layer. */
export interface RegistryBasesOptions {
  /** Sends the ping as is. */
  send: SendRaw;
  /** Registries (host or host:port) that may be reached over plain HTTP, after HTTPS is tried. */
  insecure: readonly string[];
  /** The bounds in force, for error messages. */
  limits: RegistryLimits;
  /** Told the challenges of a registry's ping (none unless it answered 401). */
  onChallenges(registry: string, challenges: AuthChallenge[]): void;
}

/** The base URL of each registry, found by a ping and remembered while it works. */
export class RegistryBases {
  readonly #options: RegistryBasesOptions;
  readonly #insecure: Set<string>;
  readonly #bases = new Map<string, Promise<URL>>();

  constructor(options: RegistryBasesOptions) {
    this.#options = options;
    this.#insecure = new Set(options.insecure);
  }

  /** True when plain HTTP may be used for `registry`: loopback, or listed as insecure. */
  allowsPlainHttp(registry: string): boolean {
    const host = apiHostOf(registry);
    return isLoopback(host) || this.#insecure.has(registry) || this.#insecure.has(host) || this.#insecure.has(host.replace(/:\d+$/, ''));
  }

  /**
   * The base URL of a registry (`https://host` or `http://host`), found once by pinging `/v2/`.
   * A loopback registry is asked over plain HTTP first and over HTTPS only when the answer is not
   * a registry's (a TLS server answers 400 or drops the connection), so it costs no TLS set-up when it does not
   * speak TLS; the scheme chosen is the one the server speaks, as with HTTPS first, and a
   * certificate error on the HTTPS attempt is never downgraded. Any other registry: HTTPS first;
   * plain HTTP after it only for a host listed as insecure (on any failure of HTTPS, as Docker
   * does for insecure registries).
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
    if (isLoopback(host)) return this.#pingLoopback(registry, host, signal);
    const { send, limits } = this.#options;
    const schemes = this.allowsPlainHttp(registry) ? (['https', 'http'] as const) : (['https'] as const);
    let lastError: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${host}/v2/`);
      let response: Awaited<ReturnType<SendRaw>>;
      try {
        response = await send(url, 'GET', {}, undefined, signal);
      } catch (error) {
        lastError = error;
        if (scheme === 'https' && schemes.length > 1) continue;
        throw errorFromNetwork(error, `ping registry ${registry}`, url, limits);
      }
      return this.#accept(registry, url, response);
    }
    throw errorFromNetwork(lastError, `ping registry ${registry}`, new URL(`https://${host}/v2/`), limits);
  }

  /**
   * Plain HTTP first, kept when it gets a registry's answer (200, 401; a 5xx is thrown for the
   * retry loop). A TLS server answers a plain request with 400 (Go, nginx), a redirect (a proxy
   * sending plain HTTP to https) or by closing the connection (OpenSSL, Node); then HTTPS is
   * tried, and its answer or error is final, except that a server which turns out not to speak
   * TLS either keeps the plain answer it gave (any status below 500 is accepted, as before).
   */
  async #pingLoopback(registry: string, host: string, signal: AbortSignal | undefined): Promise<URL> {
    const { send, limits } = this.#options;
    const plainUrl = new URL(`http://${host}/v2/`);
    let plain: Awaited<ReturnType<SendRaw>> | undefined;
    let plainError: unknown;
    try {
      plain = await send(plainUrl, 'GET', {}, undefined, signal);
    } catch (error) {
      // Nothing listening (or aborted): HTTPS would meet the same.
      if (signal?.aborted || !mayBeTlsServer(error)) throw errorFromNetwork(error, `ping registry ${registry}`, plainUrl, limits);
      plainError = error;
    }
    // 200 and 401 are the answers of a registry's ping; a 5xx goes to the retry loop as ever.
    if (plain !== undefined && (plain.statusCode === 200 || plain.statusCode === 401 || plain.statusCode >= 500)) return this.#accept(registry, plainUrl, plain);
    if (plain !== undefined) await plain.body.dump();
    const tlsUrl = new URL(`https://${host}/v2/`);
    let secure: Awaited<ReturnType<SendRaw>>;
    try {
      secure = await send(tlsUrl, 'GET', {}, undefined, signal);
    } catch (error) {
      if (!isNotTlsServer(error)) throw errorFromNetwork(error, `ping registry ${registry}`, tlsUrl, limits);
      // Not TLS either: the plain server answered 400 to the ping (accepted, as any answer below
      // 500 is), or broke the exchange (its error is the one to report).
      if (plain === undefined) throw errorFromNetwork(plainError, `ping registry ${registry}`, plainUrl, limits);
      this.#options.onChallenges(registry, []);
      return new URL(`http://${host}`);
    }
    return this.#accept(registry, tlsUrl, secure);
  }

  /** Records the challenges of a ping's answer and returns the base URL, or throws on a 5xx. */
  async #accept(registry: string, url: URL, response: Awaited<ReturnType<SendRaw>>): Promise<URL> {
    const challenges = response.statusCode === 401 ? parseWwwAuthenticate(response.headers['www-authenticate']) : [];
    await response.body.dump();
    if (response.statusCode >= 500) {
      // Let the retry loop see a transient failure.
      throw await errorFromResponse(response, `ping registry ${registry}`, url, this.#options.limits.maxErrorBodyBytes);
    }
    this.#options.onChallenges(registry, challenges);
    return new URL(`${url.protocol}//${url.host}`);
  }
}

/**
 * True when a plain-HTTP request's failure may come from a TLS server (the connection was made
 * and then dropped or answered with bytes that are not HTTP); false when nothing answered at all.
 */
function mayBeTlsServer(error: unknown): boolean {
  const codes = errorCodes(error);
  return !codes.some((c) => c === 'ECONNREFUSED' || c === 'EHOSTUNREACH' || c === 'EADDRNOTAVAIL' || c === 'ENOTFOUND' || c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'UND_ERR_ABORTED' || c === 'ABORT_ERR');
}
