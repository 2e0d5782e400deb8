/**
 * Small hand-made images for registry tests: a config, one real gzip tar layer, a manifest.
 * Built without ocibuild's layer writer so the tests do not depend on it.
 * @module
 */
import { createHash } from 'node:crypto';
import { collect, sha256 } from '../helpers/data.ts';
import { gzipSync } from 'node:zlib';
import type { Descriptor, RawManifest } from '../../src/oci/types.ts';
import { OcibuildError } from '../../src/errors.ts';

const encoder = new TextEncoder();

export { collect, sha256 };

/** A descriptor for bytes. */
export function describe(bytes: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
}

/** A one-file ustar archive (hand-written header, so no tar library is involved). */
export function tarOf(name: string, content: Uint8Array): Uint8Array {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.byteLength.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000001\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\u000000', 257);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const padding = Buffer.alloc((512 - (content.byteLength % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

/** A test image with its blobs. */
export interface TestImage {
  config: Uint8Array;
  layer: Uint8Array;
  configDescriptor: Descriptor;
  layerDescriptor: Descriptor;
  manifest: RawManifest;
}

/** Makes a distinct small image per seed (`layerBytes` pads the layer to roughly that size). */
export function makeImage(seed: string, layerBytes = 1000, mediaTypes: 'oci' | 'docker' = 'oci'): TestImage {
  // Incompressible content (a hash chain) so the gzip size tracks layerBytes.
  const blocks: Buffer[] = [];
  let block = createHash('sha256').update(seed).digest();
  for (let filled = 0; filled < layerBytes; filled += block.length) {
    blocks.push(block);
    block = createHash('sha256').update(block).digest();
  }
  const content = Buffer.concat(blocks).subarray(0, layerBytes);
  const tar = tarOf(`file-${seed}.bin`, content);
  const layer = new Uint8Array(gzipSync(tar));
  const docker = mediaTypes === 'docker';
  const config = encoder.encode(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] }, config: { Labels: { seed } } }),
  );
  const configDescriptor = describe(config, docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json');
  const layerDescriptor = describe(layer, docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip');
  const mediaType = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const bytes = encoder.encode(JSON.stringify({ schemaVersion: 2, mediaType, config: configDescriptor, layers: [layerDescriptor] }));
  return { config, layer, configDescriptor, layerDescriptor, manifest: { mediaType, digest: sha256(bytes), bytes } };
}

/** A restartable body over bytes, in chunks of `chunk` bytes. */
export function bodyOf(bytes: Uint8Array, chunk = 64 * 1024): () => AsyncIterable<Uint8Array> {
  return async function* () {
    for (let i = 0; i < bytes.byteLength; i += chunk) yield bytes.subarray(i, i + chunk);
  };
}

/** An assert.rejects predicate for an ocibuild error code. */
export function isCode(code: string) {
  return (error: unknown): boolean => {
    if (error instanceof OcibuildError && error.code === code) return true;
    throw error;
  };
}
