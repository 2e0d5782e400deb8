// copyImage, inspectImage and listTags over target strings (src/pipeline/images.ts): what the
// CLI's copy, inspect and tags commands print, tested at the library level against a real
// registry on 127.0.0.1 and OCI layouts built by the tests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  copyImage,
  createSession,
  inspectImage,
  isNotFound,
  isOcibuildError,
  listTags,
  ociLayout,
  type CopyEvent,
  type SourceEvent,
} from '../../src/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { socketsTo } from '../helpers/sockets.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;


describe('copyImage, inspectImage and listTags', () => {
  let dir: string;
  let registry: TestRegistry;
  let single: BusyboxLayout;
  let multi: BusyboxLayout;
  let registries: { insecure: string[] };
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-images-'));
    registry = await startRegistry();
    registries = { insecure: [registry.host] };
    single = await buildBusyboxLayout(path.join(dir, 'single'), { tag: 'v1' });
    multi = await buildBusyboxLayout(path.join(dir, 'multi'), { tag: 'all', platforms: ['linux/amd64', 'linux/arm64'] });
  });
  after(async () => {
    await registry?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('copies a layout to a registry under its tag and extra tags, and lists them', async () => {
    const events: CopyEvent[] = [];
    const copied = await copyImage(`oci:${single.layoutPath}:v1`, `docker://${registry.host}/lib/busybox:1`, {
      registries,
      tags: ['stable'],
      onEvent: (event) => events.push(event),
    });
    assert.equal(copied.digest, single.manifestDigest, 'the manifest is copied byte for byte');
    assert.ok(events.some((e) => e.type === 'blob-done' && e.digest === single.layerDigest), 'the layer was sent');
    assert.deepEqual(
      events.filter((e) => e.type === 'manifest-pushed').map((e) => e.reference).sort(),
      ['1', 'stable'],
    );
    assert.deepEqual((await listTags(`${registry.host}/lib/busybox`, { registries })).sort(), ['1', 'stable']);
    // A tag or digest in the name is ignored; docker:// is accepted.
    assert.deepEqual((await listTags(`docker://${registry.host}/lib/busybox:whatever`, { registries, pageSize: 1 })).sort(), ['1', 'stable']);
  });

  it('copies from a registry with download events, and the copy is identical', async () => {
    await copyImage(`oci:${single.layoutPath}:v1`, `${registry.host}/pull/busybox:1`, { registries });
    const downloads: SourceEvent[] = [];
    const out = path.join(dir, 'pulled');
    const copied = await copyImage(`${registry.host}/pull/busybox:1`, `oci:${out}:back`, { registries, onSourceEvent: (e) => downloads.push(e) });
    assert.equal(copied.digest, single.manifestDigest);
    assert.ok(downloads.some((e) => e.type === 'download' && e.phase === 'done' && e.digest === single.layerDigest), 'the layer download was reported');
    const raw = await ociLayout(out).getManifest('back');
    assert.equal(raw.digest, single.manifestDigest);
  });

  it('copies a subset of an index: a new index with only those platforms', async () => {
    const out = path.join(dir, 'arm-only');
    const copied = await copyImage(`oci:${multi.layoutPath}:all`, `oci:${out}:arm`, { platforms: ['linux/arm64'] });
    assert.notEqual(copied.digest, multi.manifestDigest, 'the index was re-encoded');
    const seen = await inspectImage(`oci:${out}:arm`);
    assert.equal(seen.kind, 'index');
    assert.equal(seen.digest, copied.digest);
    if (seen.kind === 'index') assert.deepEqual(seen.manifests.map((m) => m.platform?.architecture), ['arm64']);
  });

  it('inspects an index, one of its platforms, and refuses a platform it lacks', async () => {
    const ref = `oci:${multi.layoutPath}:all`;
    const top = await inspectImage(ref);
    assert.equal(top.kind, 'index');
    assert.equal(top.digest, multi.manifestDigest);
    assert.equal(sha256(top.raw), top.digest, 'raw is the stored bytes');
    assert.equal(top.size, top.raw.byteLength);
    if (top.kind === 'index') assert.equal(top.manifests.length, 2);

    const arm = await inspectImage(ref, { platform: 'linux/arm64' });
    assert.equal(arm.kind, 'image');
    if (arm.kind !== 'image') return;
    assert.equal(arm.config.architecture, 'arm64');
    assert.deepEqual(arm.config.config?.Cmd, ['sh']);
    assert.deepEqual(arm.layers.map((l) => l.digest), [multi.layerDigest]);
    assert.equal(arm.index?.digest, multi.manifestDigest, 'the index it was chosen from');
    assert.equal(sha256(arm.raw), arm.digest);

    await assert.rejects(inspectImage(ref, { platform: { os: 'linux', architecture: 's390x' } }), (error: unknown) => {
      assert.ok(isNotFound(error), String(error));
      assert.match((error as Error).message, /s390x.*linux\/amd64, linux\/arm64/);
      return true;
    });
    await assert.rejects(inspectImage(ref, { platform: 'linux' }), (error: unknown) => isOcibuildError(error, 'ERR_INVALID_PLATFORM'));
  });

  it('inspects a single image whatever the platform asked (as Docker uses an untagged base)', async () => {
    const seen = await inspectImage(`oci:${single.layoutPath}:v1`, { platform: 'linux/arm64' });
    assert.equal(seen.kind, 'image');
    assert.equal(seen.digest, single.manifestDigest);
    if (seen.kind === 'image') assert.equal(seen.index, undefined);
  });

  it('closes the session it made: no connection to the registry is left open', async () => {
    const port = Number(registry.host.split(':')[1]);
    const baseline = socketsTo(port);
    await copyImage(`oci:${single.layoutPath}:v1`, `${registry.host}/handles/busybox:1`, { registries });
    await inspectImage(`${registry.host}/handles/busybox:1`, { registries });
    await listTags(`${registry.host}/handles/busybox`, { registries });
    await copyImage(`${registry.host}/handles/busybox:1`, `oci:${path.join(dir, 'handles')}:x`, { registries });
    let open = socketsTo(port);
    for (let i = 0; i < 50 && open > baseline; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      open = socketsTo(port);
    }
    assert.equal(open, baseline);
  });

  it('runs in a given session and leaves it open', async () => {
    await using session = createSession({ registries });
    // No registry options here: only the session's `insecure` lets plain HTTP through.
    await copyImage(`oci:${single.layoutPath}:v1`, `${registry.host}/session/busybox:1`, { session });
    const seen = await inspectImage(`${registry.host}/session/busybox:1`, { session });
    assert.equal(seen.digest, single.manifestDigest);
    assert.deepEqual(await listTags(`${registry.host}/session/busybox`, { session }), ['1']);
    assert.equal(session.closed, false);
  });

  it('fails with typed errors and leaves no destination behind', async () => {
    const out = path.join(dir, 'never');
    await assert.rejects(copyImage(`oci:${single.layoutPath}:missing`, `oci:${out}:x`), (error: unknown) => isNotFound(error));
    await assert.rejects(fs.stat(out), { code: 'ENOENT' }, 'no layout was created');
    await assert.rejects(inspectImage(`${registry.host}/nothing/here:1`, { registries }), (error: unknown) => isNotFound(error));
    await assert.rejects(listTags(`oci:${single.layoutPath}`), (error: unknown) => isOcibuildError(error, 'ERR_UNSUPPORTED'));
    await assert.rejects(listTags('Not A Reference'), (error: unknown) => isOcibuildError(error, 'ERR_INVALID_REFERENCE'));
  });

  it('keeps the transport form for images opened or assembled by the caller', async () => {
    const out = path.join(dir, 'transport-form');
    const copied = await copyImage(ociLayout(single.layoutPath), 'v1', ociLayout(out), ['copied']);
    assert.equal(copied.digest, single.manifestDigest);
    assert.equal((await inspectImage(`oci:${out}:copied`)).digest, single.manifestDigest);
  });
});
