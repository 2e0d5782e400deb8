/**
 * The shared transport conformance suite: every transport (OCI layout, registry, in-memory,
 * docker-archive, the caching source) runs the same checks of the `Transport` contract in
 * src/image/transport.ts. What a transport supports is read from the transport itself (its
 * {@link TransportCapabilities} flags and optional methods: `commit` means staged writes,
 * `listReferrers` adds the referrers checks), never told to the suite.
 *
 * Usage: `runTransportConformance('ociLayout', async () => ({ transport, reopen, cleanup }))`.
 * @module
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, sha256 } from '../helpers/data.ts';
import { OcibuildError } from '../../src/errors.ts';
import type { Descriptor, RawManifest } from '../../src/oci/types.ts';
import type { BlobBody, Transport, TransportCapabilities } from '../../src/transports/types.ts';

/** One fresh, empty place to write to, made by the caller for each test. */
export interface ConformanceFixture {
  /** The transport under test, over empty storage. */
  transport: Transport;
  /** Opens a second transport over the same storage, to see what became visible. */
  reopen?: () => Transport | Promise<Transport>;
  /** Removes everything the fixture created. */
  cleanup(): Promise<void>;
}

/** What the suite cannot read from the transport's declared capabilities. */
export interface ConformanceOptions {
  /**
   * The transport returns manifests byte for byte as pushed (default true). docker-archive
   * does not store manifests: after a reopen it synthesises one over the same config and layers.
   */
  preservesManifests?: boolean;
}

const encoder = new TextEncoder();

export { collect, sha256 };

/** A descriptor for bytes. */
export function describeBytes(bytes: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
}

/** A restartable body over bytes, split in two chunks to exercise streaming. */
export function bodyOf(bytes: Uint8Array): BlobBody {
  return async function* () {
    const half = Math.floor(bytes.byteLength / 2);
    yield bytes.subarray(0, half);
    yield bytes.subarray(half);
  };
}

/** A small image: config, one layer, and the manifest referencing them. */
export function sampleImage(seed: string): { config: Uint8Array; layer: Uint8Array; manifest: RawManifest; blobs: Descriptor[] } {
  const config = encoder.encode(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { seed } } }),
  );
  const layer = encoder.encode(`layer bytes ${seed} `.repeat(100));
  const configDesc = describeBytes(config, 'application/vnd.oci.image.config.v1+json');
  const layerDesc = describeBytes(layer, 'application/vnd.oci.image.layer.v1.tar');
  const bytes = encoder.encode(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc] }),
  );
  return {
    config,
    layer,
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), bytes },
    blobs: [configDesc, layerDesc],
  };
}

/** Writes a {@link sampleImage} to `t`: its two blobs, then its manifest (tagged `tag` when given). */
export async function pushImage(t: Transport, image: ReturnType<typeof sampleImage>, tag: string | undefined): Promise<void> {
  const [configDesc, layerDesc] = image.blobs as [Descriptor, Descriptor];
  await t.putBlob(configDesc, bodyOf(image.config));
  await t.putBlob(layerDesc, bodyOf(image.layer));
  await t.putManifest(image.manifest, tag);
}

function isCode(code: string) {
  return (error: unknown): boolean => error instanceof OcibuildError && error.code === code;
}

async function withFixture(make: () => Promise<ConformanceFixture>, fn: (f: ConformanceFixture) => Promise<void>): Promise<void> {
  const fixture = await make();
  try {
    await fn(fixture);
  } finally {
    await fixture.transport.close?.();
    await fixture.cleanup();
  }
}

/** Registers the conformance tests for one transport under `describe(name)`. */
export function runTransportConformance(
  name: string,
  makeTransport: () => Promise<ConformanceFixture>,
  options: ConformanceOptions = {},
): void {
  describe(`transport conformance: ${name}`, () => {
    it('stores a blob and streams it back verified', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const bytes = encoder.encode('hello blob '.repeat(1000));
        const desc = describeBytes(bytes, 'application/octet-stream');
        assert.equal(await t.hasBlob(desc), false);
        await t.putBlob(desc, bodyOf(bytes));
        assert.equal(await t.hasBlob(desc), true);
        assert.deepEqual(await collect(await t.getBlob(desc)), bytes);
        // Storing it again is harmless.
        await t.putBlob(desc, bodyOf(bytes));
        assert.deepEqual(await collect(await t.getBlob(desc)), bytes);
      }));

    it('rejects a blob whose bytes do not match its digest and keeps it invisible', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const bytes = encoder.encode('the real bytes');
        const desc = describeBytes(bytes, 'application/octet-stream');
        const wrong = encoder.encode('other bytes!!!'); // same length, other content
        await assert.rejects(t.putBlob(desc, bodyOf(wrong)), isCode('ERR_DIGEST_MISMATCH'));
        assert.equal(await t.hasBlob(desc), false);
      }));

    it('rejects a blob longer or shorter than its size', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const bytes = encoder.encode('sized content');
        const desc = describeBytes(bytes, 'application/octet-stream');
        const longer = encoder.encode('sized content plus');
        await assert.rejects(t.putBlob(desc, bodyOf(longer)), isCode('ERR_SIZE_MISMATCH'));
        await assert.rejects(t.putBlob(desc, bodyOf(bytes.subarray(0, 4))), isCode('ERR_SIZE_MISMATCH'));
        assert.equal(await t.hasBlob(desc), false);
      }));

    it('reports a missing blob as ERR_NOT_FOUND', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const desc = describeBytes(encoder.encode('never stored'), 'application/octet-stream');
        assert.equal(await t.hasBlob(desc), false);
        await assert.rejects(async () => collect(await t.getBlob(desc)), isCode('ERR_NOT_FOUND'));
      }));

    it('verifies a blob read against the descriptor it is asked with', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const bytes = encoder.encode('verified on the way out');
        const desc = describeBytes(bytes, 'application/octet-stream');
        await t.putBlob(desc, bodyOf(bytes));
        await assert.rejects(async () => collect(await t.getBlob({ ...desc, size: desc.size - 1 })), isCode('ERR_SIZE_MISMATCH'));
      }));

    it('stores a manifest under a tag and returns it by tag and by digest', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const image = sampleImage('a');
        await pushImage(t, image, 'v1');
        for (const ref of ['v1', image.manifest.digest]) {
          const got = await t.getManifest(ref);
          assert.equal(got.digest, image.manifest.digest);
          assert.equal(got.mediaType, image.manifest.mediaType);
          assert.deepEqual(new Uint8Array(got.bytes), image.manifest.bytes); // a Buffer is as good as a Uint8Array
        }
      }));

    it('reports a missing manifest as ERR_NOT_FOUND', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        await pushImage(t, sampleImage('b'), 'present');
        await assert.rejects(t.getManifest('absent'), isCode('ERR_NOT_FOUND'));
        await assert.rejects(t.getManifest(sha256(encoder.encode('nope'))), isCode('ERR_NOT_FOUND'));
      }));

    it('rejects a manifest whose bytes do not match its digest', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const image = sampleImage('c');
        await t.putBlob(image.blobs[0] as Descriptor, bodyOf(image.config));
        await t.putBlob(image.blobs[1] as Descriptor, bodyOf(image.layer));
        const bad = { ...image.manifest, digest: sha256(encoder.encode('x')) };
        await assert.rejects(t.putManifest(bad, 'bad'), isCode('ERR_DIGEST_MISMATCH'));
        await assert.rejects(t.getManifest('bad'), isCode('ERR_NOT_FOUND'));
      }));

    it('keeps the first tag when a second is added, and moves a tag that is pushed again', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const a = sampleImage('d1');
        const b = sampleImage('d2');
        await pushImage(t, a, 'one');
        await pushImage(t, a, 'two');
        assert.equal((await t.getManifest('one')).digest, a.manifest.digest);
        assert.equal((await t.getManifest('two')).digest, a.manifest.digest);
        await pushImage(t, b, 'two');
        assert.equal((await t.getManifest('one')).digest, a.manifest.digest);
        assert.equal((await t.getManifest('two')).digest, b.manifest.digest);
      }));

    it('stores an index after its children, or refuses it with ERR_UNSUPPORTED', () =>
      withFixture(makeTransport, async ({ transport: t }) => {
        const child = sampleImage('e');
        await pushImage(t, child, undefined);
        const bytes = encoder.encode(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: [{ ...describeBytes(child.manifest.bytes, child.manifest.mediaType), platform: { os: 'linux', architecture: 'amd64' } }],
          }),
        );
        const index: RawManifest = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(bytes), bytes };
        if (t.acceptsIndex === false) {
          await assert.rejects(t.putManifest(index, 'multi'), isCode('ERR_UNSUPPORTED'));
          return;
        }
        await t.putManifest(index, 'multi');
        const got = await t.getManifest('multi');
        assert.equal(got.digest, index.digest);
        assert.equal(got.mediaType, index.mediaType);
        assert.deepEqual(new Uint8Array((await t.getManifest(child.manifest.digest)).bytes), child.manifest.bytes);
      }));

    it('makes writes visible on commit and close() is safe to call twice', () =>
      withFixture(makeTransport, async ({ transport: t, reopen }) => {
        const image = sampleImage('f');
        await pushImage(t, image, 'latest');
        if (t.commit !== undefined && reopen !== undefined) {
          const before = await reopen();
          await assert.rejects(before.getManifest('latest'), isCode('ERR_NOT_FOUND'));
          await before.close?.();
        }
        await t.commit?.();
        if (reopen !== undefined) {
          const after = await reopen();
          const got = await after.getManifest('latest');
          if (options.preservesManifests === false) {
            const doc = JSON.parse(new TextDecoder().decode(got.bytes)) as { config: Descriptor; layers: Descriptor[] };
            assert.equal(doc.config.digest, image.blobs[0]?.digest);
            assert.deepEqual(doc.layers.map((l) => l.digest), [image.blobs[1]?.digest]);
          } else {
            assert.equal(got.digest, image.manifest.digest);
          }
          assert.deepEqual(await collect(await after.getBlob(image.blobs[1] as Descriptor)), image.layer);
          await after.close?.();
        }
        await t.close?.();
        await t.close?.();
      }));

    it('discards uncommitted writes on close() when it stages writes (declares commit)', (ctx) =>
      withFixture(makeTransport, async ({ transport: t, reopen }) => {
        if (t.commit === undefined || reopen === undefined) return void ctx.skip('writes are not staged');
        await pushImage(t, sampleImage('g'), 'gone');
        await t.close?.();
        const after = await reopen();
        await assert.rejects(after.getManifest('gone'), isCode('ERR_NOT_FOUND'));
        await after.close?.();
      }));

    it('lists the referrers of a manifest when it declares listReferrers', (ctx) =>
      withFixture(makeTransport, async ({ transport: t, reopen }) => {
        if (t.listReferrers === undefined) return void ctx.skip('no listReferrers');
        if (t.acceptsArtifacts === false) {
          // A transport that cannot hold an artifact cannot hold a referrer either.
          assert.deepEqual(await t.listReferrers(sampleImage('r0').manifest.digest), []);
          return;
        }
        const image = sampleImage('r');
        await pushImage(t, image, 'subject');
        const sbom = await pushReferrer(t, image.manifest, 'application/spdx+json', 'sbom');
        const signature = await pushReferrer(t, image.manifest, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'sig');
        await t.commit?.();
        const reader = reopen === undefined ? t : await reopen();
        const listReferrers = reader.listReferrers!.bind(reader);
        const byDigest = (a: Descriptor, b: Descriptor) => a.digest.localeCompare(b.digest);
        assert.deepEqual((await listReferrers(image.manifest.digest)).sort(byDigest), [sbom, signature].sort(byDigest));
        assert.deepEqual(await listReferrers(image.manifest.digest, { artifactType: 'application/spdx+json' }), [sbom]);
        assert.deepEqual(await listReferrers(image.manifest.digest, { artifactType: 'application/x-none' }), []);
        // A manifest nothing refers to, and one that is not there at all, have no referrers.
        assert.deepEqual(await listReferrers(sbom.digest), []);
        assert.deepEqual(await listReferrers(sha256(encoder.encode('absent'))), []);
        if (reader !== t) await reader.close?.();
      }));
  });
}

/**
 * Pushes an artifact manifest whose `subject` is `subject` (one layer holding `text`, the empty
 * config) and returns the descriptor a referrers listing must give for it.
 */
export async function pushReferrer(t: Transport, subject: RawManifest, artifactType: string, text: string): Promise<Descriptor> {
  const empty = encoder.encode('{}');
  const emptyDesc = describeBytes(empty, 'application/vnd.oci.empty.v1+json');
  const layer = encoder.encode(text);
  const layerDesc = describeBytes(layer, 'application/octet-stream');
  await t.putBlob(emptyDesc, bodyOf(empty));
  await t.putBlob(layerDesc, bodyOf(layer));
  const annotations = { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z', 'org.example.name': text };
  const bytes = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType,
      config: emptyDesc,
      layers: [layerDesc],
      subject: describeBytes(subject.bytes, subject.mediaType),
      annotations,
    }),
  );
  const manifest: RawManifest = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), bytes };
  await t.putManifest(manifest, undefined);
  return { ...describeBytes(bytes, manifest.mediaType), artifactType, annotations };
}
