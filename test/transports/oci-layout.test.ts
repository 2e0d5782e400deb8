import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { OcibuildError } from '../../src/errors.ts';
import { runTransportConformance, sampleImage, bodyOf, collect } from './conformance.ts';
import type { Descriptor } from '../../src/oci/types.ts';

runTransportConformance(
  'ociLayout (new layout)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocibuild-oci-'));
    const path = join(dir, 'layout');
    return { transport: ociLayout(path), reopen: () => ociLayout(path), cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
);

runTransportConformance(
  'ociLayout (existing layout)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocibuild-oci-'));
    const path = join(dir, 'layout');
    execFileSync('umoci', ['init', '--layout', path]);
    return { transport: ociLayout(path), reopen: () => ociLayout(path), cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
);

describe('ociLayout', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-oci-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function push(path: string, seed: string, tag: string | undefined) {
    const image = sampleImage(seed);
    const t = ociLayout(path);
    await t.putBlob(image.blobs[0] as Descriptor, bodyOf(image.config));
    await t.putBlob(image.blobs[1] as Descriptor, bodyOf(image.layer));
    await t.putManifest(image.manifest, tag);
    await t.commit();
    await t.close();
    return image;
  }

  it('writes a layout that skopeo reads, with the tag annotation skopeo writes', async () => {
    const path = join(dir, 'a');
    const image = await push(path, 'a', 'v1');
    assert.deepEqual(JSON.parse(await readFile(join(path, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(path, 'index.json'), 'utf8'));
    assert.deepEqual(index.manifests, [
      { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.byteLength, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
    ]);
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${path}:v1`]);
    assert.deepEqual(new Uint8Array(raw), image.manifest.bytes);
    // No staging directory is left next to the layout.
    assert.deepEqual(await readdir(dir), ['a']);
  });

  it('adds a second tag to an existing layout and keeps the first', async () => {
    const path = join(dir, 'b');
    const first = await push(path, 'b1', 'one');
    const second = await push(path, 'b2', 'two');
    const t = ociLayout(path);
    assert.deepEqual((await t.listTags()).sort(), ['one', 'two']);
    assert.equal((await t.getManifest('one')).digest, first.manifest.digest);
    assert.equal((await t.getManifest('two')).digest, second.manifest.digest);
    execFileSync('skopeo', ['inspect', '--raw', `oci:${path}:one`]);
  });

  it('moves a tag that is written again, leaving one entry for it', async () => {
    const path = join(dir, 'moved');
    await push(path, 'm1', 'keep');
    await push(path, 'm1', 'moving');
    const second = await push(path, 'm2', 'moving');
    const index = JSON.parse(await readFile(join(path, 'index.json'), 'utf8'));
    const names = index.manifests.map((d: Descriptor) => d.annotations?.['org.opencontainers.image.ref.name']);
    assert.deepEqual(names.sort(), ['keep', 'moving']);
    assert.deepEqual(new Uint8Array(execFileSync('skopeo', ['inspect', '--raw', `oci:${path}:moving`])), second.manifest.bytes);
  });

  it('lists a manifest stored without a tag and reads it as the only one', async () => {
    const path = join(dir, 'c');
    const image = await push(path, 'c', undefined);
    const t = ociLayout(path);
    assert.equal((await t.getManifest('')).digest, image.manifest.digest);
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${path}`]);
    assert.deepEqual(new Uint8Array(raw), image.manifest.bytes);
  });

  it('reading where no layout is says so: a missing path, an empty folder (not "0 manifests"); a file is no layout either way', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    for (const [path, why] of [[join(dir, 'nowhere'), 'no such folder'], [empty, 'an empty folder']] as const) {
      for (const reference of ['', 'latest']) {
        await assert.rejects(
          ociLayout(path).getManifest(reference),
          (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_NOT_FOUND' && e.message === `oci:${path}: no OCI image layout there (${why})`,
        );
      }
    }
    // A file: neither read nor written as a layout.
    const notAFolder = (e: unknown): boolean => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT' && e.message === `oci:${file}: not a folder (an OCI image layout is one)`;
    await assert.rejects(ociLayout(file).getManifest(''), notAFolder);
    const image = sampleImage('file');
    await assert.rejects(ociLayout(file).putBlob(image.blobs[0] as Descriptor, bodyOf(image.config)), notAFolder);
    assert.equal(await readFile(file, 'utf8'), 'x');
  });

  it('refuses a non-empty directory that is not a layout, and create: false', async () => {
    const path = join(dir, 'd');
    await mkdir(path);
    await writeFile(join(path, 'x'), 'x');
    await assert.rejects(ociLayout(path).getManifest('t'), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT');
    const image = sampleImage('d');
    await assert.rejects(
      ociLayout(join(dir, 'missing'), { create: false }).putBlob(image.blobs[0] as Descriptor, bodyOf(image.config)),
      (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_NOT_FOUND',
    );
  });

  it('reads a layout written by umoci, including a blob a reader corrupts', async () => {
    const path = join(dir, 'u');
    execFileSync('umoci', ['init', '--layout', path]);
    execFileSync('umoci', ['new', '--image', `${path}:t`]);
    const t = ociLayout(path);
    const m = await t.getManifest('t');
    const doc = JSON.parse(new TextDecoder().decode(m.bytes));
    const config = await collect(await t.getBlob(doc.config));
    assert.equal(JSON.parse(new TextDecoder().decode(config)).os, 'linux');
    const hex = (doc.config.digest as string).slice(7);
    const file = join(path, 'blobs', 'sha256', hex);
    const bytes = await readFile(file);
    bytes[0] = bytes[0] === 0x7b ? 0x20 : 0x7b;
    await writeFile(file, bytes);
    await assert.rejects(async () => collect(await t.getBlob(doc.config)), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_DIGEST_MISMATCH');
  });
});
