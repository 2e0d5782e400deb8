/**
 * The default gzip encoder writes one gzip member per 1 MiB of tar (libdeflate, see
 * docs/compression.md). A layer of several members, built with the defaults, is read by: our own
 * decoder (openLayerTar, diffID checked), `gzip -t`, `zcat` (equal to the tar), `tar -xz`,
 * umoci (unpack of the layout), skopeo (copy into a registry, same digest) and podman (pull
 * from the layout into a private store, which checks every diffID).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { openLayerTar } from '../../src/layer/decode.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { collect, prng, sha256 } from '../helpers/data.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { readImage, unpackImage } from '../helpers/tree.ts';
import { podmanAvailable, podmanStore } from '../transports/daemon-podman.ts';
import { skopeoCopy, skopeoInspect } from './tools.ts';

const run = promisify(execFile);

let tmp: string;
let registry: TestRegistry;
let base: BusyboxLayout;
let layout: string;
let blobPath: string;
let diffId: string;
let digest: string;
const files = new Map<string, Buffer>();

/** Text-like bytes that compress about 3:1, so the layer spans several 1 MiB blocks. */
function content(size: number, seed: number): Buffer {
  const rand = prng(seed);
  const words = ['const', 'return', 'function', 'module', 'exports', '=>', '{', '}', ';\n', 'value', 'index'];
  let text = '';
  while (text.length < size) text += words[Math.floor(rand() * words.length)]! + (rand() < 0.3 ? String(Math.floor(rand() * 1e6)) : ' ');
  return Buffer.from(text.slice(0, size));
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-multi-member-'));
  registry = await startRegistry();
  base = await buildBusyboxLayout(path.join(tmp, 'base'));
  for (let i = 0; i < 6; i++) files.set(`/data/file-${i}.js`, content(700_000 + i * 1000, i + 1));
  // podman names an oci: image after its path, which must then be lower case (mkdtemp's is not).
  layout = path.join(os.tmpdir(), `ocibuild-multi-member-${process.pid}-${Date.now()}`);
  const result = await buildImage({
    from: `oci:${base.layoutPath}:${base.tag}`,
    layers: [{ entries: [...files].map(([p, source]) => ({ type: 'file' as const, path: p, source })), createdBy: 'data' }],
    to: `oci:${layout}:v1`,
    sourceDateEpoch: 0,
    cache: false,
  });
  assert.ok(result.digest);
  const { manifest, config } = await readImage(layout, 'v1');
  const layer = manifest.layers.at(-1)!;
  digest = layer.digest;
  diffId = config.rootfs!.diff_ids.at(-1)!;
  blobPath = path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  if (layout) await fs.rm(layout, { recursive: true, force: true });
});

describe('multi-member gzip layers (the default encoder)', () => {
  it('has several members, which gzip -t, zcat, tar -xz and our decoder read as one stream', async () => {
    const blob = await fs.readFile(blobPath);
    assert.equal(sha256(blob), digest);
    // Each member begins with the header libdeflate writes: 1f 8b 08, no flags, mtime 0, OS 255.
    let members = 0;
    for (let i = blob.indexOf(0x1f); i >= 0 && i + 10 <= blob.length; i = blob.indexOf(0x1f, i + 1)) {
      if (blob[i + 1] === 0x8b && blob[i + 2] === 8 && blob[i + 3] === 0 && blob.readUInt32LE(i + 4) === 0 && blob[i + 9] === 0xff) members++;
    }
    assert.ok(members >= 4, `${members} gzip members`);

    assert.equal(spawnSync('gzip', ['-t', blobPath]).status, 0, 'gzip -t');
    const zcat = spawnSync('zcat', [blobPath], { maxBuffer: 1 << 26 });
    assert.equal(zcat.status, 0, String(zcat.stderr));
    assert.equal(`sha256:${sha256(zcat.stdout).replace(/^sha256:/, '')}`, diffId, 'zcat gives the tar of the diffID');

    const ours = await collect(openLayerTar({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: blob.length }, (async function* () { yield blob; })(), { diffId }));
    assert.ok(Buffer.from(ours).equals(zcat.stdout), 'openLayerTar gives the same tar');

    const dir = path.join(tmp, 'tar-xz');
    await fs.mkdir(dir);
    await run('tar', ['-xzf', blobPath, '-C', dir]);
    for (const [p, data] of files) assert.ok((await fs.readFile(path.join(dir, p))).equals(data), p);
  });

  it('umoci unpacks it', async () => {
    const { rootfs } = await unpackImage(layout, 'v1', path.join(tmp, 'bundle'));
    for (const [p, data] of files) assert.ok((await fs.readFile(path.join(rootfs, p))).equals(data), p);
  });

  it('skopeo copies it into a registry unchanged', async () => {
    await skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/multi-member:v1`);
    const inspected = await skopeoInspect(`${registry.host}/multi-member:v1`);
    assert.ok(inspected.Layers.includes(digest));
  });

  it('podman pulls it (checking every diffID)', { skip: podmanAvailable() ? false : 'podman is not installed' }, async () => {
    const store = await podmanStore();
    try {
      await store.podman('pull', '-q', `oci:${layout}:v1`);
      const images = JSON.parse(await store.podman('images', '--format', 'json')) as { Id: string }[];
      assert.equal(images.length, 1);
      const image = await store.inspect(images[0]!.Id);
      assert.equal(image.RootFS.Layers.at(-1), diffId);
    } finally {
      await store.stop();
    }
  });
});
