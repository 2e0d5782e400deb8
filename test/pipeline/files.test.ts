// buildImage from scratch with file layers, written to OCI layouts and docker-archives, checked
// by tools no one here wrote: the OCI JSON schemas, skopeo and umoci.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, OcibuildError, type BuildOptions } from '../../src/index.ts';
import { validateOci } from '../helpers/schema.ts';
import { diffTrees, readTree, unpackImage } from '../helpers/tree.ts';

const run = promisify(execFile);

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-build-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A tree with the cases the issue names: modes, symlinks, hardlinks, nested dirs, long and UTF-8 names. */
async function makeTree(root: string, mtime: Date): Promise<void> {
  await fs.mkdir(path.join(root, 'bin'), { recursive: true });
  await fs.mkdir(path.join(root, 'share/deep/er'), { recursive: true });
  await fs.writeFile(path.join(root, 'bin/tool'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.writeFile(path.join(root, 'share/readme.txt'), 'hello\n', { mode: 0o640 });
  await fs.writeFile(path.join(root, 'share/deep/er/data.bin'), Buffer.alloc(70_000, 7));
  await fs.writeFile(path.join(root, 'share/ünïcode-名前.txt'), 'utf8\n');
  await fs.writeFile(path.join(root, `share/${'x'.repeat(150)}`), 'long\n');
  await fs.symlink('../share/readme.txt', path.join(root, 'bin/readme'));
  await fs.symlink('/etc/hostname', path.join(root, 'bin/abs-link'));
  await fs.link(path.join(root, 'share/readme.txt'), path.join(root, 'share/readme-hard.txt'));
  await fs.chmod(path.join(root, 'share/readme.txt'), 0o640);
  for (const p of ['bin/tool', 'share/readme.txt', 'share/deep/er/data.bin', 'share', 'bin']) {
    await fs.utimes(path.join(root, p), mtime, mtime);
  }
}

function options(src: string, to: string[], extra: Partial<BuildOptions> = {}): BuildOptions {
  return {
    from: 'scratch',
    platforms: ['linux/amd64'],
    layers: [
      { directories: [{ source: src, destination: '/opt/app' }], createdBy: 'copy app' },
      { entries: [{ type: 'file', path: '/etc/owned', source: new TextEncoder().encode('x\n'), uid: 1000, gid: 1000, mode: 0o600 }] },
    ],
    config: {
      entrypoint: ['/opt/app/bin/tool'],
      cmd: ['--help'],
      env: { A: '1', PATH: '/usr/bin:/bin' },
      workingDir: '/opt/app',
      user: '1000:1000',
      exposedPorts: ['8080', '53/udp'],
      labels: { 'org.example': 'yes' },
      volumes: ['/data'],
      stopSignal: 'SIGINT',
    },
    to,
    ...extra,
  };
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

async function blob(layout: string, digest: string): Promise<unknown> {
  return readJson(path.join(layout, 'blobs', 'sha256', digest.slice(7)));
}

test('OCI layout and docker-archive outputs validate and read back with skopeo and umoci', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src');
  await makeTree(src, new Date('2020-01-01T00:00:00Z'));
  const layout = path.join(dir, 'out');
  const archive = path.join(dir, 'image.tar');
  const result = await buildImage(options(src, [`oci:${layout}:v1`, `docker-archive:${archive}:example/app:v1`]));
  assert.match(result.digest, /^sha256:[a-f0-9]{64}$/);
  assert.equal(result.targets.length, 2);

  // Schemas: oci-layout, index.json, manifest, config.
  validateOci('layout', await readJson(path.join(layout, 'oci-layout')));
  const index = (await readJson(path.join(layout, 'index.json'))) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  validateOci('index', index);
  assert.equal(index.manifests[0]?.annotations['org.opencontainers.image.ref.name'], 'v1');
  const manifest = (await blob(layout, result.digest)) as { config: { digest: string }; layers: unknown[] };
  validateOci('manifest', manifest);
  const config = (await blob(layout, manifest.config.digest)) as { config: Record<string, unknown>; created: string };
  validateOci('config', config);
  assert.equal(config.created, '1970-01-01T00:00:00Z');
  assert.deepEqual(config.config.Entrypoint, ['/opt/app/bin/tool']);
  assert.deepEqual(config.config.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });

  // skopeo reads both outputs and copies them into fresh layouts.
  const inspectOci = JSON.parse((await run('skopeo', ['inspect', `oci:${layout}:v1`])).stdout) as { Digest: string; Layers: string[]; Env: string[] };
  assert.equal(inspectOci.Digest, result.digest);
  assert.equal(inspectOci.Layers.length, 2);
  const inspectArchive = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${archive}`])).stdout) as { Layers: string[]; RepoTags?: string[] };
  assert.equal(inspectArchive.Layers.length, 2);
  for (const from of [`oci:${layout}:v1`, `docker-archive:${archive}`]) {
    const copy = path.join(dir, `copy-${from.split(':')[0]}`);
    await run('skopeo', ['copy', from, `oci:${copy}:c`]);
    validateOci('index', await readJson(path.join(copy, 'index.json')));
  }

  // umoci unpack reproduces the input tree (paths, modes, symlinks, hardlinks, contents, owners).
  const unpacked = await unpackImage(layout, 'v1', path.join(dir, 'bundle'));
  const image = await readTree(path.join(unpacked.rootfs, 'opt/app'));
  const input = await readTree(src);
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  // Layer defaults are root-owned; the input tree belongs to whoever ran the test.
  const inputAsRoot = input.map((e) => ({ ...e, uid: e.uid === uid ? 0 : e.uid, gid: e.gid === gid ? 0 : e.gid }));
  assert.deepEqual(diffTrees(inputAsRoot, image, { ignoreMtime: true }), []);
  const owned = await fs.stat(path.join(unpacked.rootfs, 'etc/owned'));
  if (uid === 0) assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o7777], [1000, 1000, 0o600]);
});

test('reproducible: other checkout path, other mtimes, later wall clock give the same digest; SOURCE_DATE_EPOCH changes it predictably', async (t) => {
  const dir = await tempDir(t);
  const a = path.join(dir, 'checkout-a/src');
  const b = path.join(dir, 'elsewhere/b/src');
  await makeTree(a, new Date('2001-02-03T04:05:06Z'));
  await new Promise((r) => setTimeout(r, 1100));
  await makeTree(b, new Date('2024-06-07T08:09:10Z'));
  const first = await buildImage(options(a, [`oci:${path.join(dir, 'o1')}:t`]));
  const second = await buildImage(options(b, [`oci:${path.join(dir, 'o2')}:t`]));
  assert.equal(first.digest, second.digest);

  const epoch = 1_700_000_000;
  const dated = await buildImage(options(a, [`oci:${path.join(dir, 'o3')}:t`], { sourceDateEpoch: epoch }));
  const again = await buildImage(options(b, [`oci:${path.join(dir, 'o4')}:t`], { sourceDateEpoch: epoch }));
  assert.notEqual(dated.digest, first.digest);
  assert.equal(dated.digest, again.digest);
  assert.equal(dated.config.created, new Date(epoch * 1000).toISOString().replace('.000Z', 'Z'));
  assert.ok(dated.config.history?.every((h) => h.created === dated.config.created));
  // Layer entries carry the epoch as mtime.
  const listing = (await run('tar', ['-tvzf', path.join(dir, 'o3', 'blobs', 'sha256', (dated.manifest.layers[0]?.digest ?? '').slice(7))])).stdout;
  assert.match(listing, /2023-11-14 22:13/);
});

test('docker format writes Docker v2.2 media types that skopeo accepts, and OCI form into OCI layouts', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src');
  await makeTree(src, new Date(0));
  const archive = path.join(dir, 'd.tar');
  const result = await buildImage(options(src, [`docker-archive:${archive}:x/y:z`], { format: 'docker' }));
  assert.equal(result.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(result.manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  assert.ok(result.manifest.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip'));
  const inspect = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${archive}`])).stdout) as { Architecture: string };
  assert.equal(inspect.Architecture, 'amd64');

  // An OCI layout target of a Docker-format build gets the OCI form (as containers/image writes it), so peers read it.
  const layout = path.join(dir, 'layout');
  const both = await buildImage(options(src, [`docker-archive:${path.join(dir, 'e.tar')}:x/y:z`, `oci:${layout}:t`], { format: 'docker' }));
  assert.equal(both.digest, result.digest);
  const ociTarget = both.targets.find((t) => t.ref.startsWith('oci:'));
  assert.notEqual(ociTarget?.digest, result.digest);
  const manifest = (await blob(layout, ociTarget?.digest ?? '')) as { mediaType: string; layers: { digest: string }[] };
  validateOci('manifest', manifest);
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.deepEqual(manifest.layers.map((l) => l.digest), result.manifest.layers.map((l) => l.digest));
  const fromLayout = JSON.parse((await run('skopeo', ['inspect', `oci:${layout}:t`])).stdout) as { Digest: string };
  assert.equal(fromLayout.Digest, ociTarget?.digest);
});

test('bad input gets a typed error and leaves no output', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  const tar = path.join(dir, 'out.tar');
  const cases: [Partial<BuildOptions>, string][] = [
    [{ layers: [{ directories: [{ source: path.join(dir, 'missing') }] }] }, 'ERR_SOURCE_NOT_FOUND'],
    [{ layers: [{ entries: [{ type: 'file', path: '../escape', source: new Uint8Array(1) }] }] }, 'ERR_PATH_ESCAPE'],
    [{ platforms: ['linux'] }, 'ERR_INVALID_PLATFORM'],
    [{ to: ['Invalid//Ref'] }, 'ERR_INVALID_REFERENCE'],
  ];
  for (const [extra, code] of cases) {
    await assert.rejects(
      buildImage({ from: 'scratch', layers: [], to: [`oci:${out}:t`, `docker-archive:${tar}`], ...extra }),
      (error: unknown) => {
        assert.ok(error instanceof OcibuildError, `expected OcibuildError, got ${String(error)}`);
        assert.equal(error.code, code, error.message);
        return true;
      },
    );
    assert.deepEqual(await fs.readdir(dir), [], `no output after ${code}`);
  }
});

test('adding a second tag to an existing layout keeps the first', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src');
  await makeTree(src, new Date(0));
  const layout = path.join(dir, 'out');
  const one = await buildImage(options(src, [`oci:${layout}:one`]));
  const two = await buildImage(options(src, [`oci:${layout}:two`], { config: { cmd: ['other'] } }));
  assert.notEqual(one.digest, two.digest);
  for (const [tag, digest] of [['one', one.digest], ['two', two.digest]] as const) {
    const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${layout}:${tag}`])).stdout) as { Digest: string };
    assert.equal(inspect.Digest, digest);
  }
});
