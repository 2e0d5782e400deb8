/**
 * Test fixture: a token server for distribution's `auth.token` (node:http on 127.0.0.1:0)
 * issuing RS256 JWTs with the signing certificate in the `x5c` header. It checks Basic
 * credentials on GET and supports the OAuth2 POST (`password` and `refresh_token` grants),
 * grants the asked actions to known users (or a configured subset), `pull` or nothing to
 * anonymous callers, and records every request for assertions.
 * @module
 */
import { X509Certificate, createPrivateKey, randomUUID, sign } from 'node:crypto';
import http from 'node:http';

/** A user known to htpasswd or the token server. */
export interface TestUser {
  /** User name. */
  username: string;
  /** Password. */
  password: string;
  /** Token auth only: actions this user may get (default: everything asked). */
  actions?: string[];
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

/** Key and certificate material for TLS and token signing. */
export interface CertSet {
  caPem: string;
  caKey: string;
  serverPem: string;
  serverKey: string;
  tokenPem: string;
  tokenKey: string;
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

/** A running token server. */
export interface TokenServer {
  realm: string;
  requests: TokenRequest[];
  close(): Promise<void>;
}

/** Starts a token server on a free loopback port. */
export async function startTokenServer(options: {
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

