/**
 * Connect, idle and low-speed timeouts (docs/limits.md): a server that accepts TCP and never
 * finishes a TLS handshake, one that never answers, one that sends headers and then nothing,
 * and one that trickles a byte now and then each end in a `TimeoutError` instead of a hang; a
 * reader that pauses a fast body for longer than the idle timeout is not cut off. Real servers
 * on 127.0.0.1 with short timeouts (the defaults are 30 s and 60 s).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { TimeoutError } from '../../src/errors.ts';
import { createRegistryClient, type RegistryClientOptions } from '../../src/registry/index.ts';

const BLOB = Buffer.alloc(8 * 1024 * 1024, 7);
const BLOB_DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;

describe('registry timeouts', () => {
  let server: http.Server;
  let silent: net.Server;
  let host: string;
  let silentHost: string;
  const timers = new Set<NodeJS.Timeout>();
  let manifestRequests = 0;
  const silentSockets = new Set<net.Socket>();
  const clients: { close(): Promise<void> }[] = [];
  const client = (options: RegistryClientOptions = {}) => {
    const c = createRegistryClient({ idleTimeoutMs: 1000, minBytesPerSecond: 100, retries: { count: 0 }, ...options });
    clients.push(c);
    return c;
  };

  before(async () => {
    server = http.createServer((req, res) => {
      const path = req.url ?? '/';
      res.on('error', () => undefined);
      if (path === '/v2/') return void res.writeHead(200).end('{}');
      if (path.endsWith('/manifests/trickle')) {
        manifestRequests++;
        // One byte every 200 ms: never idle for a second, far below 100 bytes/s.
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(' ')), 200);
        timers.add(timer);
        return;
      }
      if (path.endsWith('/manifests/silent-body')) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '100' });
        res.flushHeaders();
        return;
      }
      if (path.endsWith('/manifests/no-answer')) return; // never a status line
      if (path.endsWith(`/blobs/${BLOB_DIGEST}`)) return void res.writeHead(200, { 'content-length': String(BLOB.length) }).end(BLOB);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Accepts connections and never says a word: a TLS handshake with it never completes.
    silent = net.createServer((socket) => {
      silentSockets.add(socket.on('error', () => undefined));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentHost = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const timer of timers) clearInterval(timer);
    await Promise.all(clients.map((c) => c.close()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of silentSockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  const timeout = (phase: string, option: string) => (error: unknown): boolean => {
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.code, 'ERR_TIMEOUT');
    assert.equal(error.phase, phase);
    assert.match(error.message, new RegExp(option));
    return true;
  };

  it('ends a connection whose TLS handshake never completes with a connect timeout', { timeout: 15_000 }, async () => {
    const c = client({ connectTimeoutMs: 500 });
    const start = Date.now();
    await assert.rejects(c.ping(silentHost), timeout('connect', 'connectTimeoutMs'));
    assert.ok(Date.now() - start < 5000, `took ${Date.now() - start} ms`);
  });

  it('ends a request that never gets a status line with an idle timeout', { timeout: 15_000 }, async () => {
    const c = client();
    await assert.rejects(c.getManifest({ registry: host, repository: 'app' }, 'no-answer'), timeout('idle', 'idleTimeoutMs'));
  });

  it('ends a body that stops after the headers with an idle timeout', { timeout: 15_000 }, async () => {
    const c = client();
    await assert.rejects(c.getManifest({ registry: host, repository: 'app' }, 'silent-body'), timeout('idle', 'idleTimeoutMs'));
  });

  it('ends a trickling body with a low-speed timeout, retried within the retry policy', { timeout: 20_000 }, async () => {
    manifestRequests = 0;
    const c = client({ retries: { count: 1, baseDelayMs: 10, maxDelayMs: 10 } });
    const start = Date.now();
    await assert.rejects(c.getManifest({ registry: host, repository: 'app' }, 'trickle'), timeout('low-speed', 'minBytesPerSecond'));
    assert.equal(manifestRequests, 2, 'one retry');
    assert.ok(Date.now() - start < 8000, `took ${Date.now() - start} ms`);
    // Disabling the low-speed floor leaves only the idle check, which a trickle passes.
    const lenient = client({ minBytesPerSecond: 0 });
    const stop = new AbortController();
    const pending = lenient.getManifest({ registry: host, repository: 'app' }, 'trickle', { signal: stop.signal });
    const outcome = await Promise.race([pending.then(() => 'done', () => 'failed'), new Promise((r) => setTimeout(() => r('still reading'), 2500))]);
    assert.equal(outcome, 'still reading');
    stop.abort();
    await assert.rejects(pending);
  });

  it('does not count time in which the reader paused a fast body', { timeout: 20_000 }, async () => {
    const c = client();
    const stream = await c.getBlob({ registry: host, repository: 'app' }, { mediaType: 'application/octet-stream', digest: BLOB_DIGEST, size: BLOB.length });
    let total = 0;
    let first = true;
    for await (const chunk of stream) {
      total += chunk.byteLength;
      if (first) {
        first = false;
        // Longer than two idle windows: back-pressure, not a slow registry.
        await new Promise((resolve) => setTimeout(resolve, 2500));
      }
    }
    assert.equal(total, BLOB.length);
  });
});
