import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError, TimeoutError } from '../../src/errors.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { bodyOf, collect, isCode, makeImage } from './fixtures.ts';

describe('registry client under injected faults (counting proxy in front of docker-registry)', () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let client: RegistryClient;
  let n = 0;
  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url);
    client = createRegistryClient({ retries: { baseDelayMs: 10, maxDelayMs: 100, count: 4 } });
  });
  beforeEach(() => {
    proxy.setRules([]);
    proxy.resetStats();
  });
  after(async () => {
    await client.close();
    await proxy.stop();
    await stopAll();
  });
  const repo = () => ({ registry: proxy.host, repository: `faults/r${++n}` });

  async function pushed(seed: string, size = 20_000) {
    const r = repo();
    const image = makeImage(seed, size);
    await client.putBlob(r, image.configDescriptor, image.config);
    await client.putBlob(r, image.layerDescriptor, bodyOf(image.layer, 4096));
    await client.putManifest(r, image.manifest, 'v1');
    proxy.resetStats();
    return { r, image };
  }

  it('retries a 503 and succeeds', async () => {
    const { r, image } = await pushed('503');
    proxy.setRules([{ method: 'GET', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 503 }, times: 2 }]);
    assert.deepEqual((await client.getManifest(r, 'v1')).bytes, image.manifest.bytes);
    const statuses = proxy.stats().records.filter((x) => x.kind === 'manifest').map((x) => x.status);
    assert.deepEqual(statuses, [503, 503, 200]);
  });

  it('waits for Retry-After on a 429', async () => {
    const { r, image } = await pushed('429');
    proxy.setRules([{ method: 'HEAD', path: /\/blobs\//, fault: { kind: 'status', status: 429, retryAfter: 1 } }]);
    const start = Date.now();
    assert.equal(await client.hasBlob(r, image.layerDescriptor.digest), true);
    assert.ok(Date.now() - start >= 950, `waited ${Date.now() - start} ms`);
  });

  it('gives up after the retry count with the last error', async () => {
    const { r } = await pushed('give-up');
    proxy.setRules([{ method: 'GET', path: /\/manifests\//, fault: { kind: 'status', status: 502 }, times: 100 }]);
    const error = await client.getManifest(r, 'v1').catch((e: unknown) => e);
    assert.ok(error instanceof RegistryError && error.code === 'ERR_REGISTRY' && error.status === 502, String(error));
    assert.equal(proxy.stats().records.filter((x) => x.kind === 'manifest').length, 5);
  });

  it('does not retry a 404', async () => {
    const { r } = await pushed('404');
    await assert.rejects(client.getManifest(r, 'absent'), isCode('ERR_REGISTRY_NOT_FOUND'));
    assert.equal(proxy.stats().records.filter((x) => x.kind === 'manifest').length, 1);
  });

  it('restarts an upload whose connection drops mid-body in a new session', async () => {
    const r = repo();
    const image = makeImage('drop-upload', 50_000);
    proxy.setRules([{ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'dropRequest', afterBytes: 10_000 } }]);
    await client.putBlob(r, image.layerDescriptor, bodyOf(image.layer, 4096));
    assert.equal(proxy.stats().faults, 1);
    const posts = proxy.stats().records.filter((x) => x.method === 'POST' && x.kind === 'upload');
    assert.equal(posts.length, 2, 'a second upload session');
    assert.deepEqual(await collect(await client.getBlob(r, image.layerDescriptor)), image.layer);
  });

  it('resumes a download that drops mid-body with a Range request', async () => {
    const { r, image } = await pushed('drop-download', 100_000);
    proxy.setRules([{ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'dropResponse', afterBytes: 30_000 } }]);
    const progress: number[] = [];
    const bytes = await collect(await client.getBlob(r, image.layerDescriptor, { onProgress: (b) => progress.push(b) }));
    assert.deepEqual(bytes, image.layer);
    const gets = proxy.stats().records.filter((x) => x.kind === 'blob' && x.method === 'GET');
    assert.equal(gets.length, 2);
    assert.equal(gets[1]!.status, 206, 'the second GET asked for the rest only');
    assert.equal(gets[1]!.responseBytes, image.layer.byteLength - 30_000);
    assert.equal(progress.at(-1), image.layer.byteLength);
  });

  it('fails with DigestMismatchError when the blob body is corrupted', async () => {
    const { r, image } = await pushed('corrupt');
    proxy.setRules([{ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'corrupt' } }]);
    await assert.rejects(async () => collect(await client.getBlob(r, image.layerDescriptor)), isCode('ERR_DIGEST_MISMATCH'));
  });

  it('fails with DigestMismatchError when a manifest pulled by digest is corrupted', async () => {
    const { r, image } = await pushed('corrupt-manifest');
    proxy.setRules([{ method: 'GET', path: /\/manifests\/sha256:/, fault: { kind: 'corrupt' } }]);
    await assert.rejects(client.getManifest(r, image.manifest.digest), isCode('ERR_DIGEST_MISMATCH'));
    // By tag, Docker-Content-Digest gives it away.
    proxy.setRules([{ method: 'GET', path: /\/manifests\/v1$/, fault: { kind: 'corrupt' } }]);
    await assert.rejects(client.getManifest(r, 'v1'), isCode('ERR_DIGEST_MISMATCH'));
  });

  it('limits concurrent blob downloads per registry', async () => {
    const { r, image } = await pushed('concurrency', 5000);
    const limited = createRegistryClient({ concurrency: 1 });
    try {
      const first = await limited.getBlob(r, image.layerDescriptor);
      let secondStarted = false;
      const second = limited.getBlob(r, image.layerDescriptor).then((s) => ((secondStarted = true), s));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(secondStarted, false, 'the second download waits for the first');
      await collect(first);
      assert.deepEqual(await collect(await second), image.layer);
    } finally {
      await limited.close();
    }
  });

  it('cuts a download trickled far below minBytesPerSecond and resumes it with Range', { timeout: 30_000 }, async () => {
    const { r, image } = await pushed('trickle', 200_000);
    const slow = createRegistryClient({ idleTimeoutMs: 1000, minBytesPerSecond: 10_000, retries: { baseDelayMs: 10, maxDelayMs: 100, count: 2 } });
    try {
      proxy.setRules([{ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'trickle', bytes: 100, everyMs: 100 } }]);
      const start = Date.now();
      assert.deepEqual(await collect(await slow.getBlob(r, image.layerDescriptor)), image.layer);
      assert.ok(Date.now() - start < 10_000, `took ${Date.now() - start} ms`);
      const gets = proxy.stats().records.filter((x) => x.method === 'GET' && x.kind === 'blob');
      assert.equal(gets.length, 2, 'one cut, one resumed request');
      assert.ok(gets[0]!.responseBytes > 0 && gets[0]!.responseBytes < image.layer.length, `${gets[0]!.responseBytes} bytes before the cut`);
      // The rest only, from a Range request (the proxy may count a last piece the client never read).
      assert.ok(gets[1]!.responseBytes < image.layer.length, `${gets[1]!.responseBytes} bytes resumed`);
      assert.ok(gets[0]!.responseBytes + gets[1]!.responseBytes >= image.layer.length);
    } finally {
      await slow.close();
    }
  });

  it('fails with a TimeoutError when every attempt trickles', { timeout: 30_000 }, async () => {
    const { r, image } = await pushed('trickle-always', 200_000);
    const slow = createRegistryClient({ idleTimeoutMs: 500, minBytesPerSecond: 10_000, retries: { baseDelayMs: 10, maxDelayMs: 100, count: 2 } });
    try {
      proxy.setRules([{ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'trickle', bytes: 100, everyMs: 100 }, times: 100 }]);
      const stream = await slow.getBlob(r, image.layerDescriptor);
      await assert.rejects(collect(stream), (error: unknown) => error instanceof TimeoutError && error.phase === 'low-speed');
      // The proxy records a request when its connection closes, a moment after the client cut it.
      const gets = () => proxy.stats().records.filter((x) => x.method === 'GET' && x.kind === 'blob').length;
      for (let i = 0; i < 40 && gets() < 3; i++) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.equal(gets(), 3, 'the first request and two resumptions');
    } finally {
      await slow.close();
    }
  });
});
