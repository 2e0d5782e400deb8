/**
 * Referrers in an OCI layout: found by reading the manifests reachable from index.json,
 * including those listed only as children of an index, after a reopen from disk.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { OCI_INDEX } from '../../src/oci/mediatypes.ts';
import type { Descriptor, RawManifest } from '../../src/oci/types.ts';
import { bodyOf, describeBytes, pushImage, pushReferrer, sampleImage, sha256 } from './conformance.ts';

const encoder = new TextEncoder();

describe('ociLayout referrers', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-oci-referrers-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds a referrer of an index child, a referrer of the index, and one listed only inside an index', async () => {
    const path = join(dir, 'nested');
    const writer = ociLayout(path);
    const image = sampleImage('nested');
    await pushImage(writer, image, undefined);
    // A referrer of the child, pushed untagged (listed top-level in index.json).
    const sbom = await pushReferrer(writer, image.manifest, 'application/spdx+json', 'child sbom');
    // A second referrer, stored as a blob and reachable only as a child of the tagged index.
    const { descriptor: sig, bytes: sigBytes } = await referrerBytes(image.manifest, 'application/x-sig', 'sig');
    await writer.putBlob({ mediaType: sig.mediaType, digest: sig.digest, size: sig.size }, bodyOf(sigBytes));
    const indexBytes = encoder.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ ...describeBytes(image.manifest.bytes, image.manifest.mediaType), platform: { os: 'linux', architecture: 'amd64' } }, { mediaType: sig.mediaType, digest: sig.digest, size: sig.size }],
    }));
    const index: RawManifest = { mediaType: OCI_INDEX, digest: sha256(indexBytes), bytes: indexBytes };
    await writer.putManifest(index, 'multi');
    const onIndex = await pushReferrer(writer, index, 'application/vnd.in-toto+json', 'provenance');
    await writer.commit();
    await writer.close();

    const reader = ociLayout(path);
    const byDigest = (a: Descriptor, b: Descriptor) => a.digest.localeCompare(b.digest);
    assert.deepEqual((await reader.listReferrers(image.manifest.digest)).sort(byDigest), [sbom, sig].sort(byDigest));
    assert.deepEqual(await reader.listReferrers(index.digest), [onIndex]);
    assert.deepEqual(await reader.listReferrers(image.manifest.digest, { artifactType: 'application/x-sig' }), [sig]);
    // The index child that is a referrer is not also taken for a top-level entry.
    const top = (JSON.parse(await readFile(join(path, 'index.json'), 'utf8')) as { manifests: Descriptor[] }).manifests.map((m) => m.digest);
    assert.ok(!top.includes(sig.digest));
  });

  it('reads the one image of a layout without a tag though referrers are listed beside it', async () => {
    const path = join(dir, 'untagged-read');
    const writer = ociLayout(path);
    const image = sampleImage('alone');
    await pushImage(writer, image, 'v1');
    await pushReferrer(writer, image.manifest, 'application/spdx+json', 'sbom');
    await pushReferrer(writer, image.manifest, 'application/vnd.in-toto+json', 'provenance');
    await writer.commit();
    await writer.close();
    const reader = ociLayout(path);
    assert.equal((await reader.getManifest('')).digest, image.manifest.digest);
    // A second image is still ambiguous.
    const other = sampleImage('second');
    const w2 = ociLayout(path);
    await pushImage(w2, other, 'v2');
    await w2.commit();
    await w2.close();
    await assert.rejects(ociLayout(path).getManifest(''), /index\.json holds 2 manifests; name one by tag or digest/);
  });

  it('skips a child the layout does not hold, and entries that are not manifests', async () => {
    const path = join(dir, 'partial');
    const writer = ociLayout(path);
    const image = sampleImage('partial');
    await pushImage(writer, image, 'v1');
    const sbom = await pushReferrer(writer, image.manifest, 'application/spdx+json', 'partial');
    await writer.commit();
    await writer.close();
    // A partial copy of an index (a child missing) and a non-manifest entry, added by hand.
    const file = join(path, 'index.json');
    const doc = JSON.parse(await readFile(file, 'utf8')) as { manifests: Descriptor[] };
    const missingIndex = encoder.encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256('absent'), size: 10 }] }));
    await writeFile(join(path, 'blobs', 'sha256', sha256(missingIndex).slice(7)), missingIndex);
    doc.manifests.push({ mediaType: OCI_INDEX, digest: sha256(missingIndex), size: missingIndex.byteLength });
    doc.manifests.push({ mediaType: 'application/octet-stream', digest: sha256('not there either'), size: 3 });
    await writeFile(file, JSON.stringify(doc));
    assert.deepEqual(await ociLayout(path).listReferrers(image.manifest.digest), [sbom]);
  });
});

/** The descriptor and manifest bytes {@link pushReferrer} makes for these arguments, written nowhere. */
async function referrerBytes(subject: RawManifest, artifactType: string, text: string): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
  const path = join(tmpdir(), `ocibuild-referrer-bytes-${process.pid}-${text}`);
  const t = ociLayout(path);
  try {
    const descriptor = await pushReferrer(t, subject, artifactType, text);
    return { descriptor, bytes: (await t.getManifest(descriptor.digest)).bytes };
  } finally {
    await t.close();
    await rm(path, { recursive: true, force: true });
  }
}
