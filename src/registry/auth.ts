/**
 * Registry authentication: what each registry asked for at its `/v2/` ping (nothing, Basic or
 * Bearer), Basic headers from credentials, and the Bearer token flow of the distribution
 * token spec (GET the realm with `service` and `scope`s; POST an OAuth2 form with a refresh
 * token for identity tokens), with a token cache per registry and scope set.
 *
 * Secrets (passwords, tokens) are only ever put in headers; errors name the realm without its
 * query string and never echo a response body from the token service.
 * @module
 */
import { RegistryError, OcibuildError } from '../errors.ts';
import type { Credential, CredentialProvider } from './types.ts';
import { noCredentialsText, rejectedText } from './auth-messages.ts';
import { readLimited } from './limits.ts';
import { errorFromNetwork, readErrorText, safeUrl, type ResponseLike } from './response-errors.ts';
import { parseRetryAfter } from './retry.ts';
import { challengeScopes, type AuthChallenge } from './www-authenticate.ts';

/** A minimal request function without auth, retries or redirects (the client's HTTP layer). */
export type RawRequest = (
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<ResponseLike>;

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** Where credentials come from. */
  credentials?: CredentialProvider;
  /** Sends one request (no auth, no redirects). */
  request: RawRequest;
  /** True when the registry may be spoken to over plain HTTP (loopback or listed insecure): its realm may be http too. */
  allowsPlainHttp(registry: string): boolean;
  /** Sent as `client_id` in OAuth2 POSTs. */
  clientId?: string;
  /** Largest token response read (default 1 MiB). */
  maxTokenResponseBytes?: number;
  /** The timeouts in force, for messages. */
  timeouts?: { connectTimeoutMs?: number; idleTimeoutMs?: number };
}

/** Default token lifetime when the token service does not say (distribution token spec: 60 s). */
const DEFAULT_EXPIRES_IN_S = 60;
/** Renew tokens a little before they expire so a request does not race the expiry. */
const EXPIRY_MARGIN_MS = 5_000;

interface CachedToken {
  scopes: Map<string, Set<string>>;
  authorization: string;
  expiresAt: number;
}

/** Parses `type:name:a,b` scopes into `type:name` → actions (a name may contain ':' only with a port, so split at the last one). */
function scopeMap(scopes: readonly string[]): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const last = scope.lastIndexOf(':');
    if (last <= 0) continue;
    const key = scope.slice(0, last);
    const set = map.get(key) ?? new Set<string>();
    for (const action of scope.slice(last + 1).split(',')) if (action) set.add(action);
    map.set(key, set);
  }
  return map;
}

function covers(have: Map<string, Set<string>>, want: Map<string, Set<string>>): boolean {
  for (const [key, actions] of want) {
    const got = have.get(key);
    if (!got) return false;
    for (const action of actions) if (!got.has(action) && !got.has('*')) return false;
  }
  return true;
}

/** Merges scope lists, joining the actions of equal resources (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`). */
export function mergeScopes(...lists: (readonly string[])[]): string[] {
  const map = scopeMap(lists.flat());
  return [...map].map(([key, actions]) => `${key}:${[...actions].sort().join(',')}`).sort();
}

/** Per-registry authentication state and the token flow. */
export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #challenges = new Map<string, AuthChallenge | undefined>();
  readonly #tokens = new Map<string, CachedToken[]>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();
  readonly #credentials = new Map<string, Promise<Credential | undefined>>();

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
  }

  /** Records what the registry asked for (from its ping, or a later 401). Bearer wins over Basic. */
  setChallenges(registry: string, challenges: AuthChallenge[]): void {
    const pick = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    this.#challenges.set(registry, pick);
  }

  /** The credential for a registry, looked up once per client. */
  credential(registry: string): Promise<Credential | undefined> {
    let pending = this.#credentials.get(registry);
    if (!pending) {
      pending = this.#options.credentials ? this.#options.credentials(registry) : Promise.resolve(undefined);
      pending.catch(() => this.#credentials.delete(registry));
      this.#credentials.set(registry, pending);
    }
    return pending;
  }

  /** The `Authorization` header value for a request needing `scopes`, or undefined when none is needed. */
  async authorization(registry: string, scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.#challenges.get(registry);
    if (!challenge) return undefined;
    const credential = await this.credential(registry);
    if (challenge.scheme === 'basic') return basicHeader(credential);
    if (credential && 'registryToken' in credential) return `Bearer ${credential.registryToken}`;
    const want = scopeMap(scopes);
    const now = Date.now();
    const cached = (this.#tokens.get(registry) ?? []).find((t) => t.expiresAt > now && covers(t.scopes, want));
    if (cached) return cached.authorization;
    return (await this.#fetchToken(registry, challenge, mergeScopes(scopes), credential, signal)).authorization;
  }

  /**
   * After a 401: learns the challenge it carried, forgets cached tokens for these scopes, and
   * returns a fresh `Authorization` for the requested scopes plus any the challenge names, or
   * undefined when there is nothing new to try.
   */
  async reauthorize(
    registry: string,
    scopes: readonly string[],
    challenges: AuthChallenge[],
    sent: string | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (challenges.length > 0) this.setChallenges(registry, challenges);
    const challenge = this.#challenges.get(registry);
    if (!challenge) return undefined;
    const named = challenge.scheme === 'bearer' ? challengeScopes(challenge) : [];
    const all = mergeScopes(scopes, named);
    const want = scopeMap(all);
    const kept = (this.#tokens.get(registry) ?? []).filter((t) => !covers(t.scopes, want) && t.authorization !== sent);
    this.#tokens.set(registry, kept);
    const next = await this.authorization(registry, all, signal);
    return next !== undefined && next !== sent ? next : undefined;
  }

  async #fetchToken(
    registry: string,
    challenge: AuthChallenge,
    scopes: string[],
    credential: Credential | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    const key = `${registry} ${scopes.join(' ')}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#requestToken(registry, challenge, scopes, credential, signal).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const token = await pending;
    const list = (this.#tokens.get(registry) ?? []).filter((t) => t.expiresAt > Date.now());
    list.push(token);
    this.#tokens.set(registry, list);
    return token;
  }

  async #requestToken(
    registry: string,
    challenge: AuthChallenge,
    scopes: string[],
    credential: Credential | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    const realmText = challenge.params['realm'];
    let realm: URL;
    try {
      realm = new URL(realmText ?? '');
    } catch {
      throw new RegistryError('ERR_REGISTRY', `registry ${registry} sent a Bearer challenge without a valid realm`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.#options.allowsPlainHttp(registry))) {
      throw new RegistryError(
        'ERR_REGISTRY',
        `registry ${registry} names token realm ${safeUrl(realm)}, which is not https; refusing to send credentials there`,
        { url: safeUrl(realm) },
      );
    }
    const service = challenge.params['service'];
    const headers: Record<string, string> = { accept: 'application/json' };
    let method = 'GET';
    let body: string | undefined;
    const url = new URL(realm);
    if (credential && 'identityToken' in credential) {
      // OAuth2 refresh-token grant (what Docker does with `identitytoken`).
      method = 'POST';
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', credential.identityToken);
      form.set('client_id', this.#options.clientId ?? 'ocibuild');
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const basic = basicHeader(credential);
      if (basic) headers['authorization'] = basic;
    }
    let response: ResponseLike;
    try {
      response = await this.#options.request(url, { method, headers, ...(body ? { body } : {}), signal });
    } catch (error) {
      throw errorFromNetwork(error, `get a token for ${registry}`, realm, this.#options.timeouts);
    }
    const where = safeUrl(realm);
    if (response.statusCode !== 200) {
      await readErrorText(response.body, 4096);
      const status = response.statusCode;
      const denied = status === 401 || status === 403;
      const why = credential === undefined ? noCredentialsText(registry, this.#options.credentials) : rejectedText(registry, credential, `its token service ${where}`);
      const error = new RegistryError(
        denied ? 'ERR_REGISTRY_UNAUTHORIZED' : 'ERR_REGISTRY',
        denied ? `${why} (HTTP ${status})` : `token service ${where} for ${registry} answered HTTP ${status}`,
        { status, url: where, retryAfterMs: parseRetryAfter(response.headers['retry-after']) },
      );
      throw error;
    }
    const max = this.#options.maxTokenResponseBytes ?? 1024 * 1024;
    let text: string;
    try {
      text = Buffer.from(await readLimited(response, 'maxTokenResponseBytes', max, `get a token for ${registry}`, `the response of ${where}`)).toString('utf8');
    } catch (error) {
      throw errorFromNetwork(error, `get a token for ${registry}`, realm, this.#options.timeouts);
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch (error) {
      throw new RegistryError('ERR_REGISTRY', `token service ${where} for ${registry} sent a response that is not JSON`, { url: where, cause: error });
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
    if (!token) throw new RegistryError('ERR_REGISTRY', `token service ${where} for ${registry} sent no token`, { url: where });
    const expiresIn = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_EXPIRES_IN_S;
    return {
      scopes: scopeMap(scopes),
      authorization: `Bearer ${token}`,
      expiresAt: Date.now() + Math.max(expiresIn * 1000 - EXPIRY_MARGIN_MS, 1000),
    };
  }
}

/** `Basic base64(user:password)` for a username/password credential, else undefined. */
function basicHeader(credential: Credential | undefined): string | undefined {
  if (!credential || !('password' in credential)) return undefined;
  if (credential.username.includes(':')) {
    throw new OcibuildError('ERR_CREDENTIALS', 'a registry user name must not contain ":" (Basic auth cannot carry it)');
  }
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}
