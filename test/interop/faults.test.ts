// Fault injection through the test proxy: dropped uploads and downloads, 503, 429 with
// Retry-After, corrupted blob bodies. A copy either completes with the identical digest or fails
// with a typed error, and a failed copy leaves no tag and no layout behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DigestMismatchError, OcibuildError } from '../../src/errors.ts';
import { buildRandomLayout, type RandomLayout } from '../helpers/fixtures.ts';
import { startProxy, type FaultRule, type TestProxy } from '../helpers/proxy.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ocibuildCopy, type OcibuildCopyOptions } from './ocibuild.ts';
import { skopeoCopy, skopeoInspect, skopeoTags } from './tools.ts';

let registry: TestRegistry;
let proxy: TestProxy;
let dir: string;
let image: RandomLayout;
let seeded = false;
// Short backoff keeps the file fast; the retry count still allows a few failures in a row.
const FAST: OcibuildCopyOptions = { retries: { count: 3, baseDelayMs: 20, maxDelayMs: 500 } };

const UPLOAD_BODY = /\/blobs\/uploads\/[^?]+/; // PATCH/PUT to an upload session, not the POST that opens it
const BLOB_GET = /\/blobs\/sha256:/;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-interop-faults-'));
  registry = await startRegistry();
  proxy = await startProxy(registry.url);
  image = await buildRandomLayout(dir, { layers: 2, layerSize: 400_000 });
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
function freshRepo(name: string): string {
  return `faults/${name}-${++counter}`;
}

async function pushThroughProxy(repo: string, rules: FaultRule[]): Promise<{ digest: string; seconds: number }> {
  proxy.setRules(rules);
  proxy.resetStats();
  const started = performance.now();
  const result = await ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${proxy.host}/${repo}:v1`, FAST);
  const seconds = (performance.now() - started) / 1000;
  proxy.setRules([]);
  return { digest: result.digest, seconds };
}

async function assertPushed(repo: string): Promise<void> {
  const inspected = await skopeoInspect(`${registry.host}/${repo}:v1`);
  assert.equal(inspected.Digest, image.manifestDigest);
}

/** A pulled-from repository that sits behind the proxy; pushed directly, once. */
async function seedSource(): Promise<string> {
  const repo = 'faults/source';
  if (!seeded) {
    await skopeoCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${registry.host}/${repo}:v1`);
    seeded = true;
  }
  return repo;
}

test('a connection dropped mid-upload is retried; the push completes with the same digest', async () => {
  const repo = freshRepo('drop-upload');
  const { digest } = await pushThroughProxy(repo, [{ path: UPLOAD_BODY, fault: { kind: 'dropRequest', afterBytes: 100_000 } }]);
  assert.equal(digest, image.manifestDigest);
  assert.equal(proxy.stats().faults, 1, 'the fault fired');
  await assertPushed(repo);
});

test('503 once on opening an upload and on the manifest PUT, then success', async () => {
  const repo = freshRepo('503');
  const { digest } = await pushThroughProxy(repo, [
    { method: 'POST', path: /\/blobs\/uploads\/$/, fault: { kind: 'status', status: 503 } },
    { method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 503 } },
  ]);
  assert.equal(digest, image.manifestDigest);
  assert.equal(proxy.stats().faults, 2);
  await assertPushed(repo);
});

test('429 with Retry-After: 1 is honoured', async () => {
  const repo = freshRepo('429');
  const { digest, seconds } = await pushThroughProxy(repo, [
    { method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: 1 } },
  ]);
  assert.equal(digest, image.manifestDigest);
  assert.equal(proxy.stats().faults, 1);
  assert.ok(seconds >= 0.9, `waited for Retry-After (${seconds.toFixed(2)} s)`);
  await assertPushed(repo);
});

test('a download dropped mid-body resumes or retries; the pull is byte-identical', async () => {
  const source = await seedSource();
  proxy.setRules([{ method: 'GET', path: BLOB_GET, fault: { kind: 'dropResponse', afterBytes: 150_000 } }]);
  const out = path.join(dir, 'dropped-download');
  const result = await ocibuildCopy(`docker://${proxy.host}/${source}:v1`, `oci:${out}:v1`, FAST);
  proxy.setRules([]);
  assert.equal(result.digest, image.manifestDigest);
  assert.equal(proxy.stats().faults >= 1, true);
});

test('a corrupted blob once: the copy fails with DigestMismatchError and no layout; the next copy succeeds', async () => {
  // A digest mismatch is not a transient failure (skopeo does not retry it either): the copy
  // must fail, never commit the bad bytes, and leave nothing that spoils the next attempt.
  const source = await seedSource();
  proxy.resetStats();
  proxy.setRules([{ method: 'GET', path: BLOB_GET, fault: { kind: 'corrupt' } }]);
  const out = path.join(dir, 'corrupt-once');
  try {
    await assert.rejects(ocibuildCopy(`docker://${proxy.host}/${source}:v1`, `oci:${out}:v1`, FAST), DigestMismatchError);
    assert.equal(proxy.stats().faults, 1, 'the fault fired');
    assert.equal(existsSync(out), false, 'nothing committed');
  } finally {
    proxy.setRules([]);
  }
  const result = await ocibuildCopy(`docker://${proxy.host}/${source}:v1`, `oci:${out}:v1`, FAST);
  assert.equal(result.digest, image.manifestDigest);
});

test('a blob corrupted every time fails with DigestMismatchError and leaves no tag at the destination', async () => {
  const source = await seedSource();
  proxy.setRules([{ method: 'GET', path: BLOB_GET, times: 1000, fault: { kind: 'corrupt' } }]);
  const out = path.join(dir, 'corrupt-always');
  await assert.rejects(ocibuildCopy(`docker://${proxy.host}/${source}:v1`, `oci:${out}:v1`, FAST), DigestMismatchError);
  assert.equal(existsSync(out), false, 'no layout left behind');
  // Registry to registry: the source is read through the proxy, the destination written directly.
  const dst = freshRepo('corrupt-dst');
  await assert.rejects(
    ocibuildCopy(`docker://${proxy.host}/${source}:v1`, `docker://${registry.host}/${dst}:v1`, FAST),
    DigestMismatchError,
  );
  proxy.setRules([]);
  assert.deepEqual(await skopeoTags(`${registry.host}/${dst}`), [], 'no tag points at an incomplete image');
});

test('an upload dropped every time fails with a typed error and leaves no tag', async () => {
  const repo = freshRepo('drop-always');
  proxy.setRules([{ path: UPLOAD_BODY, times: 1000, fault: { kind: 'dropRequest', afterBytes: 50_000 } }]);
  await assert.rejects(
    ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${proxy.host}/${repo}:v1`, FAST),
    (error: unknown) => error instanceof OcibuildError,
  );
  proxy.setRules([]);
  assert.deepEqual(await skopeoTags(`${registry.host}/${repo}`), []);
});
