/**
 * What must keep holding against a hostile or broken registry (issue #10, "What holds today"):
 * URLs in errors lose their userinfo and query (upload `_state`, signed storage URLs), an https
 * registry's plain-http token realm is refused before any credential is sent, a huge
 * `Retry-After` is not waited out, and a blob longer than its descriptor is refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { Agent } from 'undici';
import { RegistryError, SizeMismatchError } from '../../src/errors.ts';
import { createRegistryClient } from '../../src/registry/index.ts';
import { safeUrl } from '../../src/registry/response-errors.ts';
import { startRegistry, stopAll } from '../helpers/registry.ts';
import { collect, describe as describeBytes } from './fixtures.ts';

const SECRET = 'S3cretSig';
const BLOB = Buffer.from('twelve bytes');
/** The blob whose GET the scripted registry redirects. */
const REDIRECTED = `sha256:${'e'.repeat(64)}`;

describe('hostile registry: redaction, realms, Retry-After, sizes', () => {
  let server: http.Server;
  let host: string;
  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://${host}`);
      req.resume();
      if (url.pathname === '/v2/') return void res.writeHead(200).end();
      if (url.pathname === '/v2/app/blobs/uploads/' && req.method === 'POST') {
        return void res.writeHead(202, { location: `/upload/one?_state=${SECRET}` }).end();
      }
      if (url.pathname === '/upload/one') {
        return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"storage failed"}]}');
      }
      if (url.pathname === `/v2/app/blobs/${REDIRECTED}`) {
        // A redirect to storage with credentials in the URL and a signature in the query.
        return void res.writeHead(307, { location: `http://user:${SECRET}@${host}/storage/blob?X-Signature=${SECRET}` }).end();
      }
      if (url.pathname === '/storage/blob') return void res.writeHead(403).end('denied');
      if (url.pathname === '/v2/app/manifests/busy') return void res.writeHead(429, { 'retry-after': '3600' }).end();
      if (url.pathname.startsWith('/v2/app/blobs/sha256:')) return void res.writeHead(200).end(Buffer.concat([BLOB, Buffer.from('and more')]));
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stopAll();
  });

  it('safeUrl drops userinfo, query and fragment', () => {
    assert.equal(safeUrl(`https://u:${SECRET}@r.example:5000/v2/a/blobs/uploads/x?_state=${SECRET}#f`), 'https://r.example:5000/v2/a/blobs/uploads/x');
    assert.equal(safeUrl('not a url'), '(invalid URL)');
  });

  it('an upload failing at its session URL is reported without the _state query', async () => {
    const client = createRegistryClient({ retries: { count: 0 } });
    try {
      const error = await client.putBlob({ registry: host, repository: 'app' }, describeBytes(BLOB, 'application/octet-stream'), BLOB).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RegistryError && error.status === 500, String(error));
      assert.ok(error.url?.endsWith('/upload/one'), error.url);
      assert.ok(!`${error.message} ${error.url}`.includes(SECRET), error.message);
    } finally {
      await client.close();
    }
  });

  it('a redirect to storage with userinfo and a signed query is reported without either', async () => {
    const client = createRegistryClient({ retries: { count: 0 } });
    try {
      const descriptor = { mediaType: 'application/octet-stream', digest: REDIRECTED, size: 1 };
      const error = await client.getBlob({ registry: host, repository: 'app' }, descriptor).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.status, 403);
      assert.equal(error.url, `http://${host}/storage/blob`);
      assert.ok(!`${error.message} ${JSON.stringify(error)}`.includes(SECRET), error.message);
    } finally {
      await client.close();
    }
  });

  it('a Retry-After of an hour is not waited out: the error comes at once', async () => {
    const client = createRegistryClient({ retries: { count: 5, maxTotalMs: 10_000 } });
    try {
      const start = Date.now();
      const error = await client.getManifest({ registry: host, repository: 'app' }, 'busy').catch((e: unknown) => e);
      assert.ok(error instanceof RegistryError && error.status === 429, String(error));
      assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
    } finally {
      await client.close();
    }
  });

  it('a blob longer than its descriptor fails with SizeMismatchError, the excess never yielded', async () => {
    const client = createRegistryClient({ retries: { count: 0 } });
    try {
      const stream = await client.getBlob({ registry: host, repository: 'app' }, describeBytes(BLOB, 'application/octet-stream'));
      await assert.rejects(collect(stream), (error: unknown) => error instanceof SizeMismatchError && error.expected === BLOB.length);
    } finally {
      await client.close();
    }
  });

  it('refuses the plain-http token realm of an https registry before sending any credential', { timeout: 30_000 }, async () => {
    const registry = await startRegistry({ tls: true, auth: 'token' });
    const port = registry.host.split(':')[1];
    // A real name (not loopback) resolved to 127.0.0.1: the registry is https-only for the client.
    const lookup: LookupFunction = (_name, options, callback) => {
      if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    };
    const dispatcher = new Agent({ connect: { ca: registry.caPem!, lookup, checkServerIdentity: () => undefined } });
    const client = createRegistryClient({ dispatcher, credentials: async () => ({ username: 'alice', password: 'wonderland-secret' }), retries: { count: 0 } });
    try {
      assert.match(registry.token!.realm, /^http:/);
      const error = await client.getManifest({ registry: `registry.test:${port}`, repository: 'app' }, 'v1').catch((e: unknown) => e);
      assert.ok(error instanceof RegistryError, String(error));
      assert.match(error.message, /not https; refusing to send credentials there/);
      assert.equal(registry.token!.requests().length, 0, 'no request reached the token service');
    } finally {
      await client.close();
      await dispatcher.close();
    }
  });
});
