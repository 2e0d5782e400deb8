import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRegistryClient } from '../../src/registry/index.ts';
import { RegistryHttp, isLoopback } from '../../src/registry/http.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { isCode, makeImage } from './fixtures.ts';

describe('registry over TLS with a self-signed CA', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ tls: true });
  });
  after(() => stopAll());

  const roundTrip = async (options: Parameters<typeof createRegistryClient>[0]) => {
    const client = createRegistryClient(options);
    try {
      const image = makeImage(`tls-${Math.random()}`);
      const repo = { registry: registry.host, repository: 'tls/app' };
      await client.putBlob(repo, image.layerDescriptor, image.layer);
      assert.equal(await client.hasBlob(repo, image.layerDescriptor.digest), true);
    } finally {
      await client.close();
    }
  };

  it('fails with ERR_REGISTRY_TLS without the CA (and does not fall back to plain HTTP)', async () => {
    const client = createRegistryClient();
    try {
      await assert.rejects(client.ping(registry.host), isCode('ERR_REGISTRY_TLS'));
    } finally {
      await client.close();
    }
    const log = await registry.requestLog();
    assert.equal(log.filter((r) => r.path === '/v2/' && r.status !== 200).length, 0);
  });

  it('works with the CA as a file path', () => roundTrip({ ca: registry.ca! }));
  it('works with the CA as PEM text', () => roundTrip({ ca: [registry.caPem!] }));
  it('works with skipTlsVerify', () => roundTrip({ skipTlsVerify: true }));
  it('reports an unreadable CA file as ERR_INVALID_ARGUMENT', () => {
    assert.throws(() => createRegistryClient({ ca: '/nonexistent/ca.pem' }), isCode('ERR_INVALID_ARGUMENT'));
  });
});

describe('plain HTTP', () => {
  after(() => stopAll());
  it('is used for loopback registries that do not speak TLS', async () => {
    const registry = await startRegistry();
    const client = createRegistryClient({ timeoutMs: 2000, retries: { count: 0 } });
    try {
      await client.ping(registry.host);
      await client.ping(`localhost:${registry.host.split(':')[1]}`);
    } finally {
      await client.close();
    }
  });

  it('is allowed only for loopback and hosts listed as insecure', () => {
    for (const host of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000', '::1']) assert.equal(isLoopback(host), true, host);
    for (const host of ['example.com', '10.0.0.1:5000', '[::2]:5000', 'localhost.example.com', '128.0.0.1']) assert.equal(isLoopback(host), false, host);
    const http = new RegistryHttp({ insecure: ['registry.lan:5000', 'other.lan'] });
    assert.equal(http.allowsPlainHttp('registry.lan:5000'), true);
    assert.equal(http.allowsPlainHttp('registry.lan:5001'), false);
    assert.equal(http.allowsPlainHttp('other.lan:443'), true);
    assert.equal(http.allowsPlainHttp('docker.io'), false);
    assert.equal(http.allowsPlainHttp('localhost:5000'), true);
    void http.close();
  });
});
