/**
 * Manifest reads are capped at MAX_MANIFEST_BYTES whether the registry declares the size
 * (Content-Length) or streams a chunked body, and a body of exactly the cap is read whole as
 * a plain Uint8Array; against a scripted registry on 127.0.0.1.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { MAX_MANIFEST_BYTES } from '../../src/registry/manifests.ts';
import { OCI_MANIFEST } from '../../src/oci/mediatypes.ts';
import { LimitExceededError, RegistryError } from '../../src/errors.ts';
import { sha256 } from './fixtures.ts';

/** A JSON manifest of exactly `size` bytes. */
function manifestOf(size: number): Buffer {
  const head = `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","pad":"`;
  return Buffer.from(`${head}${'a'.repeat(size - head.length - 2)}"}`);
}

const exact = manifestOf(MAX_MANIFEST_BYTES);
const over = manifestOf(MAX_MANIFEST_BYTES + 1);


/** Listens on a free 127.0.0.1 port; a client that retries at once (the tests count requests). */
async function listen(server: http.Server): Promise<{ host: string; client: RegistryClient }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, client: createRegistryClient({ retries: { baseDelayMs: 1, maxDelayMs: 5 } }) };
}

async function stop(server: http.Server, client: RegistryClient): Promise<void> {
  await client.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('manifest size cap', () => {
  let server: http.Server;
  let host: string;
  let client: RegistryClient;

  before(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/v2/') return void res.writeHead(200).end();
      const headers = { 'content-type': OCI_MANIFEST };
      // Declared: Content-Length says it all. Chunked: the size only shows while reading.
      if (url.endsWith('/declared')) return void res.writeHead(200, { ...headers, 'content-length': String(over.length) }).end(over);
      const body = url.endsWith('/chunked-over') ? over : exact;
      res.writeHead(200, headers);
      for (let i = 0; i < body.length; i += 256 * 1024) res.write(body.subarray(i, i + 256 * 1024));
      res.end();
    });
    ({ host, client } = await listen(server));
  });
  after(() => stop(server, client));

  const tooBig = (error: unknown): boolean => {
    assert.ok(error instanceof LimitExceededError, String(error));
    assert.equal(error.code, 'ERR_LIMIT_EXCEEDED');
    assert.equal(error.limit, 'maxManifestBytes');
    assert.equal(error.value, MAX_MANIFEST_BYTES);
    assert.match(error.message, new RegExp(`larger than maxManifestBytes \\(${MAX_MANIFEST_BYTES} bytes\\); raise the registry client option maxManifestBytes`));
    return true;
  };

  it('rejects a declared Content-Length over the cap', async () => {
    await assert.rejects(client.getManifest({ registry: host, repository: 'app' }, 'declared'), tooBig);
  });

  it('rejects a chunked body that grows over the cap', async () => {
    await assert.rejects(client.getManifest({ registry: host, repository: 'app' }, 'chunked-over'), tooBig);
  });

  it('reads a chunked body of exactly the cap whole, as a plain Uint8Array', async () => {
    const raw = await client.getManifest({ registry: host, repository: 'app' }, 'chunked-exact');
    assert.equal(raw.bytes.byteLength, MAX_MANIFEST_BYTES);
    assert.equal(Object.getPrototypeOf(raw.bytes), Uint8Array.prototype);
    assert.ok(Buffer.from(raw.bytes).equals(exact));
    assert.equal(raw.digest, sha256(exact));
    assert.equal(raw.mediaType, OCI_MANIFEST);
  });
});

describe('manifest PUT racing a push of the same blob', () => {
  // distribution's filesystem storage rewrites a repository's blob link in place; a manifest PUT
  // that reads it mid-write gets MANIFEST_BLOB_UNKNOWN for a blob that is there (seen in CI with
  // two concurrent pushes to one repository). Scripted here, since the race is not reproducible.
  let server: http.Server;
  let host: string;
  let client: RegistryClient;
  let puts = 0;
  let failFirst = 0;
  /** Answer every other failing PUT with 503 instead of the race's 400. */
  let alternate = false;
  const body = Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{},"layers":[]}`);
  const raw = { mediaType: OCI_MANIFEST, bytes: new Uint8Array(body), digest: sha256(body) };

  before(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method !== 'PUT') return void res.writeHead(405).end();
      req.resume();
      req.on('end', () => {
        puts++;
        if (puts <= failFirst && alternate && puts % 2 === 1) {
          return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}');
        }
        if (puts <= failFirst) {
          const errors = [
            { code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' },
            { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry' },
          ];
          return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors }));
        }
        res.writeHead(201, { 'docker-content-digest': raw.digest }).end();
      });
    });
    ({ host, client } = await listen(server));
  });
  after(() => stop(server, client));

  it('re-sends the manifest when the registry briefly says a blob is unknown', async () => {
    puts = 0;
    failFirst = 2;
    const result = await client.putManifest({ registry: host, repository: 'app' }, raw, 'v1');
    assert.equal(result.digest, raw.digest);
    assert.equal(puts, 3);
  });

  it('gives up after a few tries with the registry codes when the blob stays unknown', async () => {
    puts = 0;
    failFirst = 100;
    await assert.rejects(client.putManifest({ registry: host, repository: 'app' }, raw, 'v1'), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.status, 400);
      assert.ok(error.registryCodes.includes('MANIFEST_BLOB_UNKNOWN'));
      return true;
    });
    assert.equal(puts, 4);
  });

  it('retries the race and server errors in one loop, so the tries do not multiply', async () => {
    // 503, race, 503, race: the fourth try is past the race's three retries, so it stops there.
    // Two nested loops (the race's around the request's) made 2 x 4 PUTs of this.
    puts = 0;
    failFirst = 100;
    alternate = true;
    try {
      await assert.rejects(client.putManifest({ registry: host, repository: 'app' }, raw, 'v1'), RegistryError);
    } finally {
      alternate = false;
    }
    assert.equal(puts, 4);
  });
});
