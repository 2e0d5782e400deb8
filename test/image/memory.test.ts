import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memorySource } from '../../src/image/memory.ts';
import { runTransportConformance, sampleImage, collect } from '../transports/conformance.ts';
import type { Descriptor } from '../../src/oci/types.ts';

runTransportConformance('memorySource', async () => ({ transport: memorySource(), cleanup: async () => undefined }));

describe('memorySource', () => {
  it('serves blobs from bytes, factories and another transport, with mount origins', async () => {
    const image = sampleImage('m');
    const base = memorySource({ description: 'base' });
    const [config, layer] = image.blobs as [Descriptor, Descriptor];
    base.addBlob(layer, image.layer);
    const m = memorySource();
    m.addBlob(config, async function* () {
      yield image.config;
    });
    m.addBlob(layer, undefined, { transport: base, registry: 'localhost:5000', repository: 'base' });
    m.addManifest(image.manifest, 'v1');
    assert.deepEqual(await collect(await m.getBlob(config)), image.config);
    assert.deepEqual(await collect(await m.getBlob(layer)), image.layer);
    assert.deepEqual(m.blobOrigin(layer), { registry: 'localhost:5000', repository: 'base' });
    assert.equal(m.blobOrigin(config), undefined);
    assert.equal((await m.getManifest('')).digest, image.manifest.digest);
  });

  it('refuses a manifest whose digest does not match and a wrong-sized blob read', async () => {
    const image = sampleImage('n');
    const m = memorySource();
    assert.throws(() => m.addManifest({ ...image.manifest, digest: image.blobs[0]!.digest }), { code: 'ERR_DIGEST_MISMATCH' });
    const layer = image.blobs[1] as Descriptor;
    m.addBlob({ ...layer, size: layer.size + 1 }, image.layer);
    await assert.rejects(async () => collect(await m.getBlob({ ...layer, size: layer.size + 1 })), { code: 'ERR_SIZE_MISMATCH' });
  });
});
