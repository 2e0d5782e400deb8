// A base image's layers are verified before their files are used: a base whose config lists a
// wrong diff_ids entry fails a build that reads the layer's files (COPY --from) with
// ERR_DIGEST_MISMATCH, and `layerLimits` bounds what such a read may expand to.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { buildImage, LimitExceededError, OcibuildError } from '../../src/index.ts';
import { encodeConfig } from '../../src/oci/config.ts';
import { encodeManifest } from '../../src/oci/manifest.ts';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../src/oci/mediatypes.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { sha256 } from '../helpers/data.ts';


async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => pack.on('end', resolve));
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) pack.entry({ name, type: 'directory', mode: 0o755, mtime: new Date(0) });
    else pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Writes a one-layer image to `oci:DIR:base` whose config says `diffId` (true or not). */
async function writeBase(dir: string, tarBytes: Buffer, diffId: string): Promise<string> {
  const gz = gzipSync(tarBytes);
  const layer = { mediaType: OCI_LAYER_GZIP, digest: sha256(gz), size: gz.length };
  const configBytes = encodeConfig({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [] });
  const config = { mediaType: OCI_CONFIG, digest: sha256(configBytes), size: configBytes.length };
  const layout = ociLayout(dir);
  await layout.putBlob(layer, async function* () {
    yield gz;
  });
  await layout.putBlob(config, async function* () {
    yield configBytes;
  });
  await layout.putManifest(encodeManifest({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), 'base');
  await layout.commit?.();
  await layout.close?.();
  return `oci:${dir}:base`;
}

test('COPY --from a base whose diff_ids entry does not match its layer fails, and an honest one works', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-base-layers-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const bytes = await layerTar({ 'etc/': '', 'etc/app.conf': 'trusted?\n' });
  const lying = await writeBase(path.join(dir, 'lying'), bytes, sha256(Buffer.from('another layer')));
  const honest = await writeBase(path.join(dir, 'honest'), bytes, sha256(bytes));
  const context = path.join(dir, 'context');
  await fs.mkdir(context);
  const build = (from: string, extra = {}) =>
    buildImage({ context, dockerfile: { text: `FROM scratch\nCOPY --from=${from} /etc/app.conf /app.conf\n` }, to: `oci:${path.join(dir, 'out')}:x`, cache: false, ...extra });
  await assert.rejects(build(lying), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_DIGEST_MISMATCH');
  const ok = await build(honest);
  assert.equal(ok.manifest.layers.length, 1);
  // The same read bounded by layerLimits: a member count of 0 is already too many.
  await assert.rejects(build(honest, { layerLimits: { maxEntries: 0 } }), (e: unknown) => {
    return e instanceof LimitExceededError && e.limit === 'maxEntries';
  });
});
