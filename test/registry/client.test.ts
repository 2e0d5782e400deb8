import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { bodyOf, collect, describe as describeBytes, isCode, makeImage, sha256 } from './fixtures.ts';

const encoder = new TextEncoder();

describe('registry client against docker-registry (anonymous)', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  before(async () => {
    registry = await startRegistry();
    client = createRegistryClient();
  });
  after(async () => {
    await client.close();
    await stopAll();
  });

  it('pushes and pulls a small image through the transport', async () => {
    const image = makeImage('anon');
    const t = registryTransport(`${registry.host}/tests/anon:v1`, client);
    assert.equal(t.description, `docker://${registry.host}/tests/anon`);
    assert.deepEqual(t.origin, { registry: registry.host, repository: 'tests/anon' });
    assert.equal(await t.hasBlob(image.layerDescriptor), false);
    await t.putBlob(image.configDescriptor, bodyOf(image.config));
    await t.putBlob(image.layerDescriptor, bodyOf(image.layer, 100));
    assert.equal(await t.hasBlob(image.layerDescriptor), true);
    await t.putManifest(image.manifest, 'v1');

    const byTag = await t.getManifest('v1');
    assert.equal(byTag.digest, image.manifest.digest);
    assert.equal(byTag.mediaType, image.manifest.mediaType);
    assert.deepEqual(byTag.bytes, image.manifest.bytes);
    assert.deepEqual(await collect(await t.getBlob(image.layerDescriptor)), image.layer);
    assert.deepEqual(await collect(await t.getBlob(image.configDescriptor)), image.config);
    // skopeo reads what we pushed, byte for byte.
    const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/tests/anon:v1`]);
    assert.deepEqual(new Uint8Array(raw), image.manifest.bytes);
    await assert.rejects(t.getManifest('absent'), isCode('ERR_NOT_FOUND'));
    const missing = describeBytes(encoder.encode('never pushed'), 'application/octet-stream');
    await assert.rejects(async () => collect(await t.getBlob(missing)), isCode('ERR_NOT_FOUND'));
    // The client itself speaks in registry codes.
    await assert.rejects(client.getManifest({ registry: registry.host, repository: 'tests/anon' }, 'absent'), isCode('ERR_REGISTRY_NOT_FOUND'));
  });

  it('pulls a manifest by digest and verifies it; Docker v2.2 media types round-trip', async () => {
    const image = makeImage('docker', 500, 'docker');
    const repo = { registry: registry.host, repository: 'tests/docker' };
    await client.putBlob(repo, image.configDescriptor, image.config);
    await client.putBlob(repo, image.layerDescriptor, bodyOf(image.layer));
    const put = await client.putManifest(repo, image.manifest, undefined);
    assert.equal(put.digest, image.manifest.digest);
    const got = await client.getManifest(repo, image.manifest.digest);
    assert.equal(got.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.deepEqual(got.bytes, image.manifest.bytes);
    const head = await client.headManifest(repo, image.manifest.digest);
    assert.deepEqual(head, { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.byteLength });
    assert.equal(await client.headManifest(repo, 'nope'), undefined);
  });

  it('refuses a manifest whose bytes do not match its digest, before sending it', async () => {
    const image = makeImage('bad-manifest');
    const repo = { registry: registry.host, repository: 'tests/bad' };
    await assert.rejects(
      client.putManifest(repo, { ...image.manifest, digest: sha256(encoder.encode('other')) }, 'x'),
      isCode('ERR_DIGEST_MISMATCH'),
    );
    const log = await registry.requestLog();
    assert.equal(log.filter((r) => r.method === 'PUT' && r.path.includes('/tests/bad/manifests/')).length, 0);
  });

  it('rejects an upload whose bytes do not match and leaves the blob absent', async () => {
    const repo = { registry: registry.host, repository: 'tests/mismatch' };
    const bytes = encoder.encode('the declared bytes');
    const desc = describeBytes(bytes, 'application/octet-stream');
    await assert.rejects(client.putBlob(repo, desc, encoder.encode('other bytes, same..')), isCode('ERR_SIZE_MISMATCH'));
    await assert.rejects(client.putBlob(repo, desc, encoder.encode('the declared bytez')), isCode('ERR_DIGEST_MISMATCH'));
    assert.equal(await client.hasBlob(repo, desc.digest), false);
  });

  it('uploads in chunks (PATCH with Content-Range) when chunkSize is set', async () => {
    const chunked = createRegistryClient({ chunkSize: 4096 });
    try {
      const repo = { registry: registry.host, repository: 'tests/chunked' };
      const image = makeImage('chunked', 20_000);
      assert.ok(image.layer.byteLength > 3 * 4096);
      await chunked.putBlob(repo, image.layerDescriptor, bodyOf(image.layer, 1000));
      assert.deepEqual(await collect(await chunked.getBlob(repo, image.layerDescriptor)), image.layer);
      const patches = (await registry.requestLog()).filter((r) => r.method === 'PATCH' && r.path.includes('/tests/chunked/'));
      assert.equal(patches.length, Math.ceil(image.layer.byteLength / 4096));
      assert.ok(patches.every((r) => r.status === 202));
    } finally {
      await chunked.close();
    }
  });

  it('mounts a blob from another repository instead of uploading it again', async () => {
    const image = makeImage('mount', 5000);
    const src = registryTransport(`${registry.host}/tests/mount-src`, client);
    const dst = registryTransport(`${registry.host}/tests/mount-dst`, client);
    await src.putBlob(image.layerDescriptor, bodyOf(image.layer));
    // Distribution links blobs per repository: the destination does not see it yet.
    assert.equal(await dst.hasBlob(image.layerDescriptor), false);
    assert.equal(await dst.mountBlob!(image.layerDescriptor, src.origin!), true);
    assert.equal(await dst.hasBlob(image.layerDescriptor), true);
    const log = await registry.requestLog();
    const toDst = log.filter((r) => r.path.startsWith('/v2/tests/mount-dst/blobs/uploads/'));
    assert.deepEqual(toDst.map((r) => [r.method, r.status]), [['POST', 201]]);
    assert.ok(toDst[0]!.path.includes(`mount=${encodeURIComponent(image.layerDescriptor.digest)}`) || toDst[0]!.path.includes(`mount=${image.layerDescriptor.digest}`));
    assert.ok(toDst[0]!.path.includes('from=tests%2Fmount-src') || toDst[0]!.path.includes('from=tests/mount-src'));
    // A blob the source does not have: the registry opens a session (202), we cancel it and say no.
    const other = describeBytes(encoder.encode('not in the source'), 'application/octet-stream');
    assert.equal(await dst.mountBlob!(other, src.origin!), false);
    // Another registry: no request at all.
    assert.equal(await dst.mountBlob!(other, { registry: 'elsewhere.example', repository: 'x' }), false);
  });

  it('putBlob with mountFrom continues as an upload when the mount is refused', async () => {
    const repo = { registry: registry.host, repository: 'tests/mount-fallback' };
    const bytes = encoder.encode('uploaded after a refused mount');
    const desc = describeBytes(bytes, 'application/octet-stream');
    assert.equal(await client.putBlob(repo, desc, bytes, { mountFrom: 'tests/nowhere' }), 'uploaded');
    assert.equal(await client.hasBlob(repo, desc.digest), true);
    const posts = (await registry.requestLog()).filter((r) => r.method === 'POST' && r.path.startsWith('/v2/tests/mount-fallback/'));
    assert.equal(posts.length, 1, 'one session: the 202 of the mount request is used for the upload');
  });

  it('skips a manifest PUT when the tag already points at the same digest', async () => {
    const image = makeImage('skip');
    const repo = { registry: registry.host, repository: 'tests/skip' };
    await client.putBlob(repo, image.configDescriptor, image.config);
    await client.putBlob(repo, image.layerDescriptor, image.layer);
    assert.equal((await client.putManifest(repo, image.manifest, 'v1')).skipped, false);
    assert.equal((await client.putManifest(repo, image.manifest, 'v1')).skipped, true);
    const puts = (await registry.requestLog()).filter((r) => r.method === 'PUT' && r.path === '/v2/tests/skip/manifests/v1');
    assert.equal(puts.length, 1);
  });

  it('pushes to a tag it has just read as absent or naming another digest without a HEAD, and still skips an unchanged one', async () => {
    const a = makeImage('seen-a');
    const b = makeImage('seen-b');
    const repo = { registry: registry.host, repository: 'tests/seen' };
    for (const image of [a, b]) {
      await client.putBlob(repo, image.configDescriptor, image.config);
      await client.putBlob(repo, image.layerDescriptor, image.layer);
    }
    await assert.rejects(client.getManifest(repo, 't'), isCode('ERR_REGISTRY_NOT_FOUND'));
    assert.equal((await client.putManifest(repo, a.manifest, 't')).skipped, false);
    assert.equal((await client.getManifest(repo, 't')).digest, a.manifest.digest);
    assert.equal((await client.putManifest(repo, b.manifest, 't')).skipped, false);
    assert.equal((await client.putManifest(repo, b.manifest, 't')).skipped, true);
    const writes = (await registry.requestLog()).filter((r) => r.path === '/v2/tests/seen/manifests/t' && r.method !== 'GET').map((r) => r.method);
    assert.deepEqual(writes, ['PUT', 'PUT', 'HEAD']);
    assert.equal((await client.getManifest(repo, 't')).digest, b.manifest.digest);
  });

  it('lists tags', async () => {
    const image = makeImage('tags');
    const repo = { registry: registry.host, repository: 'tests/tags' };
    await client.putBlob(repo, image.configDescriptor, image.config);
    await client.putBlob(repo, image.layerDescriptor, image.layer);
    const tags = ['a', 'b', 'c', 'd', 'e'];
    for (const tag of tags) await client.putManifest(repo, image.manifest, tag);
    assert.deepEqual((await client.listTags(repo)).sort(), tags);
    // distribution 2.8 ignores `n` on tags/list (pagination there came in 3.0); see the Link test below.
    assert.deepEqual((await client.listTags(repo, { pageSize: 2 })).sort(), tags);
  });

  it('lists referrers through the fallback tag scheme when the API is absent', async () => {
    const image = makeImage('subject');
    const repo = { registry: registry.host, repository: 'tests/referrers' };
    await client.putBlob(repo, image.configDescriptor, image.config);
    await client.putBlob(repo, image.layerDescriptor, image.layer);
    await client.putManifest(repo, image.manifest, 'v1');
    assert.deepEqual(await client.listReferrers(repo, image.manifest.digest), []);
    // The index children must exist: distribution checks them.
    const sig = makeImage('signature');
    await client.putBlob(repo, sig.configDescriptor, sig.config);
    await client.putBlob(repo, sig.layerDescriptor, sig.layer);
    await client.putManifest(repo, sig.manifest, undefined);
    const referrer = { mediaType: sig.manifest.mediaType, digest: sig.manifest.digest, size: sig.manifest.bytes.byteLength, artifactType: 'application/vnd.example.sig' };
    const index = encoder.encode(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [referrer] }));
    await client.putManifest(repo, { mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(index), bytes: index }, `sha256-${image.manifest.digest.slice(7)}`);
    assert.deepEqual(await client.listReferrers(repo, image.manifest.digest), [referrer]);
    assert.deepEqual(await client.listReferrers(repo, image.manifest.digest, { artifactType: 'other/type' }), []);
  });

  it('stops at the abort signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(client.hasBlob({ registry: registry.host, repository: 'tests/x' }, sha256(encoder.encode('x')), { signal: controller.signal }), isCode('ERR_ABORTED'));
  });
});
