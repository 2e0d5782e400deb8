/**
 * Protocol corners that distribution 2.8 does not exercise (tag pagination, redirects to a
 * storage origin, insufficient_scope re-auth, relative upload Locations, OCI-Chunk-Min-Length,
 * the referrers API), against a small scripted registry on 127.0.0.1.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { Authenticator } from '../../src/registry/auth.ts';
import { collect, describe as describeBytes, isCode, sha256 } from './fixtures.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

async function listen(handler: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const blob = Buffer.from('blob bytes served from storage '.repeat(50));
const blobDigest = sha256(blob);
const uploadBytes = Buffer.from('x'.repeat(7000));

describe('registry protocol corners (scripted registry)', () => {
  let storage: Awaited<ReturnType<typeof listen>>;
  let registry: Awaited<ReturnType<typeof listen>>;
  let client: RegistryClient;
  const tokens = new Map<string, string[]>();
  let patches: { range: string | undefined; length: number; url: string }[] = [];

  before(async () => {
    storage = await listen((req, _body, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    });
    registry = await listen((req, body, res) => {
      const url = new URL(req.url ?? '/', `http://${registry.host}`);
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const scopes = token ? tokens.get(token) ?? [] : [];
      const challenge = (scope: string, error?: string) =>
        `Bearer realm="http://${registry.host}/token",service="fake",scope="${scope}"${error ? `,error="${error}"` : ''}`;
      const deny = (scope: string) => res.writeHead(401, { 'www-authenticate': challenge(scope, 'insufficient_scope'), 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      if (url.pathname === '/token') {
        const id = `tok-${tokens.size + 1}`;
        tokens.set(id, url.searchParams.getAll('scope'));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: id }));
        return;
      }
      if (url.pathname === '/v2/') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${registry.host}/token",service="fake"` }).end();
        return;
      }
      if (!token) return deny('repository:r:pull');
      if (url.pathname === '/v2/r/tags/list') {
        const last = url.searchParams.get('last');
        if (last === null) {
          res.writeHead(200, { link: '</v2/r/tags/list?n=2&last=b>; rel="next"' }).end(JSON.stringify({ name: 'r', tags: ['a', 'b'] }));
        } else if (last === 'b') {
          res.writeHead(200, { link: `<http://${registry.host}/v2/r/tags/list?n=2&last=d>; rel="next"` }).end(JSON.stringify({ name: 'r', tags: ['c', 'd'] }));
        } else {
          res.writeHead(200).end(JSON.stringify({ name: 'r', tags: ['e'] }));
        }
        return;
      }
      if (url.pathname === `/v2/r/blobs/${blobDigest}`) {
        res.writeHead(307, { location: `http://${storage.host}/storage/blob?signature=s3cr3t` }).end();
        return;
      }
      if (url.pathname === '/v2/r/blobs/same-origin-redirect') {
        res.writeHead(302, { location: `/v2/r/blobs/${blobDigest}` }).end();
        return;
      }
      if (url.pathname === '/v2/r/manifests/wide') {
        if (!scopes.includes('repository:other:pull')) return deny('repository:other:pull');
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('{}');
        return;
      }
      if (url.pathname === '/v2/r/blobs/uploads/' && req.method === 'POST') {
        res.writeHead(202, { location: '/upload/sess1?_state=abc%3D%3D', 'oci-chunk-min-length': '3000' }).end();
        return;
      }
      if (url.pathname === '/upload/sess1' && req.method === 'PATCH') {
        patches.push({ range: req.headers['content-range'], length: body.length, url: req.url ?? '' });
        // Relative to the request URL, without a leading slash.
        res.writeHead(202, { location: `sess1?_state=step${patches.length}` }).end();
        return;
      }
      if (url.pathname === '/upload/sess1' && req.method === 'PUT') {
        res.writeHead(201).end();
        return;
      }
      if (url.pathname.startsWith('/v2/r/referrers/')) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(
          JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: blobDigest, size: 1, artifactType: 'x/sig' }] }),
        );
        return;
      }
      res.writeHead(404).end();
    });
    client = createRegistryClient({ chunkSize: 1000, credentials: async () => ({ username: 'u', password: 'p' }) });
  });
  after(async () => {
    await client.close();
    await registry.close();
    await storage.close();
  });
  const repo = () => ({ registry: registry.host, repository: 'r' });

  it('follows Link pagination (relative and absolute links)', async () => {
    assert.deepEqual(await client.listTags(repo(), { pageSize: 2 }), ['a', 'b', 'c', 'd', 'e']);
    const urls = registry.seen.filter((s) => s.url.startsWith('/v2/r/tags/list')).map((s) => s.url);
    assert.deepEqual(urls, ['/v2/r/tags/list?n=2', '/v2/r/tags/list?n=2&last=b', '/v2/r/tags/list?n=2&last=d']);
  });

  it('never sends Authorization to another origin on a redirect', async () => {
    const desc = describeBytes(blob, 'application/octet-stream');
    assert.deepEqual(Buffer.from(await collect(await client.getBlob(repo(), desc))), blob);
    const atStorage = storage.seen.at(-1)!;
    assert.equal(atStorage.url, '/storage/blob?signature=s3cr3t');
    assert.equal(atStorage.authorization, undefined);
    const atRegistry = registry.seen.filter((s) => s.url === `/v2/r/blobs/${blobDigest}`).at(-1)!;
    assert.match(atRegistry.authorization ?? '', /^Bearer tok-/);
  });

  it('re-authenticates once with the scope a 401 challenge names', async () => {
    const before = registry.seen.filter((s) => s.url.startsWith('/token')).length;
    await client.getManifest(repo(), 'wide');
    const tokenRequests = registry.seen.filter((s) => s.url.startsWith('/token')).slice(before);
    assert.equal(tokenRequests.length, 1);
    const asked = new URL(tokenRequests[0]!.url, 'http://x').searchParams.getAll('scope');
    assert.deepEqual(asked, ['repository:other:pull', 'repository:r:pull']);
    assert.match(tokenRequests[0]!.authorization ?? '', /^Basic /);
  });

  it('uploads in chunks of at least OCI-Chunk-Min-Length, following relative Locations and keeping _state', async () => {
    patches = [];
    const desc = describeBytes(uploadBytes, 'application/octet-stream');
    await client.putBlob(repo(), desc, uploadBytes);
    assert.deepEqual(patches.map((p) => [p.range, p.length]), [['0-2999', 3000], ['3000-5999', 3000], ['6000-6999', 1000]]);
    assert.deepEqual(patches.map((p) => p.url), ['/upload/sess1?_state=abc%3D%3D', '/upload/sess1?_state=step1', '/upload/sess1?_state=step2']);
    const put = registry.seen.filter((s) => s.method === 'PUT').at(-1)!;
    assert.equal(put.url, `/upload/sess1?_state=step3&digest=${encodeURIComponent(desc.digest)}`);
    assert.equal(put.body.length, 0);
  });

  it('uses the referrers API when the registry has it', async () => {
    const list = await client.listReferrers(repo(), blobDigest);
    assert.equal(list.length, 1);
    assert.equal(list[0]!.artifactType, 'x/sig');
    assert.equal(registry.seen.filter((s) => s.url.includes('/manifests/sha256-')).length, 0);
  });
});

describe('Authenticator', () => {
  it('refuses a plain-http realm for a registry that is not insecure, before sending credentials', async () => {
    let requests = 0;
    const auth = new Authenticator({
      credentials: async () => ({ username: 'u', password: 'secret-pw' }),
      request: async () => {
        requests++;
        throw new Error('must not be called');
      },
      allowsPlainHttp: () => false,
    });
    auth.setChallenges('registry.example', [{ scheme: 'bearer', params: { realm: 'http://auth.example/token', service: 's' } }]);
    const error = await auth.authorization('registry.example', ['repository:a:pull']).catch((e: unknown) => e);
    assert.ok(error instanceof Error && (error as { code?: string }).code === 'ERR_REGISTRY', String(error));
    assert.ok(!String(error).includes('secret-pw'));
    assert.equal(requests, 0);
  });

  it('uses a registry token as is, and Basic for a Basic challenge', async () => {
    const auth = new Authenticator({
      credentials: async (registry) => (registry === 'tok.example' ? { registryToken: 'rt' } : { username: 'u', password: 'p' }),
      request: async () => assert.fail('no token request expected'),
      allowsPlainHttp: () => false,
    });
    auth.setChallenges('tok.example', [{ scheme: 'bearer', params: { realm: 'https://a/t' } }]);
    auth.setChallenges('basic.example', [{ scheme: 'basic', params: { realm: 'r' } }, { scheme: 'negotiate', params: {} }]);
    assert.equal(await auth.authorization('tok.example', []), 'Bearer rt');
    assert.equal(await auth.authorization('basic.example', []), `Basic ${Buffer.from('u:p').toString('base64')}`);
    // A user name with ':' cannot be carried by Basic: refused rather than mangled.
    const colon = new Authenticator({ credentials: async () => ({ username: 'a:b', password: 'p' }), request: async () => assert.fail(), allowsPlainHttp: () => true });
    colon.setChallenges('x', [{ scheme: 'basic', params: {} }]);
    await assert.rejects(colon.authorization('x', []), isCode('ERR_CREDENTIALS'));
  });
});
