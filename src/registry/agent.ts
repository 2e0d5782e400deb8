/**
 * The connection side of the registry client: one pooled keep-alive undici `Agent` (or the
 * caller's dispatcher) with the TLS trust in force (Node's roots, extra CAs, `SSL_CERT_FILE`,
 * certs.d per host), proxies, and the idle/low-speed watchdog on response bodies.
 * @module
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import { InvalidArgumentError } from '../errors.ts';
import { defaultCertsDirs, perHostConnector, sslCertFile } from './certs-d.ts';
import type { RegistryLimits } from './limits.ts';
import { createRegistryDispatcher, type ProxySettings } from './proxy.ts';
import { watchdogInterceptor } from './watchdog.ts';

/** The connection settings {@link createAgent} reads (a subset of the client's `HttpOptions`). */
export interface AgentOptions {
  /** Extra CA certificates: PEM text or file paths. Added to Node's bundled roots. */
  ca?: string | readonly string[];
  /** Do not verify TLS certificates (explicit opt-in). */
  skipTlsVerify?: boolean;
  /** A dispatcher to use instead of an own Agent; the body watchdog is added to it. */
  dispatcher?: Dispatcher;
  /** Proxies (`false`: none). Default: the environment's. */
  proxy?: ProxySettings | false;
  /** certs.d directories. Default `defaultCertsDirs()`. */
  certsDirs?: string[];
  /** Also trust the PEM file `SSL_CERT_FILE` names (default true). */
  sslCertFile?: boolean;
}

/** The dispatcher requests go through, and the Agent made here (closed with the client), if any. */
export interface RegistryAgent {
  /** Dispatcher for every request, the watchdog composed in. */
  dispatcher: Dispatcher;
  /** The Agent made here; undefined when the caller gave the dispatcher (theirs to close). */
  own: Dispatcher | undefined;
}

function loadCa(ca: string | readonly string[] | undefined): string[] {
  if (ca === undefined) return [];
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

/** Creates the client's dispatcher for `options` under `limits` (connect, idle and low-speed bounds). */
export function createAgent(options: AgentOptions, limits: RegistryLimits): RegistryAgent {
  const watchdog = watchdogInterceptor({ windowMs: limits.idleTimeoutMs, minBytesPerSecond: limits.minBytesPerSecond });
  if (options.dispatcher) return { dispatcher: options.dispatcher.compose(watchdog), own: undefined };
  const fromEnv = options.sslCertFile !== false ? sslCertFile() : undefined;
  const extra = [...loadCa(options.ca), ...(fromEnv !== undefined ? [fromEnv] : [])];
  // `ca` replaces Node's roots, so keep them next to the extra ones.
  const tls = { rejectUnauthorized: !options.skipTlsVerify, ...(extra.length ? { ca: [...rootCertificates, ...extra] } : {}) };
  const own = createRegistryDispatcher(
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
  return { dispatcher: own.compose(watchdog), own };
}
