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
import { LimitExceededError } from '../../src/errors.ts';
import { sha256 } from './fixtures.ts';

/** A JSON manifest of exactly `size` bytes. */
function manifestOf(size: number): Buffer {
  const head = `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","pad":"`;
  return Buffer.from(`${head}${'a'.repeat(size - head.length - 2)}"}`);
}

const exact = manifestOf(MAX_MANIFEST_BYTES);
const over = manifestOf(MAX_MANIFEST_BYTES + 1);

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
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = createRegistryClient({});
  });
  after(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

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
