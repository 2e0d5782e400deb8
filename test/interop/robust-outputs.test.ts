/**
 * What ocibuild writes, read by the peer tools: a two-platform index in an OCI layout under two
 * tags (`umoci ls`, `skopeo copy --all` into a registry, `skopeo copy` of the host platform then
 * `umoci unpack`), a Docker-format image in a registry (skopeo), a docker-archive (`manifest.json`
 * as `docker load` reads it, and `skopeo copy docker-archive:`), an OCI layout with two tags.
 *
 * Found here (umoci 0.4.7, skopeo 1.9): umoci cannot unpack a tag naming an index ("tag is
 * ambiguous": it does not pick a platform), so a per-platform copy is unpacked instead; neither
 * tool reads a Docker v2.2 manifest from an OCI layout (skopeo skips such index entries, umoci
 * says "not implemented"); OCI layouts are checked with OCI-format images.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { unpackImage } from '../helpers/tree.ts';
import { skopeo, skopeoCopy, skopeoInspect, skopeoRawManifest } from './tools.ts';

const run = promisify(execFile);

let tmp: string;
let registry: TestRegistry;
let multi: BusyboxLayout;
const hello = { entries: [{ type: 'file' as const, path: '/hello.txt', source: new TextEncoder().encode('hello\n') }] };

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-robust-outputs-'));
  registry = await startRegistry();
  multi = await buildBusyboxLayout(path.join(tmp, 'base'), { platforms: ['linux/amd64', 'linux/arm64'] });
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function umociLs(layout: string): Promise<string[]> {
  const { stdout } = await run('umoci', ['ls', '--layout', layout]);
  return stdout.split('\n').filter((l) => l !== '').sort();
}

describe('robustness: outputs read by umoci and skopeo', () => {
  it('a two-platform index in oci: under two tags: umoci ls, skopeo copy --all, per-platform unpack', async () => {
    const layout = path.join(tmp, 'multi');
    const result = await buildImage({ from: `oci:${multi.layoutPath}:latest`, platforms: 'all', layers: [hello], to: [`oci:${layout}:v1`, `oci:${layout}:v2`], cache: false });
    assert.equal(result.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(await umociLs(layout), ['v1', 'v2']);
    // umoci does not choose a platform from an index: the tag is "ambiguous" to it.
    await assert.rejects(unpackImage(layout, 'v1', path.join(tmp, 'multi-bundle')), /ambiguous/);

    await skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/multi:v1`, ['--all']);
    const index = JSON.parse(await skopeoRawManifest(`${registry.host}/multi:v1`)) as { manifests: { platform: { architecture: string } }[] };
    assert.deepEqual(index.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
    assert.equal((await skopeoInspect(`${registry.host}/multi:v1`)).Digest, result.digest);
    for (const arch of ['amd64', 'arm64']) {
      const single = path.join(tmp, `multi-${arch}`);
      await skopeoCopy(`oci:${layout}:v2`, `oci:${single}:x`, ['--override-arch', arch]);
      const { rootfs } = await unpackImage(single, 'x', path.join(tmp, `multi-${arch}-bundle`));
      assert.equal(await fs.readFile(path.join(rootfs, 'hello.txt'), 'utf8'), 'hello\n');
      await fs.access(path.join(rootfs, 'bin', 'busybox'));
    }
  });

  it('a Docker-format image in a registry is read by skopeo and converts to an OCI layout umoci unpacks', async () => {
    const ref = `${registry.host}/docker-format:1`;
    const result = await buildImage({ from: `oci:${multi.layoutPath}:latest`, platforms: ['linux/amd64'], format: 'docker', layers: [hello], to: ref, cache: false });
    const raw = JSON.parse(await skopeoRawManifest(ref)) as { mediaType: string; config: { mediaType: string }; layers: { mediaType: string }[] };
    assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(raw.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.ok(raw.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip'));
    const inspected = await skopeoInspect(ref);
    assert.equal(inspected.Digest, result.digest);
    assert.deepEqual([inspected.Os, inspected.Architecture], ['linux', 'amd64']);
    await skopeoCopy(`docker://${ref}`, `oci:${path.join(tmp, 'docker-pulled')}:x`);
    const { rootfs } = await unpackImage(path.join(tmp, 'docker-pulled'), 'x', path.join(tmp, 'docker-pulled-bundle'));
    assert.equal(await fs.readFile(path.join(rootfs, 'hello.txt'), 'utf8'), 'hello\n');
  });

  it('a docker-archive has the manifest.json docker load reads, and skopeo copies it to a layout umoci unpacks', async () => {
    const archive = path.join(tmp, 'image.tar');
    const result = await buildImage({ from: `oci:${multi.layoutPath}:latest`, platforms: ['linux/amd64'], layers: [hello], to: `docker-archive:${archive}:example/app:1.0`, cache: false });
    const { stdout: listing } = await run('tar', ['-tf', archive]);
    const members = listing.split('\n').filter((l) => l !== '');
    const { stdout: manifestJson } = await run('tar', ['-xOf', archive, 'manifest.json']);
    const manifest = JSON.parse(manifestJson) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.equal(manifest.length, 1);
    const entry = manifest[0] as { Config: string; RepoTags: string[]; Layers: string[] };
    assert.deepEqual(Object.keys(entry).sort(), ['Config', 'Layers', 'RepoTags']);
    assert.deepEqual(entry.RepoTags, ['example/app:1.0']);
    assert.equal(entry.Layers.length, 2);
    for (const file of [entry.Config, ...entry.Layers]) assert.ok(members.includes(file), `${file} is in the archive`);
    // docker load identifies the image by its config digest, which is the config file's name.
    const { stdout: config } = await run('tar', ['-xOf', archive, entry.Config], { encoding: 'buffer', maxBuffer: 1 << 20 });
    const { createHash } = await import('node:crypto');
    assert.equal(`${createHash('sha256').update(config).digest('hex')}.json`, entry.Config);

    const inspected = JSON.parse(await skopeo(['inspect', `docker-archive:${archive}`])) as { Layers: string[]; Architecture: string };
    assert.equal(inspected.Layers.length, 2);
    await skopeoCopy(`docker-archive:${archive}`, `oci:${path.join(tmp, 'from-archive')}:x`);
    const { rootfs } = await unpackImage(path.join(tmp, 'from-archive'), 'x', path.join(tmp, 'from-archive-bundle'));
    assert.equal(await fs.readFile(path.join(rootfs, 'hello.txt'), 'utf8'), 'hello\n');
    assert.ok(result.digest.startsWith('sha256:'));
  });

  it('an OCI layout with two tags of one image: umoci ls shows both and unpacks either', async () => {
    const layout = path.join(tmp, 'two-tags');
    await buildImage({ from: `oci:${multi.layoutPath}:latest`, platforms: ['linux/arm64'], layers: [hello], to: [`oci:${layout}:one`, `oci:${layout}:two`], cache: false });
    assert.deepEqual(await umociLs(layout), ['one', 'two']);
    for (const tag of ['one', 'two']) {
      const { rootfs } = await unpackImage(layout, tag, path.join(tmp, `two-tags-${tag}`));
      assert.equal(await fs.readFile(path.join(rootfs, 'hello.txt'), 'utf8'), 'hello\n');
    }
    const raw = JSON.parse(await skopeo(['inspect', '--raw', `oci:${layout}:two`])) as { mediaType: string };
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });
});
