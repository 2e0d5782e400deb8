import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyImage, type CopyEvent } from '../../src/image/copy.ts';
import { memorySource } from '../../src/image/memory.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { OcibuildError } from '../../src/errors.ts';
import type { Descriptor, RawManifest } from '../../src/oci/types.ts';
import type { BlobOrigin, Transport } from '../../src/transports/types.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { describeBytes, sha256 } from '../transports/conformance.ts';

const skopeo = (...args: string[]): Buffer => execFileSync('skopeo', ['--insecure-policy', ...args]);
const encoder = new TextEncoder();

function isCode(code: string) {
  return (error: unknown): boolean => error instanceof OcibuildError && error.code === code;
}

function count(events: CopyEvent[], type: CopyEvent['type'], digest?: string): number {
  return events.filter((e) => e.type === type && (digest === undefined || e.digest === digest)).length;
}

describe('copyImage', () => {
  let dir: string;
  let single: string; // skopeo-written layout, tag src
  let multi: string; // two-platform layout, tag latest
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-copy-'));
    const fixture = await buildBusyboxLayout(join(dir, 'fixture'));
    single = join(dir, 'skopeo');
    skopeo('copy', `oci:${fixture.layoutPath}:${fixture.tag}`, `oci:${single}:src`);
    multi = (await buildBusyboxLayout(join(dir, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'] })).layoutPath;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('copies a skopeo-written layout to a new layout that skopeo reads identically', async () => {
    const out = join(dir, 'out1');
    const events: CopyEvent[] = [];
    const src = ociLayout(single);
    const result = await copyImage(src, 'src', ociLayout(out), ['v1'], { onEvent: (e) => events.push(e) });
    assert.deepEqual(skopeo('inspect', '--raw', `oci:${out}:v1`), skopeo('inspect', '--raw', `oci:${single}:src`));
    assert.deepEqual(skopeo('inspect', '--config', '--raw', `oci:${out}:v1`), skopeo('inspect', '--config', '--raw', `oci:${single}:src`));
    assert.equal(result.digest, (await src.getManifest('src')).digest);
    assert.equal(count(events, 'blob-done'), 2); // config and the one layer
    assert.equal(count(events, 'manifest-pushed'), 1);
    const progress = events.filter((e) => e.type === 'blob-progress');
    assert.ok(progress.length >= 2, 'progress is reported');
    assert.ok(progress.every((e) => (e.bytes ?? 0) <= (e.total ?? 0)));
    assert.equal(events.at(-1)?.type, 'manifest-pushed', 'manifest is pushed last');

    // A second copy under another tag keeps the first and moves no blob.
    const again: CopyEvent[] = [];
    await copyImage(src, 'src', ociLayout(out), ['v2'], { onEvent: (e) => again.push(e) });
    assert.equal(count(again, 'blob-skipped'), 2);
    assert.equal(count(again, 'blob-done'), 0);
    assert.deepEqual(skopeo('inspect', '--raw', `oci:${out}:v1`), skopeo('inspect', '--raw', `oci:${out}:v2`));
    assert.deepEqual((await ociLayout(out).listTags()).sort(), ['v1', 'v2']);
  });

  it('fails on a corrupt source blob and leaves no output behind', async () => {
    const bad = join(dir, 'bad');
    await cp(single, bad, { recursive: true });
    const manifest = JSON.parse(skopeo('inspect', '--raw', `oci:${bad}:src`).toString());
    const layerFile = join(bad, 'blobs', 'sha256', (manifest.layers[0].digest as string).slice(7));
    const bytes = await readFile(layerFile);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    await writeFile(layerFile, bytes);

    const parent = await mkdtemp(join(dir, 'fail-'));
    await assert.rejects(copyImage(ociLayout(bad), 'src', ociLayout(join(parent, 'out')), ['v1']), isCode('ERR_DIGEST_MISMATCH'));
    assert.deepEqual(await readdir(parent), [], 'no layout and no staging directory');

    // Into an existing layout: the tag is not added and index.json is unchanged.
    const existing = join(dir, 'existing');
    execFileSync('umoci', ['init', '--layout', existing]);
    const indexBefore = await readFile(join(existing, 'index.json'));
    await assert.rejects(copyImage(ociLayout(bad), 'src', ociLayout(existing), ['broken']), isCode('ERR_DIGEST_MISMATCH'));
    assert.deepEqual(await readFile(join(existing, 'index.json')), indexBefore);
  });

  it('copies a subset of platforms as a re-encoded index', async () => {
    const out = join(dir, 'arm');
    const src = ociLayout(multi);
    const index = await src.getManifest('latest');
    const result = await copyImage(src, 'latest', ociLayout(out), ['arm'], { platforms: [{ os: 'linux', architecture: 'arm64' }] });
    assert.notEqual(result.digest, index.digest);
    const copied = JSON.parse(skopeo('inspect', '--raw', `oci:${out}:arm`).toString());
    assert.equal(copied.manifests.length, 1);
    assert.equal(copied.manifests[0].platform.architecture, 'arm64');
    assert.equal(sha256(new Uint8Array(skopeo('inspect', '--raw', `oci:${out}:arm`))), result.digest);
    // skopeo can read the arm64 image through the new index.
    const config = JSON.parse(skopeo('--override-arch', 'arm64', 'inspect', '--config', '--raw', `oci:${out}:arm`).toString());
    assert.equal(config.architecture, 'arm64');
    await assert.rejects(
      copyImage(src, 'latest', ociLayout(join(dir, 'none')), ['x'], { platforms: [{ os: 'linux', architecture: 's390x' }] }),
      isCode('ERR_NOT_FOUND'),
    );
  });

  it('transfers a blob shared by two platforms once, with any concurrency', async () => {
    for (const concurrency of [1, 8]) {
      const events: CopyEvent[] = [];
      const src = ociLayout(multi);
      const result = await copyImage(src, 'latest', ociLayout(join(dir, `all-${concurrency}`)), ['all'], {
        concurrency,
        onEvent: (e) => events.push(e),
      });
      assert.equal(result.digest, (await src.getManifest('latest')).digest, 'all platforms: index copied unchanged');
      const done = events.filter((e) => e.type === 'blob-done').map((e) => e.digest);
      assert.equal(new Set(done).size, done.length, 'each blob transferred once');
      assert.equal(done.length, 3, 'one shared layer and two configs');
      // Children before the index.
      const pushed = events.filter((e) => e.type === 'manifest-pushed').map((e) => e.digest);
      assert.equal(pushed.at(-1), result.digest);
      assert.equal(pushed.length, 3);
      // Only the index is listed in index.json; its children are plain blobs.
      const listed = JSON.parse(await readFile(join(dir, `all-${concurrency}`, 'index.json'), 'utf8')).manifests;
      assert.deepEqual(listed.map((d: Descriptor) => d.digest), [result.digest]);
    }
  });

  it('transfers a layer listed twice in one manifest once', async () => {
    const src = memorySource();
    const layer = encoder.encode('same layer '.repeat(50));
    const config = encoder.encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layerDesc = describeBytes(layer, 'application/vnd.oci.image.layer.v1.tar');
    const configDesc = describeBytes(config, 'application/vnd.oci.image.config.v1+json');
    const bytes = encoder.encode(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc, layerDesc] }),
    );
    src.addBlob(layerDesc, layer);
    src.addBlob(configDesc, config);
    src.addManifest({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), bytes }, 't');
    const events: CopyEvent[] = [];
    const dst = memorySource();
    await copyImage(src, 't', dst, ['t'], { onEvent: (e) => events.push(e) });
    assert.equal(count(events, 'blob-done', layerDesc.digest), 1);
    assert.equal(count(events, 'blob-skipped', layerDesc.digest), 0);
  });

  it('mounts a blob whose origin is another repository of the destination registry', async () => {
    const layer = encoder.encode('base layer');
    const config = encoder.encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layerDesc = describeBytes(layer, 'application/vnd.oci.image.layer.v1.tar');
    const configDesc = describeBytes(config, 'application/vnd.oci.image.config.v1+json');
    const bytes = encoder.encode(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc] }));
    const manifest: RawManifest = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), bytes };
    const base = memorySource({ description: 'base' });
    base.addBlob(layerDesc, layer);
    const src = memorySource();
    src.addBlob(layerDesc, undefined, { transport: base, registry: 'localhost:5000', repository: 'base' });
    src.addBlob(configDesc, config);
    src.addManifest(manifest, 'v1');

    // A destination that records mounts: the registry transport's own tests check real mounts.
    const store = memorySource({ description: 'registry' });
    const mounts: { digest: string; from: BlobOrigin }[] = [];
    const dst: Transport = {
      ...store,
      description: 'localhost:5000/app',
      origin: { registry: 'localhost:5000', repository: 'app' },
      async mountBlob(descriptor: Descriptor, from: BlobOrigin) {
        mounts.push({ digest: descriptor.digest, from });
        store.addBlob(descriptor, layer);
        return true;
      },
    };
    const events: CopyEvent[] = [];
    await copyImage(src, 'v1', dst, ['v1'], { onEvent: (e) => events.push(e) });
    assert.deepEqual(mounts, [{ digest: layerDesc.digest, from: { registry: 'localhost:5000', repository: 'base' } }]);
    assert.equal(count(events, 'blob-mounted', layerDesc.digest), 1);
    assert.equal(count(events, 'blob-done', configDesc.digest), 1);
    assert.equal((await store.getManifest('v1')).digest, manifest.digest);
  });

  it('picks the one platform when the destination cannot hold an index', async () => {
    const store = memorySource();
    const dst = Object.assign(Object.create(null) as object, store, { acceptsIndex: false }) as Transport;
    const src = ociLayout(multi);
    await assert.rejects(copyImage(src, 'latest', dst, ['x']), isCode('ERR_UNSUPPORTED'));
    const result = await copyImage(src, 'latest', dst, ['x'], { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const index = JSON.parse(new TextDecoder().decode((await src.getManifest('latest')).bytes));
    const amd64 = index.manifests.find((d: Descriptor) => d.platform?.architecture === 'amd64');
    assert.equal(result.digest, amd64.digest);
    assert.equal((await store.getManifest('x')).digest, amd64.digest);
  });

  it('runs `alongside` beside the transfers and waits for it before beforeCommit; its failure fails the copy, nothing committed', async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const out = join(dir, 'alongside');
    const copied = copyImage(ociLayout(single), 'src', ociLayout(out), ['v1'], {
      onEvent: (e) => {
        if (e.type === 'manifest-pushed') {
          order.push('manifest');
          release();
        }
      },
      alongside: async (_dst, signal) => {
        order.push('alongside started');
        // Still running when the manifest is written: the copy is not waiting for it before then.
        await held;
        assert.equal(signal.aborted, false);
        order.push('alongside done');
      },
      beforeCommit: async () => {
        order.push('beforeCommit');
      },
    });
    await copied;
    assert.deepEqual(order, ['alongside started', 'manifest', 'alongside done', 'beforeCommit']);

    const parent = await mkdtemp(join(dir, 'alongside-fail-'));
    const failure = new OcibuildError('ERR_TRANSPORT', 'alongside failed');
    let committed = false;
    await assert.rejects(
      copyImage(ociLayout(single), 'src', ociLayout(join(parent, 'out')), ['v1'], {
        alongside: () => Promise.reject(failure),
        beforeCommit: async () => {
          committed = true;
        },
      }),
      (error: unknown) => error === failure,
    );
    assert.equal(committed, false);
    assert.deepEqual(await readdir(parent), [], 'no layout and no staging directory');
  });

  it('stops when aborted and leaves no output behind', async () => {
    const parent = await mkdtemp(join(dir, 'abort-'));
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(copyImage(ociLayout(single), 'src', ociLayout(join(parent, 'out')), ['v1'], { signal: controller.signal }), isCode('ERR_ABORTED'));
    assert.deepEqual(await readdir(parent), []);
  });
});
