import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../../src/errors.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { sha256 } from '../helpers/data.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// House style rule 9: one retry loop per operation. The `/v2/` ping used to have its own loop
// inside the request's, so a registry failing every ping got (count + 1)² pings (36 by default).
describe('retries happen at one level only', () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let client: RegistryClient;
  const count = 5;
  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url);
    client = createRegistryClient({ retries: { baseDelayMs: 1, maxDelayMs: 5, count } });
  });
  after(async () => {
    await client.close();
    await proxy.stop();
    await stopAll();
  });

  const pings = () => proxy.stats().records.filter((r) => r.kind === 'ping').length;

  it('a registry whose ping always fails gets one ping per attempt of the request', async () => {
    proxy.resetStats();
    proxy.setRules([{ path: /^\/v2\/?$/, fault: { kind: 'status', status: 503 }, times: 1000 }]);
    const error = await client.getManifest({ registry: proxy.host, repository: 'retry/once' }, 'v1').catch((e: unknown) => e);
    assert.ok(error instanceof RegistryError && error.status === 503, String(error));
    assert.equal(pings(), count + 1);
  });

  it('ping() retries on its own level too, once per attempt', async () => {
    proxy.resetStats();
    proxy.setRules([{ path: /^\/v2\/?$/, fault: { kind: 'status', status: 503 }, times: 2 }]);
    await client.ping(proxy.host);
    assert.equal(pings(), 3);
  });

  it('Retry-After is a field of the error', async () => {
    proxy.resetStats();
    proxy.setRules([{ path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: 7 }, times: 1000 }]);
    const quick = createRegistryClient({ retries: { count: 0 } });
    try {
      const error = await quick.getManifest({ registry: proxy.host, repository: 'retry/after' }, 'v1').catch((e: unknown) => e);
      assert.ok(error instanceof RegistryError && error.status === 429, String(error));
      assert.equal(error.retryAfterMs, 7000);
    } finally {
      await quick.close();
    }
  });
});

describe('a download that drops and whose resumes fail: one retry loop', () => {
  // A scripted registry: the first GET sends half the blob and cuts the connection; Range
  // requests alternate between 503 and another half-sent, cut response.
  const blob = Buffer.alloc(200_000, 7);
  const digest = sha256(blob);
  let gets = 0;
  let server: http.Server;
  let host: string;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      gets++;
      if (req.headers.range !== undefined && gets % 2 === 0) {
        return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}');
      }
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(start > 0 ? 206 : 200, { 'content-length': blob.length - start, 'docker-content-digest': digest });
      res.write(blob.subarray(start, start + 1000));
      setTimeout(() => res.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('spends one retry per dropped body or failed resume: count + 1 requests in all', async () => {
    const count = 4;
    const client = createRegistryClient({ retries: { baseDelayMs: 1, maxDelayMs: 5, count } });
    try {
      const descriptor = { mediaType: 'application/octet-stream', digest, size: blob.length };
      const stream = await client.getBlob({ registry: host, repository: 'drop/resume' }, descriptor);
      await assert.rejects(async () => {
        for await (const chunk of stream) void chunk;
      });
      // Retrying the resume request inside the resume loop made 1 + count x 2 of them.
      assert.equal(gets, count + 1);
    } finally {
      await client.close();
    }
  });
});
