// The image model: openImage/openIndex over a transport (the busybox fixture), layers that
// stream verified, and the pure functions that derive new images.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  appendLayers,
  emptyImage,
  imagePlatforms,
  newImage,
  openImage,
  openIndex,
  createSession,
  withAnnotations,
  withConfig,
  withPlatform,
  type Layer,
} from '../../src/index.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let single: BusyboxLayout;
let multi: BusyboxLayout;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-model-'));
  single = await buildBusyboxLayout(path.join(tmp, 'single'), { tag: 'v1' });
  multi = await buildBusyboxLayout(path.join(tmp, 'multi'), { tag: 'multi', platforms: ['linux/amd64', 'linux/arm64'] });
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function sha256(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}

function source(layout: BusyboxLayout) {
  return createSession().openSource(`oci:${layout.layoutPath}:${layout.tag}`);
}

describe('openImage', () => {
  it('reads manifest, config and lazy verified layers of a single image', async () => {
    const { transport, reference } = source(single);
    try {
      const image = await openImage(transport, reference ?? '');
      assert.equal(image.descriptor.digest, single.manifestDigest);
      assert.equal(image.rawManifest.digest, single.manifestDigest);
      assert.equal(image.layers.length, 1);
      const layer = image.layers[0] as Layer;
      assert.equal(layer.descriptor.digest, single.layerDigest);
      assert.equal(layer.diffId, single.diffId);
      assert.equal(await sha256(layer.open()), single.layerDigest);
      assert.equal(await sha256(layer.openUncompressed()), single.diffId);
      assert.equal(image.index, undefined);
      assert.deepEqual(await imagePlatforms(transport, reference ?? ''), [{ os: 'linux', architecture: 'amd64' }]);
    } finally {
      await transport.close?.();
    }
  });

  it('picks a child of an index by platform, and lists the platforms', async () => {
    const { transport, reference } = source(multi);
    try {
      await assert.rejects(openImage(transport, reference ?? ''), { code: 'ERR_INVALID_ARGUMENT' });
      const image = await openImage(transport, reference ?? '', { platform: { os: 'linux', architecture: 'arm64' } });
      assert.equal(image.config.architecture, 'arm64');
      assert.equal(image.index?.digest, multi.manifestDigest);
      assert.equal(image.descriptor.platform?.architecture, 'arm64');
      const index = await openIndex(transport, reference ?? '');
      assert.deepEqual(index.platforms.map((p) => p.architecture).sort(), ['amd64', 'arm64']);
      await assert.rejects(index.image({ os: 'linux', architecture: 's390x' }), { code: 'ERR_NOT_FOUND' });
    } finally {
      await transport.close?.();
    }
  });
});

describe('pure functions', () => {
  it('derive new images without changing the original, re-encoding config and manifest', async () => {
    const { transport, reference } = source(single);
    try {
      const base = await openImage(transport, reference ?? '');
      const top = base.layers[0] as Layer;
      const appended = appendLayers(base, [{ layer: top, history: { created_by: 'again' } }]);
      assert.equal(base.layers.length, 1);
      assert.equal(appended.layers.length, 2);
      assert.deepEqual(appended.config.rootfs.diff_ids, [single.diffId, single.diffId]);
      assert.equal(appended.config.history?.at(-1)?.created_by, 'again');
      assert.equal(appended.manifest.config.digest, `sha256:${createHash('sha256').update(appended.rawConfig as Uint8Array).digest('hex')}`);
      assert.equal(appended.descriptor.digest, `sha256:${createHash('sha256').update(appended.rawManifest.bytes).digest('hex')}`);

      const annotated = withAnnotations(appended, { a: 'b' });
      assert.deepEqual(annotated.manifest.annotations, { ...(appended.manifest.annotations ?? {}), a: 'b' });
      const configured = withConfig(annotated, { ...annotated.config, config: { User: '1000' } });
      assert.equal(configured.config.config?.User, '1000');
      assert.throws(() => withConfig(base, { ...base.config, rootfs: { type: 'layers', diff_ids: [] } }), { code: 'ERR_INVALID_CONFIG' });
      const arm = withPlatform(configured, { os: 'linux', architecture: 'arm64', variant: 'v8' });
      assert.equal(arm.config.architecture, 'arm64');
      assert.equal(arm.descriptor.platform?.architecture, 'arm64');
      assert.notEqual(arm.descriptor.digest, configured.descriptor.digest);
    } finally {
      await transport.close?.();
    }
  });

  it('makes the empty image and re-labels layers for the docker format', async () => {
    const scratch = emptyImage({ os: 'linux', architecture: 'amd64' });
    assert.deepEqual(scratch.layers, []);
    assert.equal(scratch.manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const { transport, reference } = source(single);
    try {
      const base = await openImage(transport, reference ?? '');
      const docker = newImage(base.config, base.layers, 'docker');
      assert.equal(docker.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      assert.equal(docker.layers[0]?.descriptor.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
      assert.equal(await sha256((docker.layers[0] as Layer).open()), single.layerDigest);
    } finally {
      await transport.close?.();
    }
  });
});
