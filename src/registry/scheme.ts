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
   * The base URL of a registry (`https://host` or `http://host`), found once by pinging `/v2/`:
   * HTTPS first; plain HTTP only for loopback and insecure registries, and for loopback only
   * when the server does not speak TLS at all (a certificate error is never downgraded).
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
    const { send, limits } = this.#options;
    const host = apiHostOf(registry);
    const loopback = isLoopback(host);
    const plainAllowed = this.allowsPlainHttp(registry);
    const schemes = plainAllowed ? ['https', 'http'] : ['https'];
    let lastError: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${host}/v2/`);
      let response: Awaited<ReturnType<SendRaw>>;
      try {
        response = await send(url, 'GET', {}, undefined, signal);
      } catch (error) {
        lastError = error;
        // Loopback falls back only for "not a TLS server"; a listed insecure host on any failure
        // of HTTPS (as Docker does for insecure registries).
        if (scheme === 'https' && plainAllowed && (!loopback || isNotTlsServer(error))) continue;
        throw errorFromNetwork(error, `ping registry ${registry}`, url, limits);
      }
      const challenges = response.statusCode === 401 ? parseWwwAuthenticate(response.headers['www-authenticate']) : [];
      await response.body.dump();
      if (response.statusCode >= 500) {
        // Let the retry loop see a transient failure.
        throw await errorFromResponse(response, `ping registry ${registry}`, url, limits.maxErrorBodyBytes);
      }
      this.#options.onChallenges(registry, challenges);
      return new URL(`${scheme}://${host}`);
    }
    throw errorFromNetwork(lastError, `ping registry ${registry}`, new URL(`https://${host}/v2/`), limits);
  }
}
