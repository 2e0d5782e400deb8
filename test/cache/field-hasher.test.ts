// The field encoding shared by layer keys and step keys: pinned vectors (computed before the
// two encoders became one) prove the bytes of every key kind stay the same, and a second,
// independent encoder written from docs/cache.md agrees with FieldHasher.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FieldHasher } from '../../src/cache/field-hasher.ts';
import { layerCacheKey } from '../../src/cache/key.ts';
import { rootKey, sourceNodeDigest, stepKey } from '../../src/cache/steps-key.ts';
import type { ResolvedLayerEntry } from '../../src/layer/types.ts';

/** docs/cache.md: marker byte 1, 4-byte big-endian length, UTF-8 bytes; a missing value is one 0 byte. */
function documentedEncoding(fields: (string | number | undefined)[]): string {
  const hash = createHash('sha256');
  for (const field of fields) {
    if (field === undefined) {
      hash.update(Buffer.of(0));
      continue;
    }
    const bytes = Buffer.from(String(field), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(Buffer.concat([Buffer.of(1), length, bytes]));
  }
  return hash.digest('hex');
}

const entry = { path: 'app/é x', type: 'file', mode: 0o644, uid: 0, gid: 1000, uname: '', gname: 'g', mtime: 1, size: 12, devminor: 0 } as ResolvedLayerEntry;

describe('cache key field encoding', () => {
  it('matches the encoding docs/cache.md describes', () => {
    const fields = ['ocibuild-step-key/1', 'root', '', undefined, 0, 420, 'é', 'a'.repeat(300)];
    const hasher = new FieldHasher();
    for (const f of fields) hasher.field(f);
    assert.equal(hasher.hex(), documentedEncoding(fields));
    assert.equal(new FieldHasher().map({ b: '2', a: '1' }).hex(), documentedEncoding([2, 'a', '1', 'b', '2']));
  });

  it('keeps the layer key bytes', () => {
    const key = layerCacheKey(
      [
        { entry, contentDigest: 'sha256:' + 'a'.repeat(64) },
        { entry: { ...entry, path: 'l', type: 'symlink', linkname: 't' }, contentDigest: undefined },
      ],
      { compression: 'gzip', encoder: 'fflate/6', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
    );
    assert.equal(key, '6425ae9998e579aad12f8ec8ce3f18b06625c229950d3061d8b67de667772c58');
    assert.equal(layerCacheKey([], { compression: 'none', encoder: '', mediaType: 'm' }), 'e85c38b3edc86c25e541d6ec20c0f199cebd7718cf25fd7c4abc75aec27b9d39');
  });

  it('keeps the step, root and source node key bytes', () => {
    const step = stepKey({
      parent: 'p'.repeat(64),
      instruction: '{"kind":"copy"}',
      variables: { B: '2', A: '' },
      platform: 'linux/amd64',
      sources: [
        ['a', 'd1'],
        ['b', 'd2'],
      ],
      extra: { 'from-stage': 'k' },
    });
    assert.equal(step, '9716f03f222dc10548f7e74cb227c3f9142eb483472641142723f6e1fbae3dc4');
    const root = rootKey({ baseDigest: undefined, platform: 'linux/arm64', created: 0, encoder: 'node:zlib/6/1.3' });
    assert.equal(root, '4781f1ae489921ba282ad71ef831d6afee100c9bf0abfafdd2b1f55c52500ed5');
    assert.equal(sourceNodeDigest([0, 'file', 'x', undefined, '', 420]), 'dd439fd5407561ddbbde917fa7a2d82f5bd840a367c0b9ce0096d572b01e8264');
  });
});
