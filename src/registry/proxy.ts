/**
 * Proxies for registry traffic, read from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (and lower-case),
 * as Go's `httpproxy` reads them for Docker, containerd and containers/image: https through the
 * proxy with CONNECT, plain http as absolute-form requests, `NO_PROXY` entries (`host`,
 * `host:port`, `.domain`, `*.domain`, `*`) bypass it, and loopback is never proxied (Go's rule:
 * a local registry stays reachable when a corporate proxy is set).
 * @module
 */
import type { Agent as AgentClass, Dispatcher, EnvHttpProxyAgent as EnvHttpProxyAgentClass } from 'undici';
import { Agent, EnvHttpProxyAgent } from './undici-lib.ts';
import { OcibuildError } from '../errors.ts';

/**
 * Proxy settings of a registry client; fields left out are read from the environment.
 * @category Registry
 */
export interface ProxySettings {
  /** Proxy for `http://` registries (`HTTP_PROXY`). */
  httpProxy?: string;
  /** Proxy for `https://` registries (`HTTPS_PROXY`, falling back to `HTTP_PROXY` as undici and curl do). */
  httpsProxy?: string;
  /** Comma-separated hosts that bypass the proxy (`NO_PROXY`). */
  noProxy?: string;
}

/** Loopback names, always added to `NO_PROXY`. */
const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** The proxy settings of `env`: lower-case names first, as curl and Go's httpproxy (CGI-safe) read them. */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const get = (name: string): string | undefined => {
    const value = env[name.toLowerCase()] ?? env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const http = get('HTTP_PROXY');
  const https = get('HTTPS_PROXY');
  const no = get('NO_PROXY');
  return { ...(http ? { httpProxy: http } : {}), ...(https ? { httpsProxy: https } : {}), ...(no ? { noProxy: no } : {}) };
}

/** A proxy URL without its credentials, for messages. */
function redactProxy(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable proxy URL)';
  }
}

function checkUrl(url: string | undefined, name: string): void {
  if (url === undefined) return;
  let parsed: URL;
  try {
    parsed = new URL(url.includes('://') ? url : `http://${url}`);
  } catch (error) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `${name} is not a URL: ${redactProxy(url)}`, { cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `${name} must be an http:// or https:// URL, got ${parsed.protocol}`);
  }
}

/**
 * The dispatcher of a registry client: a plain `Agent` when no proxy applies, else undici's
 * `EnvHttpProxyAgent` with the given settings (loopback added to `noProxy`). `agent` are the
 * Agent options (timeouts, connector); `tls` verifies registries reached through a tunnel.
 */
export function createRegistryDispatcher(
  agent: AgentClass.Options,
  proxy: ProxySettings | false = proxyFromEnv(),
  tls: { ca?: string[]; rejectUnauthorized?: boolean } = {},
): Dispatcher {
  if (proxy === false || (proxy.httpProxy === undefined && proxy.httpsProxy === undefined)) return new Agent(agent);
  // A bare `host:port` is accepted, as Go accepts it.
  const withScheme = (u: string | undefined) => (u !== undefined && !u.includes('://') ? `http://${u}` : u);
  const httpProxy = withScheme(proxy.httpProxy);
  const httpsProxy = withScheme(proxy.httpsProxy ?? proxy.httpProxy);
  checkUrl(httpProxy, 'HTTP_PROXY');
  checkUrl(httpsProxy, 'HTTPS_PROXY');
  const noProxy = proxy.noProxy?.trim() === '*' ? '*' : [proxy.noProxy ?? '', ...LOOPBACK].filter(Boolean).join(',');
  return new EnvHttpProxyAgent({
    ...agent,
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy,
    // TLS to the registry inside the CONNECT tunnel: the same CA and verification as direct.
    requestTls: { ...(tls.ca !== undefined ? { ca: tls.ca } : {}), ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) },
    // Plain-http registries get absolute-form requests, as Go's transport sends them.
    proxyTunnel: false,
  } as EnvHttpProxyAgentClass.Options);
}
