/**
 * Bounds on what a registry may send (docs/limits.md, "Registry responses and timeouts"): an
 * image config declared over `maxConfigBytes`, tag pages over `maxTagPageBytes`, a `Link`
 * chain longer than `maxTagPages`, a token response over `maxTokenResponseBytes`, and an
 * endless error body; against a scripted hostile registry on 127.0.0.1.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LimitExceededError, OcibuildError, RegistryError } from '../../src/errors.ts';
import { OCI_CONFIG } from '../../src/oci/mediatypes.ts';
import { createRegistryClient, DEFAULT_REGISTRY_LIMITS, type RegistryClientOptions } from '../../src/registry/index.ts';

interface Hostile {
  host: string;
  /** Paths requested so far. */
  paths: string[];
  /** Bytes written into endless bodies before the client hung up. */
  endlessBytes: () => number;
  stop(): Promise<void>;
}

/** Writes `chunk` until the client goes away, yielding to the event loop between writes. */
function endless(res: http.ServerResponse, chunk: Buffer, count: (n: number) => void): void {
  const pump = (): void => {
    while (!res.destroyed) {
      count(chunk.length);
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  res.on('error', () => undefined);
  pump();
}

async function startHostile(): Promise<Hostile> {
  const paths: string[] = [];
  let endlessBytes = 0;
  const count = (n: number): void => {
    endlessBytes += n;
  };
  let origin = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    paths.push(url.pathname + url.search);
    const token = url.pathname.startsWith('/v2/token/');
    if (url.pathname === '/v2/') return void res.writeHead(200).end('{}');
    if (token && req.headers.authorization === undefined) {
      // A realm carrying a secret in its query, which must not reach messages.
      return void res
        .writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token?apikey=hunter2",service="hostile",scope="repository:token/app:pull"` })
        .end();
    }
    if (url.pathname === '/token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return endless(res, Buffer.from(`{"token":"${'x'.repeat(64 * 1024)}`), count);
    }
    if (url.pathname === '/v2/pages/app/tags/list') {
      const page = Number(url.searchParams.get('last')?.slice(1) ?? 0) + 1;
      // Every page links a new one: a registry that never ends its list.
      res.writeHead(200, { 'content-type': 'application/json', link: `</v2/pages/app/tags/list?n=1&last=t${page}>; rel="next"` });
      return void res.end(JSON.stringify({ name: 'pages/app', tags: [`t${page}`] }));
    }
    if (url.pathname === '/v2/finite/app/tags/list') {
      const page = Number(url.searchParams.get('last')?.slice(1) ?? 0) + 1;
      const link = page < 3 ? { link: `</v2/finite/app/tags/list?n=1&last=t${page}>; rel="next"` } : {};
      res.writeHead(200, { 'content-type': 'application/json', ...link });
      return void res.end(JSON.stringify({ name: 'finite/app', tags: [`t${page}`] }));
    }
    if (url.pathname === '/v2/bigpage/app/tags/list') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return endless(res, Buffer.from(`{"tags":[${'"a",'.repeat(16 * 1024)}`), count);
    }
    if (url.pathname.startsWith('/v2/errors/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return endless(res, Buffer.from(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"${'m'.repeat(32 * 1024)}`), count);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;
  return {
    host,
    paths,
    endlessBytes: () => endlessBytes,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('registry response limits', () => {
  let hostile: Hostile;
  const clients: { close(): Promise<void> }[] = [];
  const client = (options: RegistryClientOptions = {}) => {
    const c = createRegistryClient({ retries: { count: 0 }, ...options });
    clients.push(c);
    return c;
  };
  before(async () => {
    hostile = await startHostile();
  });
  beforeEach(() => {
    hostile.paths.length = 0;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await hostile.stop();
  });

  const limitError = (limit: string, value: number) => (error: unknown): boolean => {
    assert.ok(error instanceof LimitExceededError, String(error));
    assert.equal(error.code, 'ERR_LIMIT_EXCEEDED');
    assert.equal(error.limit, limit);
    assert.equal(error.value, value);
    assert.match(error.message, new RegExp(`raise the registry client option ${limit}`));
    return true;
  };

  it('refuses an image config declared over maxConfigBytes without fetching it', async () => {
    const c = client();
    const descriptor = { mediaType: OCI_CONFIG, digest: `sha256:${'a'.repeat(64)}`, size: DEFAULT_REGISTRY_LIMITS.maxConfigBytes + 1 };
    await assert.rejects(c.getBlob({ registry: hostile.host, repository: 'cfg/app' }, descriptor), limitError('maxConfigBytes', 32 * 1024 * 1024));
    assert.ok(!hostile.paths.some((p) => p.includes('/blobs/')), hostile.paths.join(' '));
    // The option raises it: the same descriptor is then asked for (and is absent here).
    const raised = client({ maxConfigBytes: 64 * 1024 * 1024 });
    await assert.rejects(raised.getBlob({ registry: hostile.host, repository: 'cfg/app' }, descriptor), (e: unknown) => e instanceof RegistryError);
    assert.ok(hostile.paths.some((p) => p.includes('/blobs/')));
  });

  it('stops a Link chain that never ends at maxTagPages', async () => {
    const c = client({ maxTagPages: 5 });
    await assert.rejects(c.listTags({ registry: hostile.host, repository: 'pages/app' }), limitError('maxTagPages', 5));
    assert.equal(hostile.paths.filter((p) => p.includes('/tags/list')).length, 5);
    // A list that ends within the bound is read whole.
    assert.deepEqual(await c.listTags({ registry: hostile.host, repository: 'finite/app' }), ['t1', 't2', 't3']);
  });

  it('caps one tag page at maxTagPageBytes', async () => {
    const c = client({ maxTagPageBytes: 256 * 1024 });
    await assert.rejects(c.listTags({ registry: hostile.host, repository: 'bigpage/app' }), limitError('maxTagPageBytes', 256 * 1024));
  });

  it('caps a token response at maxTokenResponseBytes and keeps the realm query out of the message', async () => {
    const c = client({ credentials: async () => ({ username: 'alice', password: 'pw-secret-1' }), maxTokenResponseBytes: 512 * 1024 });
    const error = await c.getManifest({ registry: hostile.host, repository: 'token/app' }, 'v1').then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    limitError('maxTokenResponseBytes', 512 * 1024)(error);
    const text = `${(error as Error).message} ${JSON.stringify(error)}`;
    assert.ok(!text.includes('hunter2') && !text.includes('apikey') && !text.includes('pw-secret-1'), text);
  });

  it('reads only maxErrorBodyBytes of an endless error body and reports the status', { timeout: 20_000 }, async () => {
    const before = hostile.endlessBytes();
    const c = client({ maxErrorBodyBytes: 16 * 1024 });
    const error = await c.getManifest({ registry: hostile.host, repository: 'errors/app' }, 'v1').then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RegistryError && error.code === 'ERR_REGISTRY_NOT_FOUND' && error.status === 404, String(error));
    // The connection was dropped: the server wrote at most what socket buffers hold.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(hostile.endlessBytes() - before < 16 * 1024 * 1024, `${hostile.endlessBytes() - before} bytes sent`);
  });

  it('rejects invalid limit settings', () => {
    const invalid = (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_INVALID_ARGUMENT';
    assert.throws(() => createRegistryClient({ maxManifestBytes: -1 }), invalid);
    assert.throws(() => createRegistryClient({ idleTimeoutMs: 0 }), invalid);
    assert.throws(() => createRegistryClient({ maxTagPages: Number.NaN }), invalid);
    createRegistryClient({ minBytesPerSecond: 0 }).close().catch(() => undefined);
  });
});
