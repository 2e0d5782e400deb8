/**
 * Test helper process (not a test): pushes COUNT distinct images tagged PREFIX-0 … PREFIX-(COUNT-1)
 * into the OCI layout at PATH, one transport session (open, write, commit, close) per tag, as
 * separate `ocibuild` runs would. Used by oci-layout-concurrency.test.ts to run writers in parallel.
 * With `slow`, each image has an 8 MiB layer streamed in small pieces with pauses, and
 * `writing` is printed when its bytes start to flow (so a test can kill the process mid-write).
 * Usage: node --import tsx oci-layout-writer.ts PATH PREFIX COUNT [slow]
 */
import { ociLayout } from '../../src/transports/oci-layout.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { bodyOf, describeBytes, sampleImage, sha256 } from './conformance.ts';

const [path, prefix, countText, mode] = process.argv.slice(2);
if (path === undefined || prefix === undefined || countText === undefined) throw new Error('usage: PATH PREFIX COUNT [slow]');

function slowImage(seed: string) {
  const layer = new Uint8Array(8 * 1024 * 1024).fill(seed.length % 251);
  const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const blobs = [describeBytes(config, 'application/vnd.oci.image.config.v1+json'), describeBytes(layer, 'application/vnd.oci.image.layer.v1.tar')];
  const bytes = new TextEncoder().encode(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: blobs[0], layers: [blobs[1]] }),
  );
  const body = async function* () {
    process.stdout.write('writing\n');
    for (let offset = 0; offset < layer.byteLength; offset += 64 * 1024) {
      yield layer.subarray(offset, offset + 64 * 1024);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { config, layerBody: body, manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), bytes }, blobs };
}

for (let i = 0; i < Number(countText); i++) {
  const seed = `${prefix}-${i}`;
  const sample = sampleImage(seed);
  const image = mode === 'slow' ? slowImage(seed) : { ...sample, layerBody: bodyOf(sample.layer) };
  const transport = ociLayout(path);
  try {
    await transport.putBlob(image.blobs[0] as Descriptor, bodyOf(image.config));
    await transport.putBlob(image.blobs[1] as Descriptor, image.layerBody);
    await transport.putManifest(image.manifest, seed);
    await transport.commit();
  } finally {
    await transport.close();
  }
}
