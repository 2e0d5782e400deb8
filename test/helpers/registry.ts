/**
 * Test fixture: a real CNCF distribution registry (`docker-registry serve`) on a free loopback
 * port, optionally with htpasswd Basic auth, a token server of our own (RS256 JWTs), and TLS
 * with a throwaway CA. Everything lives in a temp dir removed by `stop()`.
 * @module
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { promises as fs, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A user known to htpasswd or the token server. */
export interface TestUser {
  /** User name. */
  username: string;
  /** Password. */
  password: string;
  /** Token auth only: actions this user may get (default: everything asked). */
  actions?: string[];
}

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

/** One request the token server received. */
export interface TokenRequest {
  /** GET or POST. */
  method: string;
  /** `scope` values asked (GET query or POST form, split on spaces). */
  scopes: string[];
  /** `service` asked. */
  service: string | undefined;
  /** User authenticated by Basic credentials, password grant or refresh token; undefined if anonymous. */
  account: string | undefined;
  /** POST `grant_type`. */
  grantType: string | undefined;
  /** Status the server answered. */
  status: number;
  /** True when an Authorization header came with the request. */
  hadAuthorization: boolean;
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

/** Certificates are slow-ish to make; one set per process is enough. */
interface CertSet {
  caPem: string;
  caKey: string;
  serverPem: string;
  serverKey: string;
  tokenPem: string;
  tokenKey: string;
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
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n" > ext.cnf'], { cwd: dir });
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

function base64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

/** Parses `repository:NAME:pull,push` (NAME may not contain ':', but be lenient). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(',').filter(Boolean),
  };
}

interface TokenServer {
  realm: string;
  requests: TokenRequest[];
  close(): Promise<void>;
}

async function startTokenServer(options: {
  users: TestUser[];
  service: string;
  issuer: string;
  certs: CertSet;
  anonymousPull: boolean;
  refreshTokens: Record<string, string>;
}): Promise<TokenServer> {
  const requests: TokenRequest[] = [];
  const key = createPrivateKey(options.certs.tokenKey);
  const der = new X509Certificate(options.certs.tokenPem).raw;
  const issuedRefresh = new Map<string, string>(Object.entries(options.refreshTokens));

  const issue = (account: string | undefined, scopes: string[]) => {
    const user = options.users.find((u) => u.username === account);
    const access = [];
    for (const scope of scopes) {
      const parsed = parseScope(scope);
      if (!parsed || parsed.type !== 'repository') continue;
      let actions: string[];
      if (user) actions = user.actions ? parsed.actions.filter((a) => user.actions!.includes(a)) : parsed.actions;
      else actions = options.anonymousPull ? parsed.actions.filter((a) => a === 'pull') : [];
      access.push({ type: parsed.type, name: parsed.name, actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = {
      iss: options.issuer,
      aud: options.service,
      sub: account ?? '',
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), key);
    return `${signingInput}.${base64url(signature)}`;
  };

  const checkPassword = (username: string, password: string) =>
    options.users.some((u) => u.username === username && u.password === password);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const record: TokenRequest = {
        method: req.method ?? '',
        scopes: [],
        service: undefined,
        account: undefined,
        grantType: undefined,
        status: 200,
        hadAuthorization: req.headers.authorization !== undefined,
      };
      requests.push(record);
      const reply = (status: number, body: unknown) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let refreshToken: string | undefined;
      if (req.method === 'GET') {
        record.scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
        record.service = url.searchParams.get('service') ?? undefined;
        const authorization = req.headers.authorization;
        if (authorization) {
          const match = /^Basic\s+(.+)$/i.exec(authorization);
          const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
          const colon = decoded.indexOf(':');
          const username = decoded.slice(0, colon);
          if (colon < 0 || !checkPassword(username, decoded.slice(colon + 1))) {
            return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
          }
          record.account = username;
        }
      } else if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        record.scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        record.service = form.get('service') ?? undefined;
        record.grantType = form.get('grant_type') ?? undefined;
        if (record.grantType === 'password') {
          const username = form.get('username') ?? '';
          if (!checkPassword(username, form.get('password') ?? '')) {
            return reply(401, { error: 'invalid_grant' });
          }
          record.account = username;
          if (form.get('access_type') === 'offline') {
            refreshToken = randomUUID();
            issuedRefresh.set(refreshToken, username);
          }
        } else if (record.grantType === 'refresh_token') {
          const account = issuedRefresh.get(form.get('refresh_token') ?? '');
          if (account === undefined) return reply(401, { error: 'invalid_grant' });
          record.account = account;
        } else {
          return reply(400, { error: 'unsupported_grant_type' });
        }
      } else {
        return reply(405, {});
      }
      const token = issue(record.account, record.scopes);
      // GET answers `token` (Docker's flavour), POST `access_token` (OAuth2's), to cover both.
      if (req.method === 'GET') {
        reply(200, { token, expires_in: 300, issued_at: new Date().toISOString() });
      } else {
        reply(200, { access_token: token, expires_in: 300, ...(refreshToken ? { refresh_token: refreshToken } : {}) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('token server has no address');
  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
