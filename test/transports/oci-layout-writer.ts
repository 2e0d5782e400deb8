/**
 * Test helper process (not a test): pushes COUNT distinct images tagged PREFIX-0 … PREFIX-(COUNT-1)
 * into the OCI layout at PATH, one transport session (open, write, commit, close) per tag, as
 * separate `ocibuild` runs would. Used by oci-layout-concurrency.test.ts to run writers in parallel.
 * Usage: node --import tsx oci-layout-writer.ts PATH PREFIX COUNT
 */
import { ociLayout } from '../../src/transports/oci-layout.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { bodyOf, sampleImage } from './conformance.ts';

const [path, prefix, countText] = process.argv.slice(2);
if (path === undefined || prefix === undefined || countText === undefined) throw new Error('usage: PATH PREFIX COUNT');
for (let i = 0; i < Number(countText); i++) {
  const image = sampleImage(`${prefix}-${i}`);
  const transport = ociLayout(path);
  try {
    await transport.putBlob(image.blobs[0] as Descriptor, bodyOf(image.config));
    await transport.putBlob(image.blobs[1] as Descriptor, bodyOf(image.layer));
    await transport.putManifest(image.manifest, `${prefix}-${i}`);
    await transport.commit();
  } finally {
    await transport.close();
  }
}
