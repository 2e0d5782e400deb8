/**
 * Test and benchmark fixture: an OCI image layout holding a multi-layer image of pseudo-random
 * data, built WITHOUT ocibuild's own code (tar-stream, node:zlib, node:crypto only) so that
 * transfers are checked against an independent fixture. Content is deterministic per seed.
 * @module
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

/** Options of {@link buildRandomLayout}. */
export interface RandomLayoutOptions {
  /** Number of layers. Default 3. */
  layers?: number;
  /** Uncompressed payload bytes per layer. Default 1 MiB. */
  layerSize?: number;
  /** Tag in index.json. Default `latest`. */
  tag?: string;
  /** OCI (default) or Docker v2.2 media types. */
  format?: 'oci' | 'docker';
  /** Seed of the pseudo-random content; the same seed gives the same bytes. Default `ocibuild`. */
  seed?: string;
  /** Fraction (0..1) of each layer that is repetitive text rather than random bytes. Default 0.25. */
  compressible?: number;
}

/** One layer written by {@link buildRandomLayout}. */
export interface FixtureLayer {
  digest: string;
  size: number;
  diffId: string;
}

/** What {@link buildRandomLayout} wrote. */
export interface RandomLayout {
  layoutPath: string;
  tag: string;
  manifestDigest: string;
  mediaType: string;
  configDigest: string;
  layers: FixtureLayer[];
  /** Sum of blob sizes (layers + config + manifest). */
  totalBytes: number;
}

const MEDIA = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

const BLOCK = 1 << 20;

/** AES-CTR keystream over zeros: fast, deterministic per seed, incompressible. */
function randomStream(seed: string): (size: number) => Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, key.subarray(0, 16));
  const zeros = Buffer.alloc(BLOCK);
  return (size) => cipher.update(size === BLOCK ? zeros : zeros.subarray(0, size));
}

function hashingTap(hash: ReturnType<typeof createHash>, counter?: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      if (counter) counter.bytes += chunk.length;
      callback(null, chunk);
    },
  });
}

async function writeLayer(blobs: string, index: number, size: number, options: Required<Pick<RandomLayoutOptions, 'seed' | 'compressible'>>): Promise<FixtureLayer> {
  const random = randomStream(`${options.seed}/${index}`);
  const text = Buffer.alloc(BLOCK, `layer ${index} of an ocibuild fixture: repetitive text compresses well.\n`);
  const pack = tar.pack();
  const entry = pack.entry({ name: `data/layer-${index}.bin`, size, mode: 0o644, mtime: new Date(1000), uid: 0, gid: 0 });
  const diffHash = createHash('sha256');
  const blobHash = createHash('sha256');
  const counter = { bytes: 0 };
  const temp = path.join(blobs, `.layer-${index}.tmp`);
  const producing = (async () => {
    let written = 0;
    let block = 0;
    while (written < size) {
      const n = Math.min(BLOCK, size - written);
      // A `compressible` share of blocks is text, spread evenly: gzip shrinks the layer a little, like real binaries.
      const isText = Math.floor((block + 1) * options.compressible) > Math.floor(block * options.compressible);
      block++;
      const chunk = isText ? text.subarray(0, n) : random(n);
      written += n;
      if (!entry.write(chunk)) await new Promise((resolve) => entry.once('drain', resolve));
    }
    entry.end();
    pack.finalize();
  })();
  await Promise.all([
    producing,
    pipeline(pack, hashingTap(diffHash), createGzip({ level: 1 }), hashingTap(blobHash, counter), createWriteStream(temp)),
  ]);
  const digest = `sha256:${blobHash.digest('hex')}`;
  await rename(temp, path.join(blobs, digest.slice(7)));
  return { digest, size: counter.bytes, diffId: `sha256:${diffHash.digest('hex')}` };
}

async function writeBlob(blobs: string, bytes: Uint8Array): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(path.join(blobs, digest.slice(7)), bytes);
  return digest;
}

/**
 * Writes an OCI layout at `dir/layout` with one image of `layers` gzip layers, each a tar with one
 * file of `layerSize` pseudo-random bytes. Layers are compressed concurrently (zlib runs off-thread).
 */
export async function buildRandomLayout(dir: string, options: RandomLayoutOptions = {}): Promise<RandomLayout> {
  const count = options.layers ?? 3;
  const layerSize = options.layerSize ?? BLOCK;
  const tag = options.tag ?? 'latest';
  const media = MEDIA[options.format ?? 'oci'];
  const layoutPath = path.join(dir, 'layout');
  const blobs = path.join(layoutPath, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  await writeFile(path.join(layoutPath, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const settings = { seed: options.seed ?? 'ocibuild', compressible: options.compressible ?? 0.25 };
  const layers = await Promise.all(Array.from({ length: count }, (_, i) => writeLayer(blobs, i, layerSize, settings)));

  const config = Buffer.from(
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `fixture layer ${i}` })),
    }),
  );
  const configDigest = await writeBlob(blobs, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: media.manifest,
      config: { mediaType: media.config, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: media.layer, digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = await writeBlob(blobs, manifest);
  await writeFile(
    path.join(layoutPath, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: media.manifest,
          digest: manifestDigest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  const totalBytes = layers.reduce((sum, l) => sum + l.size, 0) + config.length + manifest.length;
  return { layoutPath, tag, manifestDigest, mediaType: media.manifest, configDigest, layers, totalBytes };
}
