/**
 * Per-registry CA certificates in the layout Docker and podman read: `DIR/HOST[:PORT]/*.crt`
 * (`/etc/docker/certs.d`, `/etc/containers/certs.d`, `~/.config/containers/certs.d`), plus
 * `SSL_CERT_FILE`, which OpenSSL-based tools and Go read for extra roots. A registry's own CAs
 * are trusted for that registry only, as Docker does.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import type { buildConnector as BuildConnector } from 'undici';
import { buildConnector } from './undici-lib.ts';
import { OcibuildError } from '../errors.ts';

/** The certs.d directories searched by default: `OCIBUILD_CERTS_D` (colon-separated) when set, else podman's and Docker's. */
export function defaultCertsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env.OCIBUILD_CERTS_D;
  if (override !== undefined) return override.split(':').filter(Boolean);
  return [join(homedir(), '.config/containers/certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
}

/** The PEM text of `SSL_CERT_FILE`, when set; a missing file is an error naming the variable. */
export function sslCertFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.SSL_CERT_FILE;
  if (file === undefined || file === '') return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `SSL_CERT_FILE ${file}: cannot read it`, { cause: error });
  }
}

/**
 * The CA certificates (`*.crt`, Docker's rule: `*.cert`/`*.key` are client certificates) for
 * `host` (`name` or `name:port`) in the first directory of `dirs` that has a folder for it.
 */
function certsDirCas(host: string, dirs: readonly string[]): string[] {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(join(dir, host));
    } catch {
      continue;
    }
    return names
      .filter((n) => n.endsWith('.crt'))
      .sort()
      .map((n) => readFileSync(join(dir, host, n), 'utf8'));
  }
  return [];
}

/**
 * A connector choosing the CAs per registry: `base` (Node's roots plus `--ca` and `SSL_CERT_FILE`)
 * and that host's certs.d entries. Hosts without entries share one connector (one TLS session cache).
 */
export function perHostConnector(options: BuildConnector.BuildOptions & { ca?: string[] }, dirs: readonly string[]): BuildConnector.connector {
  const shared = buildConnector(options);
  const byHost = new Map<string, BuildConnector.connector>();
  return (opts, callback) => {
    if (opts.protocol !== 'https:') return shared(opts, callback);
    const port = opts.port === '' || opts.port === '443' ? '' : `:${opts.port}`;
    const host = `${opts.hostname}${port}`;
    let connector = byHost.get(host);
    if (connector === undefined) {
      const extra = certsDirCas(host, dirs);
      connector = extra.length === 0 ? shared : buildConnector({ ...options, ca: [...(options.ca ?? rootCertificates), ...extra] } as BuildConnector.BuildOptions);
      byHost.set(host, connector);
    }
    connector(opts, callback);
  };
}
