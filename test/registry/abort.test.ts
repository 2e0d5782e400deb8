/**
 * An aborted push leaves no upload session open: when the signal fires mid-upload, the client
 * rejects with `ERR_ABORTED` and cancels the session with `DELETE`, after which the registry
 * no longer knows the upload (GET of its URL is 404). Real docker-registry behind the counting
 * proxy, which shows the upload URL the client used.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OcibuildError } from '../../src/errors.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { makeImage } from './fixtures.ts';

/** Upload status of a session URL as the registry itself reports it (204 open, 404 unknown). */
async function uploadStatus(registry: TestRegistry, uploadPath: string): Promise<number> {
  const url = new URL(uploadPath, registry.url);
  url.searchParams.delete('digest');
  const response = await fetch(url);
  await response.arrayBuffer();
  return response.status;
}

describe('aborting a push cancels its upload session', () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let client: RegistryClient;
  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url);
    client = createRegistryClient({ retries: { count: 0 } });
  });
  after(async () => {
    await client.close();
    await proxy.stop();
    await stopAll();
  });

  for (const chunked of [false, true]) {
    it(`${chunked ? 'chunked (PATCH)' : 'monolithic (PUT)'} upload: DELETE on abort, then the registry has no such upload`, { timeout: 30_000 }, async () => {
      const c = chunked ? createRegistryClient({ retries: { count: 0 }, chunkSize: 64 * 1024 }) : client;
      const image = makeImage(`abort-${chunked}`, 400_000);
      const repo = { registry: proxy.host, repository: `abort/${chunked ? 'chunked' : 'mono'}` };
      const stop = new AbortController();
      proxy.resetStats();
      // Sends part of the blob, then waits for the abort, as a pipeline interrupted by Ctrl-C does.
      const body = () =>
        (async function* () {
          yield image.layer.subarray(0, 100_000);
          await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
          yield image.layer.subarray(100_000);
        })();
      const pending = c.putBlob(repo, image.layerDescriptor, body, { signal: stop.signal });
      // Abort once the registry has started receiving the blob.
      for (let i = 0; i < 200 && !proxy.stats().records.some((r) => r.method === 'POST' && r.status === 202); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      stop.abort();
      await assert.rejects(pending, (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_ABORTED');
      if (c !== client) await c.close();
      const records = proxy.stats().records;
      const deletes = records.filter((r) => r.method === 'DELETE' && r.kind === 'upload');
      assert.equal(deletes.length, 1, records.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n'));
      // After an interrupted PATCH the session is usually still open and the DELETE ends it (204);
      // distribution drops a session whose request broke off by itself (404), which on a loaded
      // machine can happen before the DELETE arrives for a PATCH too. Either way it must be gone.
      assert.ok([204, 404].includes(deletes[0]!.status), `DELETE answered ${deletes[0]!.status}`);
      const sessionPath = deletes[0]!.path;
      assert.equal(await uploadStatus(registry, sessionPath), 404);
      // The blob was never committed.
      const head = await fetch(new URL(`/v2/${repo.repository}/blobs/${image.layerDescriptor.digest}`, registry.url), { method: 'HEAD' });
      assert.equal(head.status, 404);
    });
  }

  it('aborting a download mid-body rejects the stream with ERR_ABORTED', { timeout: 30_000 }, async () => {
    const image = makeImage('abort-download', 2_000_000);
    const repo = { registry: proxy.host, repository: 'abort/download' };
    await client.putBlob(repo, image.layerDescriptor, image.layer);
    const stop = new AbortController();
    const stream = await client.getBlob(repo, image.layerDescriptor, { signal: stop.signal });
    const read = (async () => {
      for await (const _chunk of stream) {
        stop.abort();
        // Give undici the turn in which it tears the request down.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await assert.rejects(read, (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_ABORTED');
  });

  it('an open session answers 204 to the same status check (the check can tell)', async () => {
    const start = await fetch(new URL('/v2/abort/control/blobs/uploads/', registry.url), { method: 'POST' });
    assert.equal(start.status, 202);
    const location = start.headers.get('location');
    assert.ok(location);
    assert.equal(await uploadStatus(registry, location), 204);
  });
});
