// Images pushed by ocibuild are read by skopeo: OCI and Docker formats, single and multi-platform.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { buildRandomLayout } from '../helpers/fixtures.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ocibuildCopy } from './ocibuild.ts';
import { skopeo, skopeoCopy, skopeoInspect, skopeoRawManifest } from './tools.ts';
import { sha256 } from '../helpers/data.ts';

let registry: TestRegistry;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-interop-push-'));
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});


async function layoutBlob(layoutPath: string, digest: string): Promise<Buffer> {
  return readFile(path.join(layoutPath, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

/** Pushes with ocibuild, then checks skopeo sees the same bytes and can copy the image out. */
async function pushAndCheck(layoutPath: string, tag: string, manifestDigest: string, repo: string, all: boolean): Promise<void> {
  const ref = `${registry.host}/${repo}:v1`;
  const result = await ocibuildCopy(`oci:${layoutPath}:${tag}`, `docker://${ref}`);
  assert.equal(result.digest, manifestDigest, 'the pushed digest is the source digest');
  const raw = await skopeoRawManifest(ref);
  assert.equal(sha256(raw), manifestDigest, 'registry serves the exact manifest bytes');
  assert.deepEqual(Buffer.from(raw), await layoutBlob(layoutPath, manifestDigest));
  // skopeo's dir: transport keeps manifests as they are (oci: would convert Docker manifests to OCI).
  const out = path.join(dir, `${repo.replace(/\W/g, '-')}-out`);
  await skopeoCopy(`docker://${ref}`, `dir:${out}`, all ? ['--all'] : []);
  assert.equal(sha256(await readFile(path.join(out, 'manifest.json'))), manifestDigest, 'skopeo copied the same image out');
}

test('OCI single-platform image with several layers', async () => {
  const image = await buildRandomLayout(path.join(dir, 'oci'), { layers: 3, layerSize: 300_000 });
  await pushAndCheck(image.layoutPath, image.tag, image.manifestDigest, 'push/oci', false);
  const inspected = await skopeoInspect(`${registry.host}/push/oci:v1`);
  assert.equal(inspected.Digest, image.manifestDigest);
  assert.deepEqual(inspected.Layers, image.layers.map((l) => l.digest));
});

test('Docker v2.2 single-platform image', async () => {
  const image = await buildRandomLayout(path.join(dir, 'docker'), { layers: 2, layerSize: 200_000, format: 'docker' });
  await pushAndCheck(image.layoutPath, image.tag, image.manifestDigest, 'push/docker', false);
  const raw = JSON.parse(await skopeoRawManifest(`${registry.host}/push/docker:v1`)) as { mediaType: string };
  assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
});

for (const format of ['oci', 'docker'] as const) {
  test(`multi-platform ${format} index`, async () => {
    const image = await buildBusyboxLayout(path.join(dir, `multi-${format}`), {
      platforms: ['linux/amd64', 'linux/arm64'],
      format,
      tag: 'multi',
    });
    await pushAndCheck(image.layoutPath, image.tag, image.manifestDigest, `push/multi-${format}`, true);
    const ref = `docker://${registry.host}/push/multi-${format}:v1`;
    const arm = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--override-arch', 'arm64', ref])) as { Architecture: string };
    assert.equal(arm.Architecture, 'arm64');
    const amd = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--override-arch', 'amd64', ref])) as { Architecture: string };
    assert.equal(amd.Architecture, 'amd64');
  });
}
