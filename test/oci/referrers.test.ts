import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addToReferrersIndex, referrerOf, referrersTag } from '../../src/oci/referrers.ts';
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

  it('adds a descriptor once, keeping the other entries and fields', () => {
    const a = { mediaType: OCI_MANIFEST, digest: sha256('a'), size: 1, artifactType: 'x/a' };
    const b = { mediaType: OCI_MANIFEST, digest: sha256('b'), size: 2, artifactType: 'x/b' };
    const first = addToReferrersIndex(undefined, a);
    assert.ok(first);
    assert.equal(first.digest, sha256(first.bytes));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(first.bytes)), { manifests: [a], mediaType: OCI_INDEX, schemaVersion: 2 });
    assert.equal(addToReferrersIndex(first.bytes, a), undefined, 'already listed');
    const withExtra = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [a], annotations: { keep: 'me' } }));
    const second = addToReferrersIndex(withExtra, b);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(second!.bytes)), { annotations: { keep: 'me' }, manifests: [a, b], mediaType: OCI_INDEX, schemaVersion: 2 });
  });

  it('refuses a fallback index that is not a JSON object with ERR_INVALID_MANIFEST', () => {
    const b = { mediaType: OCI_MANIFEST, digest: sha256('b'), size: 2 };
    for (const text of ['not json', '[]', 'null']) {
      assert.throws(() => addToReferrersIndex(new TextEncoder().encode(text), b), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_MANIFEST', text);
    }
  });
});
