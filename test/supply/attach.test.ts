// Attaching artifacts as OCI referrers against a real distribution registry (2.8: no referrers
// API, so the fallback tag index is used), in an oci: layout, and refused by a docker-archive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from '../../src/pipeline/index.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { dockerArchive } from '../../src/transports/docker-archive.ts';
import { encodeManifest, parseManifest } from '../../src/oci/manifest.ts';
import { OCI_INDEX } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { attachArtifact, attachArtifacts, FALLBACK_UPDATE_ATTEMPTS } from '../../src/supply/attach.ts';
import { fallbackTag } from '../../src/supply/attach-manifest.ts';
import { addToReferrersIndex } from '../../src/oci/referrers.ts';
import { listReferrers } from '../../src/supply/referrers.ts';
import type { Attachment } from '../../src/supply/types.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { startProxy } from '../helpers/proxy.ts';

let tmp: string;
let registry: TestRegistry;
let client: RegistryClient;
let subject: Descriptor;
const created = new Date(Date.UTC(2024, 0, 1));

const sbom = (text: string): Attachment => ({
  artifactType: 'application/spdx+json',
  mediaType: 'application/spdx+json',
  bytes: new TextEncoder().encode(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: text })),
});

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-attach-'));
  registry = await startRegistry();
  client = createRegistryClient();
  const result = await buildImage({
    layers: [{ entries: [{ type: 'file', path: '/hello.txt', source: new TextEncoder().encode('hello\n') }] }],
    to: `${registry.host}/app/one:1`,
    cache: false,
    sourceDateEpoch: 0,
  });
  subject = { mediaType: result.mediaType, digest: result.digest, size: result.size };
});

after(async () => {
  await client?.close();
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('attach on a registry without the referrers API: manifest by digest, fallback index at sha256-<hex>', async () => {
  const repo = registryTransport(`${registry.host}/app/one`, client);
  const attached = await attachArtifact(repo, subject, sbom('one'), { created });
  assert.equal(attached.fallbackTag, fallbackTag(subject.digest));
  assert.equal(attached.descriptor.artifactType, 'application/spdx+json');
  // The artifact manifest: empty config, one layer, subject, created annotation.
  const raw = await repo.getManifest(attached.descriptor.digest);
  const parsed = parseManifest(raw);
  assert.equal(parsed.kind, 'manifest');
  if (parsed.kind !== 'manifest') return;
  assert.equal(parsed.manifest.artifactType, 'application/spdx+json');
  assert.equal(parsed.manifest.config.mediaType, 'application/vnd.oci.empty.v1+json');
  assert.deepEqual(parsed.manifest.subject, subject);
  assert.equal(parsed.manifest.annotations?.['org.opencontainers.image.created'], '2024-01-01T00:00:00Z');
  // Listed through the fallback tag (distribution 2.8 answers 404 on /referrers/).
  const index = parseManifest(await repo.getManifest(fallbackTag(subject.digest)));
  assert.equal(index.kind, 'index');
  const listed = await listReferrers(repo, subject.digest);
  assert.deepEqual(listed.map((d) => d.digest), [attached.descriptor.digest]);
  assert.equal(listed[0]?.artifactType, 'application/spdx+json');
  // The layer is the document, byte for byte.
  const layer = parsed.manifest.layers[0] as Descriptor;
  const chunks: Uint8Array[] = [];
  for await (const chunk of await repo.getBlob(layer)) chunks.push(chunk);
  assert.equal(Buffer.concat(chunks).toString(), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'one' }));
  // Attaching the same thing again changes nothing (same digest, no duplicate entry).
  const again = await attachArtifact(repo, subject, sbom('one'), { created });
  assert.equal(again.descriptor.digest, attached.descriptor.digest);
  assert.equal((await listReferrers(repo, subject.digest)).length, 1);
});

test('a foreign entry already in the fallback index survives, and a filter by artifactType works', async () => {
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/b', source: new TextEncoder().encode('b') }] }], to: `${registry.host}/app/two:1`, cache: false, sourceDateEpoch: 0 });
  const repo = registryTransport(`${registry.host}/app/two`, client);
  const top = await repo.getManifest('1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  // Another tool's signature, listed in the fallback index before we attach.
  const foreign = await attachArtifact(repo, subj, { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', bytes: new Uint8Array([1, 2, 3]), annotations: { 'dev.cosignproject.cosign/signature': 'MEUC' } }, { created });
  const mine = await attachArtifact(repo, subj, sbom('two'), { created });
  const all = await listReferrers(repo, subj.digest);
  assert.deepEqual(new Set(all.map((d) => d.digest)), new Set([foreign.descriptor.digest, mine.descriptor.digest]));
  const raw = await repo.getManifest(fallbackTag(subj.digest));
  const index = JSON.parse(Buffer.from(raw.bytes).toString()) as { manifests: Descriptor[] };
  assert.equal(index.manifests[0]?.annotations?.['dev.cosignproject.cosign/signature'], 'MEUC');
  const sboms = await listReferrers(repo, subj.digest, { artifactType: 'application/spdx+json' });
  assert.deepEqual(sboms.map((d) => d.digest), [mine.descriptor.digest]);
});

test('concurrent attaches to one subject all end up in the fallback index (lost updates redone)', async () => {
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/c', source: new TextEncoder().encode('c') }] }], to: `${registry.host}/app/three:1`, cache: false, sourceDateEpoch: 0 });
  const top = await registryTransport(`${registry.host}/app/three`, client).getManifest('1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  // Separate clients and transports in one process (as a build attaching an SBOM and provenance
  // to one image is): their updates of the index are serialised, so none is lost.
  const clients = Array.from({ length: 3 }, () => createRegistryClient());
  try {
    const results = await Promise.all(
      clients.map((c, i) => attachArtifact(registryTransport(`${registry.host}/app/three`, c), subj, sbom(`concurrent-${i}`), { created })),
    );
    const listed = await listReferrers(registryTransport(`${registry.host}/app/three`, client), subj.digest);
    assert.deepEqual(new Set(listed.map((d) => d.digest)), new Set(results.map((r) => r.descriptor.digest)));
  } finally {
    for (const c of clients) await c.close();
  }
  assert.ok(FALLBACK_UPDATE_ATTEMPTS >= 3);
});

test('attachArtifacts: blobs written together (the shared empty config once), manifests in the order given (the fallback index lists them so), linked together; again writes nothing', async () => {
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/m', source: new TextEncoder().encode('m') }] }], to: `${registry.host}/app/many:1`, cache: false, sourceDateEpoch: 0 });
  const repo = registryTransport(`${registry.host}/app/many`, client);
  const top = await repo.getManifest('1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  // The largest document first: written concurrently, it would land after the small ones.
  const items = [sbom('x'.repeat(200_000)), sbom('small-1'), sbom('small-2')].map((attachment) => ({ subject: subj, attachment }));
  const first = (await registry.requestLog()).length;
  const results = await attachArtifacts(repo, items, { created });
  const emptyConfig = `sha256:${createHash('sha256').update('{}').digest('hex')}`;
  const log = (await registry.requestLog()).slice(first);
  assert.equal(log.filter((r) => r.method === 'HEAD' && r.path.endsWith(`/blobs/${emptyConfig}`)).length, 1, 'the empty config all three share is checked once');
  assert.equal(log.filter((r) => r.method === 'POST').length, 4, 'three documents and the empty config, each uploaded once');
  assert.deepEqual(results.map((r) => r.subject), [subj.digest, subj.digest, subj.digest]);
  assert.ok(results.every((r) => r.fallbackTag === fallbackTag(subj.digest)));
  const index = parseManifest(await repo.getManifest(fallbackTag(subj.digest)));
  assert.equal(index.kind, 'index');
  if (index.kind !== 'index') return;
  assert.deepEqual(index.index.manifests.map((d) => d.digest), results.map((r) => r.descriptor.digest));
  const mark = (await registry.requestLog()).length;
  const again = await attachArtifacts(repo, items, { created });
  assert.deepEqual(again.map((r) => r.descriptor.digest), results.map((r) => r.descriptor.digest));
  const writes = (await registry.requestLog()).slice(mark).filter((r) => r.method === 'PUT' || r.method === 'POST');
  assert.deepEqual(writes, [], 'artifacts already there are not written again');
});

test('the settle-time re-check is opt-in: one more read of the fallback tag with settle, none by default', async () => {
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/s', source: new TextEncoder().encode('s') }] }], to: `${registry.host}/app/settle:1`, cache: false, sourceDateEpoch: 0 });
  const repo = registryTransport(`${registry.host}/app/settle`, client);
  const top = await repo.getManifest('1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  const tagReads = async (run: () => Promise<unknown>): Promise<number> => {
    const mark = (await registry.requestLog()).length;
    await run();
    return (await registry.requestLog()).slice(mark).filter((r) => r.method === 'GET' && r.path.endsWith(`/manifests/${fallbackTag(subj.digest)}`)).length;
  };
  const plain = await tagReads(() => attachArtifact(repo, subj, sbom('settle-off'), { created }));
  const settled = await tagReads(() => attachArtifact(repo, subj, sbom('settle-on'), { created, settle: true }));
  assert.equal(settled, plain + 1, 'settle adds one read of the tag after the wait');
  const listed = await listReferrers(repo, subj.digest);
  assert.equal(listed.length, 2);
});

test('a fallback tag that holds an image (not an index) is refused and left alone', async () => {
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/d', source: new TextEncoder().encode('d') }] }], to: `${registry.host}/app/four:1`, cache: false, sourceDateEpoch: 0 });
  const repo = registryTransport(`${registry.host}/app/four`, client);
  const top = await repo.getManifest('1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  // Squat the fallback tag with the image itself.
  await repo.putManifest(top, fallbackTag(subj.digest));
  // The registry client's own fallback update or ours refuses it (the registry rejects an
  // image with `manifests` added as MANIFEST_INVALID): either way a typed error, tag untouched.
  await assert.rejects(attachArtifact(repo, subj, sbom('four'), { created }), (error: Error & { code?: string }) => error.code === 'ERR_INVALID_MANIFEST' || error.code === 'ERR_REGISTRY');
  assert.equal((await repo.getManifest(fallbackTag(subj.digest))).digest, top.digest);
});

test('oci: layout: the artifact is stored and listed untagged in index.json; a docker-archive refuses it', async () => {
  const dir = path.join(tmp, 'layout');
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/e', source: new TextEncoder().encode('e') }] }], to: `oci:${dir}:v1`, cache: false, sourceDateEpoch: 0 });
  const layout = ociLayout(dir);
  const top = await layout.getManifest('v1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  const attached = await attachArtifact(layout, subj, sbom('layout'), { created });
  assert.equal(attached.fallbackTag, undefined);
  await layout.commit();
  await layout.close();
  const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const entry = index.manifests.find((d) => d.digest === attached.descriptor.digest);
  assert.ok(entry, 'listed in index.json');
  assert.equal(entry.annotations?.['org.opencontainers.image.ref.name'], undefined);
  assert.deepEqual(await fs.readdir(path.join(dir, 'blobs', 'sha256')).then((n) => n.includes(attached.descriptor.digest.slice(7))), true);
  const listed = await listReferrers(ociLayout(dir), subj.digest);
  assert.deepEqual(listed.map((d) => d.digest), [attached.descriptor.digest]);
  assert.equal(listed[0]?.artifactType, 'application/spdx+json');

  const archive = dockerArchive(path.join(tmp, 'image.tar'));
  try {
    await assert.rejects(attachArtifact(archive, subj, sbom('tar'), { created }), (error: Error & { code?: string }) => error.code === 'ERR_UNSUPPORTED');
  } finally {
    await archive.close();
  }
  await assert.rejects(fs.stat(path.join(tmp, 'image.tar')), { code: 'ENOENT' });
});

test('the merge (the registry client\'s rule too) keeps unknown fields and replaces a stale entry of the same digest in place', () => {
  const entry: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10, artifactType: 'x/y' };
  const other: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 11, artifactType: 'x/z' };
  const existing = encodeManifest({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [other, { ...entry, size: 9 }], annotations: { keep: 'me' } });
  const merged = addToReferrersIndex(existing, entry, 'test');
  assert.ok(merged);
  const doc = JSON.parse(Buffer.from(merged.bytes).toString()) as { manifests: Descriptor[]; annotations: Record<string, string> };
  assert.deepEqual(doc.manifests, [other, entry]);
  assert.deepEqual(doc.annotations, { keep: 'me' });
  assert.equal(addToReferrersIndex(merged, entry, 'test'), undefined);
});

test('malformed entries of a hostile fallback index are dropped when listing', async () => {
  const subjectDigest = `sha256:${'c'.repeat(64)}`;
  const good: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'d'.repeat(64)}`, size: 5, artifactType: 'application/spdx+json' };
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: 'x/y', digest: '../../etc/passwd', size: 1 }, { mediaType: 'x/y', digest: good.digest.replace('d', 'e'), size: -1 }, null, good],
  }));
  // A registry answering what distribution would refuse to store: only reads are needed.
  const hostile = {
    description: 'docker://hostile.example/app',
    origin: { registry: 'hostile.example', repository: 'app' },
    async getManifest(reference: string) {
      assert.equal(reference, fallbackTag(subjectDigest));
      return { mediaType: OCI_INDEX, digest: `sha256:${'0'.repeat(64)}`, bytes };
    },
    putManifest: () => Promise.reject(new Error('read only')),
    hasBlob: () => Promise.resolve(false),
    getBlob: () => Promise.reject(new Error('read only')),
    putBlob: () => Promise.reject(new Error('read only')),
  };
  assert.deepEqual(await listReferrers(hostile, subjectDigest), [good]);
});

test('copy with referrers skips an entry of the fallback index whose manifest was deleted', async () => {
  const { copyImage } = await import('../../src/image/copy.ts');
  const { referrerCopyHooks } = await import('../../src/supply/attach.ts');
  await buildImage({ layers: [{ entries: [{ type: 'file', path: '/g', source: new TextEncoder().encode('g') }] }], to: `${registry.host}/app/stale:1`, cache: false, sourceDateEpoch: 0 });
  const repo = registryTransport(`${registry.host}/app/stale`, client);
  const top = await repo.getManifest('1');
  const subj = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  const gone = await attachArtifact(repo, subj, sbom('gone'), { created });
  const kept = await attachArtifact(repo, subj, { ...sbom('kept'), artifactType: 'application/vnd.in-toto+json', mediaType: 'application/vnd.in-toto+json' }, { created });
  const deleted = await fetch(`${registry.url}/v2/app/stale/manifests/${gone.descriptor.digest}`, { method: 'DELETE' });
  assert.equal(deleted.status, 202);
  assert.equal((await listReferrers(repo, subj.digest)).length, 2, 'the fallback index still names it');
  await copyImage(repo, '1', registryTransport(`${registry.host}/app/stale-copy`, client), ['1'], { referrers: referrerCopyHooks() });
  const copied = await listReferrers(registryTransport(`${registry.host}/app/stale-copy`, client), subj.digest);
  assert.deepEqual(copied.map((d) => d.digest), [kept.descriptor.digest]);
});

test("buildImage: the attachments' blobs upload beside the image's, before its manifest; the referrer manifests come after it", async () => {
  // The image manifest's PUT is held 1 s: blobs written beside the image's are done by then,
  // blobs written after the image (as before) would follow it.
  const proxy = await startProxy(registry.url, [{ method: 'PUT', path: /\/manifests\/1$/, fault: { kind: 'delay', ms: 1000 } }]);
  try {
    const result = await buildImage({
      layers: [{ entries: [{ type: 'file', path: '/beside.txt', source: new TextEncoder().encode('beside\n') }] }],
      to: `${proxy.host}/app/beside:1`,
      cache: false,
      sourceDateEpoch: 0,
      provenance: true,
    });
    assert.equal(result.attachments?.length, 1);
    const records = proxy.stats().records;
    const imagePut = records.findIndex((r) => r.method === 'PUT' && r.path.endsWith('/manifests/1'));
    assert.ok(imagePut > 0 && records[imagePut]?.fault === 'delay', 'the image manifest went through the held PUT');
    const uploads = records.flatMap((r, i) => (r.kind === 'upload' && r.method === 'PUT' ? [i] : []));
    // The layer, the config, the provenance document and the empty config.
    assert.equal(uploads.length, 4);
    assert.ok(uploads.every((i) => i < imagePut), `every blob upload ended before the image manifest's PUT: ${records.map((r) => `${r.method} ${r.path.split('?')[0]}`).join(', ')}`);
    const referrerPut = records.findIndex((r) => r.method === 'PUT' && r.path.endsWith(`/manifests/${result.attachments?.[0]?.digest}`));
    assert.ok(referrerPut > imagePut, 'the referrer manifest is written after its subject');
    const listed = await listReferrers(registryTransport(`${registry.host}/app/beside`, client), result.digest);
    assert.deepEqual(listed.map((d) => d.digest), [result.attachments?.[0]?.digest]);
  } finally {
    await proxy.stop();
  }
});
