import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OcibuildError } from '../../src/errors.ts';
import { canonicalJson, canonicalJsonString, compareCodePoints } from '../../src/oci/json.ts';

describe('canonicalJson', () => {
  it('sorts keys recursively, drops undefined members and has no whitespace', () => {
    const value = { b: 1, a: { z: [3, { y: true, x: null }], w: undefined }, c: 'x y' };
    assert.equal(canonicalJsonString(value), '{"a":{"z":[3,{"x":null,"y":true}]},"b":1,"c":"x y"}');
  });

  it('is independent of key insertion order', () => {
    const a = { schemaVersion: 2, mediaType: 'm', config: { size: 1, digest: 'd', mediaType: 'c' } };
    const b = { config: { mediaType: 'c', digest: 'd', size: 1 }, mediaType: 'm', schemaVersion: 2 };
    assert.deepEqual(canonicalJson(a), canonicalJson(b));
  });

  it('orders keys by code point, not UTF-16 code unit', () => {
    // U+1F600 is 0xD83D 0xDE00 in UTF-16, below U+FFFF by code unit but above it by code point.
    assert.equal(canonicalJsonString({ '\u{1F600}': 1, '\uFFFF': 2, 'é': 3, Z: 4, a: 5 }), '{"Z":4,"a":5,"é":3,"\uFFFF":2,"\u{1F600}":1}');
    assert.ok(compareCodePoints('\uFFFF', '\u{1F600}') < 0);
    assert.ok(compareCodePoints('ab', 'a') > 0);
    assert.equal(compareCodePoints('x', 'x'), 0);
  });

  it('encodes UTF-8 and escapes like JSON.stringify', () => {
    const bytes = canonicalJson({ s: 'é"\\\n\u0001' });
    assert.deepEqual(Buffer.from(bytes).toString('utf8'), '{"s":"é\\"\\\\\\n\\u0001"}');
    assert.equal(bytes.length, Buffer.byteLength('{"s":"é\\"\\\\\\n\\u0001"}'));
    assert.deepEqual(JSON.parse(Buffer.from(bytes).toString('utf8')), { s: 'é"\\\n\u0001' });
  });

  it('keeps array length (undefined → null) and formats numbers like JSON', () => {
    assert.equal(canonicalJsonString([undefined, 1.5, -0, 1e21, 9007199254740991]), '[null,1.5,0,1e+21,9007199254740991]');
    assert.equal(canonicalJsonString({ d: new Date(0) }), '{"d":"1970-01-01T00:00:00.000Z"}');
    assert.equal(canonicalJsonString({ j: { toJSON: () => undefined }, k: 1 }), '{"k":1}');
  });

  it('gives byte-identical output to JSON.stringify for already-sorted documents', () => {
    const doc = { a: [1, 'two', { b: false }], c: { d: 'e' } };
    assert.equal(canonicalJsonString(doc), JSON.stringify(doc));
  });

  it('rejects what JSON cannot represent', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const bad of [{ n: Number.NaN }, { n: Infinity }, { b: 1n }, { f: () => 1 }, cyclic, new Uint8Array(2), undefined]) {
      assert.throws(() => canonicalJson(bad), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT');
    }
  });

  it('allows shared (non-cyclic) sub-objects', () => {
    const shared = { x: 1 };
    assert.equal(canonicalJsonString({ a: shared, b: [shared] }), '{"a":{"x":1},"b":[{"x":1}]}');
  });
});
