import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startRegistry, type TestRegistry } from './registry.ts';
import { classifyPath, startProxy, type TestProxy } from './proxy.ts';

let registry: TestRegistry;
let proxy: TestProxy;
const blob = randomBytes(256 * 1024);
const digest = 'sha256:' + createHash('sha256').update(blob).digest('hex');

before(async () => {
  registry = await startRegistry();
  proxy = await startProxy(registry.url);
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
});

/** Monolithic upload through the proxy: POST, then PUT with the body. */
async function upload(repo: string): Promise<Response> {
  const start = await fetch(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location')!, proxy.url);
  assert.equal(location.host, proxy.host, 'Location points back at the proxy');
  location.searchParams.set('digest', digest);
  return fetch(location, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
}

test('classifyPath', () => {
  assert.equal(classifyPath('/v2/'), 'ping');
  assert.equal(classifyPath('/v2/a/b/blobs/uploads/'), 'upload');
  assert.equal(classifyPath('/v2/a/blobs/uploads/123-abc?digest=sha256:00'), 'upload');
  assert.equal(classifyPath(`/v2/a/blobs/${digest}`), 'blob');
  assert.equal(classifyPath('/v2/a/manifests/latest'), 'manifest');
  assert.equal(classifyPath('/v2/a/tags/list?n=10'), 'tags');
});

test('forwards and counts requests and body bytes', async () => {
  proxy.resetStats();
  assert.equal((await upload('counted')).status, 201);
  const get = await fetch(`${proxy.url}/v2/counted/blobs/${digest}`);
  assert.equal(get.status, 200);
  assert.deepEqual(Buffer.from(await get.arrayBuffer()), blob);
  const stats = proxy.stats();
  assert.equal(stats.blobUploadBytes, blob.length);
  assert.equal(stats.blobDownloadBytes, blob.length);
  assert.equal(stats.byRoute['POST upload']?.count, 1);
  assert.equal(stats.byRoute['PUT upload']?.requestBytes, blob.length);
  assert.equal(stats.byRoute['GET blob']?.responseBytes, blob.length);
  assert.equal(stats.faults, 0);
});

test('503 once, then passes', async () => {
  proxy.setRules([{ method: 'GET', path: /\/blobs\//, fault: { kind: 'status', status: 503 } }]);
  const first = await fetch(`${proxy.url}/v2/counted/blobs/${digest}`);
  assert.equal(first.status, 503);
  assert.equal(((await first.json()) as { errors: { code: string }[] }).errors[0]?.code, 'UNAVAILABLE');
  const second = await fetch(`${proxy.url}/v2/counted/blobs/${digest}`);
  assert.equal(second.status, 200);
  await second.arrayBuffer();
});

test('429 with Retry-After', async () => {
  proxy.setRules([{ path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: 1 } }]);
  const first = await fetch(`${proxy.url}/v2/counted/manifests/latest`);
  assert.equal(first.status, 429);
  assert.equal(first.headers.get('retry-after'), '1');
  await first.arrayBuffer();
  const second = await fetch(`${proxy.url}/v2/counted/manifests/latest`);
  assert.equal(second.status, 404);
  await second.arrayBuffer();
});

test('corrupts one byte of a blob body', async () => {
  proxy.setRules([{ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'corrupt', offset: 1000 } }]);
  const body = Buffer.from(await (await fetch(`${proxy.url}/v2/counted/blobs/${digest}`)).arrayBuffer());
  assert.equal(body.length, blob.length);
  assert.notDeepEqual(body, blob);
  assert.equal(body[1000], blob[1000]! ^ 0xff);
  assert.deepEqual(body.subarray(1001), blob.subarray(1001));
});

test('drops a response mid-body', async () => {
  proxy.setRules([{ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'dropResponse', afterBytes: 10_000 } }]);
  proxy.resetStats();
  const response = await fetch(`${proxy.url}/v2/counted/blobs/${digest}`);
  await assert.rejects(response.arrayBuffer());
  assert.equal(proxy.stats().records[0]?.responseBytes, 10_000);
});

test('drops an upload mid-body; nothing is stored; the retry succeeds', async () => {
  proxy.setRules([{ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'dropRequest', afterBytes: 100_000 } }]);
  proxy.resetStats();
  await assert.rejects(upload('dropped'));
  const head = await fetch(`${registry.url}/v2/dropped/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(head.status, 404);
  const record = proxy.stats().records.find((r) => r.method === 'PUT');
  assert.equal(record?.fault, 'dropRequest');
  assert.equal(record?.requestBytes, 100_000);
  assert.equal((await upload('dropped')).status, 201);
});

test('holds a request, body and all, then passes it on; a request started later ends first', async () => {
  proxy.setRules([{ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'delay', ms: 400 } }]);
  proxy.resetStats();
  const started = Date.now();
  const held = upload('held');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await fetch(`${proxy.url}/v2/`)).status, 200);
  assert.equal((await held).status, 201);
  assert.ok(Date.now() - started >= 400);
  const records = proxy.stats().records;
  assert.deepEqual(records.map((r) => `${r.method} ${r.kind}`), ['POST upload', 'GET ping', 'PUT upload']);
  assert.equal(records[2]?.fault, 'delay');
  assert.equal(records[2]?.requestBytes, blob.length);
  const head = await fetch(`${registry.url}/v2/held/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(head.status, 200, 'the held body reached the registry whole');
});
