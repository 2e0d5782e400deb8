import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../../src/errors.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';

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
