import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addToReferrersIndex, parseReferrersIndex, referrerOf, referrersTag } from '../../src/oci/referrers.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/oci/mediatypes.ts';
import type { RawManifest } from '../../src/oci/types.ts';
import { sha256 } from '../helpers/data.ts';
import { OcibuildError } from '../../src/errors.ts';

const raw = (doc: unknown, mediaType = OCI_MANIFEST): RawManifest => {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  return { mediaType, digest: sha256(bytes), bytes };
};
const SUBJECT = sha256('subject');
const config = { mediaType: 'application/vnd.example.config+json', digest: sha256('c'), size: 1 };

describe('referrerOf', () => {
  it("lists a manifest with a subject under its own artifactType, else its config's media type", () => {
    const typed = raw({ schemaVersion: 2, artifactType: 'application/spdx+json', config, layers: [], subject: { mediaType: OCI_MANIFEST, digest: SUBJECT, size: 3 }, annotations: { k: 'v' } });
    assert.deepEqual(referrerOf(typed), {
      subject: SUBJECT,
      descriptor: { mediaType: OCI_MANIFEST, digest: typed.digest, size: typed.bytes.byteLength, artifactType: 'application/spdx+json', annotations: { k: 'v' } },
    });
    const untyped = raw({ schemaVersion: 2, config, layers: [], subject: { mediaType: OCI_MANIFEST, digest: SUBJECT, size: 3 } });
    assert.equal(referrerOf(untyped)?.descriptor.artifactType, 'application/vnd.example.config+json');
    assert.equal(referrerOf(untyped)?.descriptor.annotations, undefined);
    const index = raw({ schemaVersion: 2, manifests: [], subject: { mediaType: OCI_MANIFEST, digest: SUBJECT, size: 3 } }, OCI_INDEX);
    assert.deepEqual(referrerOf(index)?.descriptor, { mediaType: OCI_INDEX, digest: index.digest, size: index.bytes.byteLength });
  });

  it('is undefined for a manifest without a subject, or bytes that are not a JSON object', () => {
    assert.equal(referrerOf(raw({ schemaVersion: 2, config, layers: [] })), undefined);
    assert.equal(referrerOf(raw(null)), undefined);
    assert.equal(referrerOf({ mediaType: OCI_MANIFEST, digest: sha256('x'), bytes: new TextEncoder().encode('not json') }), undefined);
    assert.equal(referrerOf(raw({ subject: { digest: 5 } })), undefined);
  });
});

describe('the fallback tag scheme', () => {
  it('names the tag algorithm-hex', () => {
    assert.equal(referrersTag(SUBJECT), `sha256-${SUBJECT.slice(7)}`);
  });

  const index = (doc: Record<string, unknown>): RawManifest => raw({ schemaVersion: 2, mediaType: OCI_INDEX, ...doc }, OCI_INDEX);
  const parse = (m: RawManifest | undefined): Record<string, unknown> => JSON.parse(new TextDecoder().decode(m!.bytes)) as Record<string, unknown>;
  const a = { mediaType: OCI_MANIFEST, digest: sha256('a'), size: 1, artifactType: 'x/a' };
  const b = { mediaType: OCI_MANIFEST, digest: sha256('b'), size: 2, artifactType: 'x/b' };

  it('adds a descriptor once (no duplicate), keeping the other entries and fields', () => {
    const first = addToReferrersIndex(undefined, a);
    assert.ok(first);
    assert.equal(first.digest, sha256(first.bytes));
    assert.equal(first.mediaType, OCI_INDEX);
    assert.deepEqual(parse(first), { manifests: [a], mediaType: OCI_INDEX, schemaVersion: 2 });
    assert.equal(addToReferrersIndex(first, a), undefined, 'already listed exactly');
    const second = addToReferrersIndex(index({ manifests: [a], annotations: { keep: 'me' } }), b);
    assert.deepEqual(parse(second), { annotations: { keep: 'me' }, manifests: [a, b], mediaType: OCI_INDEX, schemaVersion: 2 });
  });

  it('replaces a stale entry of the same digest where it stands, and drops further copies of it', () => {
    const staleA = { mediaType: OCI_MANIFEST, digest: a.digest, size: 1 }; // no artifactType: written by a tool that lost it
    const merged = addToReferrersIndex(index({ manifests: [staleA, b, staleA] }), a);
    assert.deepEqual(parse(merged).manifests, [a, b]);
    assert.equal(addToReferrersIndex(merged, a), undefined);
    // Two copies of an exact entry are not "listed exactly": the copy goes.
    assert.deepEqual(parse(addToReferrersIndex(index({ manifests: [a, a] }), a)).manifests, [a]);
  });

  it('refuses a fallback tag that is not an OCI image index with ERR_INVALID_MANIFEST', () => {
    const refused = (m: RawManifest): boolean => {
      assert.throws(() => addToReferrersIndex(m, b), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_MANIFEST');
      assert.throws(() => parseReferrersIndex(m, 'x'), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_MANIFEST');
      return true;
    };
    for (const text of ['not json', '[]', 'null', '{}']) refused({ mediaType: OCI_INDEX, digest: sha256(text), bytes: new TextEncoder().encode(text) });
    // An image manifest squatting the tag, even one that happens to have a manifests array.
    refused(raw({ schemaVersion: 2, config: {}, layers: [], manifests: [] }, OCI_MANIFEST));
  });

  it('drops entries that are not descriptors when parsing', () => {
    const parsed = parseReferrersIndex(index({ manifests: [null, 5, 'x', { size: 1 }, a] }), 'x');
    assert.deepEqual(parsed.manifests, [a]);
  });
});
