/**
 * Test fixture: a real CNCF distribution registry (`docker-registry serve`) on a free loopback
 * port, optionally with htpasswd Basic auth, a token server of our own (RS256 JWTs), and TLS
 * with a throwaway CA. Everything lives in a temp dir removed by `stop()`.
 * @module
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTokenServer, type CertSet, type TestUser, type TokenRequest, type TokenServer } from './token-server.ts';

export type { TestUser, TokenRequest } from './token-server.ts';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** Auth scheme the registry requires (default none). */
  auth?: 'none' | 'htpasswd' | 'token';
  /** Users for htpasswd or the token server (default one user `alice` / `wonderland-secret`). */
  users?: TestUser[];
  /** Serve HTTPS with a self-signed CA (default false). */
  tls?: boolean;
  /** Token auth: grant `pull` to anonymous requests (default false: anonymous gets no access). */
  anonymousPull?: boolean;
  /** Token auth: refresh tokens (OAuth2 `refresh_token` grant) accepted, mapped to a user name. */
  refreshTokens?: Record<string, string>;
}

/** One line of the registry's access log. */
export interface LoggedRequest {
  /** HTTP method. */
  method: string;
  /** Path with query string. */
  path: string;
  /** Response status. */
  status: number;
}

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, as in image references. */
  host: string;
  /** `http(s)://127.0.0.1:PORT`. */
  url: string;
  /** Path of the CA certificate (PEM), when TLS is on. */
  ca?: string;
  /** The CA certificate PEM text, when TLS is on. */
  caPem?: string;
  /** Users configured. */
  users: TestUser[];
  /** Token server details, when `auth: 'token'`. */
  token?: { realm: string; service: string; requests(): TokenRequest[] };
  /** The registry's access log so far (waits until every earlier request is logged). */
  requestLog(): Promise<LoggedRequest[]>;
  /** Stops the registry (and token server) and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
  /** The temp dir holding config, storage and certificates. */
  dir: string;
}

const DEFAULT_USERS: TestUser[] = [{ username: 'alice', password: 'wonderland-secret' }];
const running = new Set<TestRegistry>();
const children = new Set<ChildProcess>();

// A test that forgets stop() must not leave a registry behind.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Picks a port that was free a moment ago (listen on 0, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

let certCache: CertSet | undefined;

function makeCerts(): CertSet {
  if (certCache) return certCache;
  const dir = readFileSyncDir();
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '3', '-subj', '/CN=ocibuild test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key',
    '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:registry.test\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n" > ext.cnf'], { cwd: dir });
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem',
    '-days', '3', '-extfile', 'ext.cnf']);
  // RS256 token signing key with a self-signed certificate that goes into the rootcertbundle.
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.pem', '-days', '3',
    '-subj', '/CN=ocibuild test token issuer']);
  const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');
  certCache = {
    caPem: read('ca.pem'),
    caKey: read('ca.key'),
    serverPem: read('server.pem'),
    serverKey: read('server.key'),
    tokenPem: read('token.pem'),
    tokenKey: read('token.key'),
  };
  rmSync(dir, { recursive: true, force: true });
  return certCache;
}

function readFileSyncDir(): string {
  return execFileSync('mktemp', ['-d', path.join(os.tmpdir(), 'ocibuild-certs-XXXXXX')], { encoding: 'utf8' }).trim();
}

const ACCESS_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /;

/**
 * Starts `docker-registry serve` on a free 127.0.0.1 port and waits until `/v2/` answers.
 * Stop it with `stop()` or {@link stopAll}.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const users = options.users ?? DEFAULT_USERS;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-registry-'));
  const certs = options.tls || auth === 'token' ? makeCerts() : undefined;
  let tokenServer: TokenServer | undefined;
  try {
    const config: Record<string, unknown> = {
      version: '0.1',
      log: { level: 'error', accesslog: { disabled: false } },
      storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
      http: {} as Record<string, unknown>,
    };
    if (auth === 'htpasswd') {
      const lines = users.map((u) =>
        execFileSync('htpasswd', ['-Bbn', u.username, u.password], { encoding: 'utf8' }).trim(),
      );
      await fs.writeFile(path.join(dir, 'htpasswd'), lines.join('\n') + '\n');
      config.auth = { htpasswd: { realm: 'ocibuild-test', path: path.join(dir, 'htpasswd') } };
    } else if (auth === 'token') {
      await fs.writeFile(path.join(dir, 'token.pem'), certs!.tokenPem);
      const service = 'ocibuild-test-registry';
      const issuer = 'ocibuild-test-issuer';
      tokenServer = await startTokenServer({
        users,
        service,
        issuer,
        certs: certs!,
        anonymousPull: options.anonymousPull ?? false,
        refreshTokens: options.refreshTokens ?? {},
      });
      config.auth = {
        token: { realm: tokenServer.realm, service, issuer, rootcertbundle: path.join(dir, 'token.pem') },
      };
    }
    if (options.tls) {
      await fs.writeFile(path.join(dir, 'ca.pem'), certs!.caPem);
      await fs.writeFile(path.join(dir, 'server.pem'), certs!.serverPem);
      await fs.writeFile(path.join(dir, 'server.key'), certs!.serverKey);
    }
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const http = config.http as Record<string, unknown>;
      http.addr = `127.0.0.1:${port}`;
      if (options.tls) http.tls = { certificate: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
      // YAML is a superset of JSON, so the config can be written as JSON.
      await fs.writeFile(path.join(dir, 'config.yml'), JSON.stringify(config, null, 2));
      try {
        const registry = await launch(dir, port, options.tls ?? false, certs, users, tokenServer);
        running.add(registry);
        return registry;
      } catch (error) {
        if (attempt < 4 && /address already in use/.test(String((error as Error).message))) continue;
        throw error;
      }
    }
  } catch (error) {
    await tokenServer?.close();
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(
  dir: string,
  port: number,
  tls: boolean,
  certs: CertSet | undefined,
  users: TestUser[],
  tokenServer: TokenServer | undefined,
): Promise<TestRegistry> {
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  const host = `127.0.0.1:${port}`;
  const url = `${tls ? 'https' : 'http'}://${host}`;
  const get = (pathname: string) =>
    new Promise<number>((resolve, reject) => {
      const request = (tls ? https : http).get(
        `${url}${pathname}`,
        tls ? { ca: certs!.caPem, agent: false } : { agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.setTimeout(5000, () => request.destroy(new Error('timeout')));
    });

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      children.delete(child);
      throw new Error(`docker-registry exited early: ${stderr.trim()}`);
    }
    try {
      const status = await get('/v2/');
      if (status === 200 || status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      children.delete(child);
      throw new Error(`docker-registry did not answer on ${url}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let sentinel = 0;
  let stopped = false;
  const registry: TestRegistry = {
    host,
    url,
    dir,
    users,
    ...(tls ? { ca: path.join(dir, 'ca.pem'), caPem: certs!.caPem } : {}),
    ...(tokenServer
      ? { token: { realm: tokenServer.realm, service: 'ocibuild-test-registry', requests: () => [...tokenServer.requests] } }
      : {}),
    async requestLog() {
      // The access log line is written after the response; a sentinel request that shows up in
      // the log means every request answered before it has been logged too.
      const mark = `/v2/?ocibuild-sentinel=${++sentinel}`;
      await get(mark).catch(() => undefined);
      const deadline = Date.now() + 5000;
      while (!stdout.includes(`GET ${mark} `) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const out: LoggedRequest[] = [];
      for (const line of stdout.split('\n')) {
        const match = ACCESS_LINE.exec(line);
        if (!match || match[2]!.startsWith('/v2/?ocibuild-sentinel=')) continue;
        out.push({ method: match[1]!, path: match[2]!, status: Number(match[3]) });
      }
      return out;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(registry);
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(timer);
      children.delete(child);
      await tokenServer?.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return registry;
}

/** Stops every registry started by this process (for `after()` hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop()));
}
