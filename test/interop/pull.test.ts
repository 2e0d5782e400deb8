// Images pushed by skopeo (including a umoci image without a top-level mediaType) are pulled by
// ocibuild into an OCI layout byte-identically.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { buildRandomLayout } from '../helpers/fixtures.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ocibuildCopy } from './ocibuild.ts';
import { buildUmociLayout, skopeo, skopeoCopy, skopeoRawManifest } from './tools.ts';
import { sha256 } from '../helpers/data.ts';

let registry: TestRegistry;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-interop-pull-'));
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});


interface IndexJson {
  manifests: { digest: string; mediaType?: string; annotations?: Record<string, string> }[];
}

async function blob(layoutPath: string, digest: string): Promise<Buffer> {
  return readFile(path.join(layoutPath, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

/** Every blob reachable from `digest` in `a` exists in `b` with the same bytes; returns how many. */
async function assertSameTree(a: string, b: string, digest: string): Promise<number> {
  const bytes = await blob(a, digest);
  assert.deepEqual(await blob(b, digest), bytes, `blob ${digest}`);
  const doc = JSON.parse(bytes.toString('utf8')) as {
    manifests?: { digest: string }[];
    config?: { digest: string };
    layers?: { digest: string }[];
  };
  let count = 1;
  for (const child of doc.manifests ?? []) count += await assertSameTree(a, b, child.digest);
  for (const d of [doc.config, ...(doc.layers ?? [])]) {
    if (d === undefined) continue;
    assert.deepEqual(await blob(b, d.digest), await blob(a, d.digest), `blob ${d.digest}`);
    count++;
  }
  return count;
}

/** skopeo pushes `oci:LAYOUT:TAG`, ocibuild pulls it into a new layout, which must match the source. */
async function roundTrip(layoutPath: string, tag: string, repo: string, all = false): Promise<{ digest: string; out: string }> {
  const ref = `${registry.host}/${repo}:${tag}`;
  await skopeoCopy(`oci:${layoutPath}:${tag}`, `docker://${ref}`, all ? ['--all'] : []);
  const pushed = sha256(await skopeoRawManifest(ref));
  const out = path.join(dir, `${repo.replace(/\W/g, '-')}-out`);
  const result = await ocibuildCopy(`docker://${ref}`, `oci:${out}:${tag}`);
  assert.equal(result.digest, pushed, 'ocibuild pulled the manifest skopeo pushed');
  const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8')) as IndexJson;
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.equal(entry?.digest, pushed, 'the layout tags the same digest');
  await assertSameTree(layoutPath, out, pushed);
  return { digest: pushed, out };
}

test('a multi-layer OCI image round-trips byte-identically', async () => {
  const image = await buildRandomLayout(path.join(dir, 'random'), { layers: 3, layerSize: 300_000 });
  const { digest, out } = await roundTrip(image.layoutPath, image.tag, 'pull/random');
  assert.equal(digest, image.manifestDigest, 'skopeo kept the manifest as is');
  // skopeo reads ocibuild's layout back.
  await skopeo(['inspect', `oci:${out}:${image.tag}`]);
});

test('a umoci image without a top-level mediaType round-trips byte-identically', async () => {
  const image = await buildUmociLayout(path.join(dir, 'umoci'), 'umoci');
  const index = JSON.parse(await readFile(path.join(image.layoutPath, 'index.json'), 'utf8')) as IndexJson;
  const source = index.manifests[0]!.digest;
  const raw = JSON.parse((await blob(image.layoutPath, source)).toString('utf8')) as { mediaType?: string };
  assert.equal(raw.mediaType, undefined, 'the fixture really lacks mediaType');
  const { digest, out } = await roundTrip(image.layoutPath, image.tag, 'pull/umoci');
  assert.equal(digest, source, 'no re-serialisation anywhere');
  await skopeo(['inspect', `oci:${out}:${image.tag}`]);
});

test('a Docker v2.2 image (skopeo --format v2s2) is pulled byte-identically', async () => {
  const image = await buildRandomLayout(path.join(dir, 'v2s2'), { layers: 2, layerSize: 100_000 });
  const ref = `${registry.host}/pull/v2s2:v1`;
  await skopeoCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${ref}`, ['--format', 'v2s2']);
  const raw = await skopeoRawManifest(ref);
  assert.equal((JSON.parse(raw) as { mediaType: string }).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  const out = path.join(dir, 'v2s2-out');
  const result = await ocibuildCopy(`docker://${ref}`, `oci:${out}:v1`);
  assert.equal(result.digest, sha256(raw));
  // skopeo's dir: copy is the reference: every blob by its hex digest, the manifest as manifest.json.
  const reference = path.join(dir, 'v2s2-dir');
  await skopeoCopy(`docker://${ref}`, `dir:${reference}`);
  assert.deepEqual(await blob(out, result.digest), await readFile(path.join(reference, 'manifest.json')));
  const manifest = JSON.parse(raw) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [manifest.config, ...manifest.layers]) {
    assert.deepEqual(await blob(out, d.digest), await readFile(path.join(reference, d.digest.slice('sha256:'.length))), d.digest);
  }
});

test('a multi-platform index pushed by skopeo --all round-trips with every child', async () => {
  const image = await buildBusyboxLayout(path.join(dir, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
  const { digest, out } = await roundTrip(image.layoutPath, image.tag, 'pull/multi', true);
  assert.equal(digest, image.manifestDigest);
  // 1 index + 2 × (manifest + config + layer)
  assert.equal(await assertSameTree(image.layoutPath, out, digest), 7);
});
