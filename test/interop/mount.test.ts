// Cross-repository mount: copying an image into a new repository of the same registry moves no
// blob bytes, proven with the counting proxy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CopyEvent } from '../../src/image/copy.ts';
import { buildRandomLayout, type RandomLayout } from '../helpers/fixtures.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ocibuildCopy } from './ocibuild.ts';
import { skopeoInspect } from './tools.ts';

let registry: TestRegistry;
let proxy: TestProxy;
let dir: string;
let image: RandomLayout;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-interop-mount-'));
  registry = await startRegistry();
  proxy = await startProxy(registry.url);
  image = await buildRandomLayout(dir, { layers: 3, layerSize: 200_000 });
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('the second push into a new repository mounts every blob: zero blob bytes uploaded', async () => {
  const first = await ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${proxy.host}/mount/first:v1`);
  assert.equal(first.digest, image.manifestDigest);
  const firstStats = proxy.stats();
  assert.ok(firstStats.blobUploadBytes >= image.totalBytes - 2000, 'the first push uploaded the blobs');

  proxy.resetStats();
  const events: CopyEvent[] = [];
  const second = await ocibuildCopy(`docker://${proxy.host}/mount/first:v1`, `docker://${proxy.host}/mount/second:v1`, {
    onEvent: (event) => events.push(event),
  });
  assert.equal(second.digest, image.manifestDigest);
  const stats = proxy.stats();
  assert.equal(stats.blobUploadBytes, 0, 'no blob bytes uploaded');
  assert.equal(stats.blobDownloadBytes, 0, 'no blob bytes downloaded either');
  const mountPosts = stats.records.filter((r) => r.method === 'POST' && r.kind === 'upload' && /[?&]mount=/.test(r.path));
  assert.equal(mountPosts.length, image.layers.length + 1, 'one mount per layer and the config');
  for (const post of mountPosts) {
    assert.match(post.path, /[?&]from=mount(%2F|\/)first/, 'mount is always sent with from');
    assert.equal(post.status, 201);
  }
  const mounted = events.filter((e) => e.type === 'blob-mounted').map((e) => e.digest).sort();
  assert.deepEqual(mounted, [image.configDigest, ...image.layers.map((l) => l.digest)].sort());

  const inspected = await skopeoInspect(`${registry.host}/mount/second:v1`);
  assert.equal(inspected.Digest, image.manifestDigest);
});
