// zstd layers end to end: buildImage and the CLI write OCI tar+zstd layers that the reference
// tools read (zstd -d, skopeo from an oci: layout and from a registry, umoci), reproducibly;
// the layer and step caches keep gzip and zstd results apart; Docker-format outputs refuse zstd.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, type BuildResult } from '../../src/index.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { runCli } from '../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

const run = promisify(execFile);
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

let tmp: string;
let app: string;
let registry: TestRegistry;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-zstd-layers-'));
  app = path.join(tmp, 'app');
  await fs.mkdir(path.join(app, 'lib'), { recursive: true });
  await fs.writeFile(path.join(app, 'index.js'), 'console.log("hello")\n');
  // Over one 4 MiB frame, so the layer has several frames.
  const text = Array.from({ length: 120_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 70)}\n`).join('');
  await fs.writeFile(path.join(app, 'lib', 'big.txt'), text);
  registry = await startRegistry();
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

function blobPath(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function sha256File(file: string): Promise<string> {
  return `sha256:${createHash('sha256').update(await fs.readFile(file)).digest('hex')}`;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

describe('zstd layers', () => {
  let first: BuildResult;
  let layout: string;

  it('writes tar+zstd layers whose bytes do not depend on the run', async () => {
    layout = path.join(tmp, 'a');
    const build = (to: string[]) =>
      buildImage({ layers: [{ directories: [{ source: app, destination: '/app' }] }], compression: 'zstd', to, cache: false, sourceDateEpoch: 1_700_000_000 });
    first = await build([`oci:${layout}:latest`, `${registry.host}/zstd/app:1`]);
    const second = await build([`oci:${path.join(tmp, 'b')}:latest`]);
    assert.equal(second.digest, first.digest);
    assert.deepEqual(first.manifest.layers.map((l) => l.mediaType), [ZSTD]);
    // Another level gives another layer.
    const level9 = await buildImage({ layers: [{ directories: [{ source: app, destination: '/app' }] }], compression: 'zstd', compressionLevel: 9, to: [], cache: false, sourceDateEpoch: 1_700_000_000 });
    assert.notEqual(level9.manifest.layers[0]!.digest, first.manifest.layers[0]!.digest);
    assert.equal(level9.config.rootfs.diff_ids[0], first.config.rootfs.diff_ids[0]);
  });

  it('zstd -d gives back the tar whose digest is the diffID', async () => {
    const layer = first.manifest.layers[0]!;
    const file = blobPath(layout, layer.digest);
    assert.equal(await sha256File(file), layer.digest);
    assert.equal((await fs.stat(file)).size, layer.size);
    const frames = spawnSync('zstd', ['-l', '-v', file], { encoding: 'utf8' });
    assert.match(frames.stdout, /# Zstandard Frames:\s*2\b/);
    const tarFile = path.join(tmp, 'layer.tar');
    const decoded = spawnSync('zstd', ['-d', '-q', '-f', file, '-o', tarFile]);
    assert.equal(decoded.status, 0, decoded.stderr.toString());
    assert.equal(await sha256File(tarFile), first.config.rootfs.diff_ids[0]);
    const listing = spawnSync('tar', ['-tvf', tarFile], { encoding: 'utf8' });
    assert.equal(listing.status, 0);
    assert.match(listing.stdout, /app\/lib\/big\.txt/);
  });

  it('skopeo copies it from the layout and from the registry, keeping the zstd layer', async () => {
    await run('skopeo', ['copy', `oci:${layout}:latest`, `oci:${path.join(tmp, 'copy')}:latest`]);
    const copied = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${path.join(tmp, 'copy')}:latest`])).stdout) as { layers: { mediaType: string; digest: string }[] };
    assert.deepEqual(copied.layers.map((l) => [l.mediaType, l.digest]), [[ZSTD, first.manifest.layers[0]!.digest]]);
    const dir = path.join(tmp, 'dir');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/zstd/app:1`, `dir:${dir}`]);
    assert.equal(await sha256File(path.join(dir, first.manifest.layers[0]!.digest.slice(7))), first.manifest.layers[0]!.digest);
    const inspected = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/zstd/app:1`])).stdout) as { Digest: string };
    assert.equal(inspected.Digest, first.digest);
  });

  it('skopeo decodes it (recompressing to gzip) to the same diffID, which umoci unpacks', async () => {
    // umoci 0.4 reads gzip layers only: skopeo decompresses ours, recompresses with gzip.
    const regz = path.join(tmp, 'regz');
    await run('skopeo', ['copy', '--dest-compress', '--dest-compress-format', 'gzip', `oci:${layout}:latest`, `oci:${regz}:latest`]);
    const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${regz}:latest`])).stdout) as { layers: { mediaType: string }[]; config: { digest: string } };
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), [GZIP]);
    const config = JSON.parse(await fs.readFile(blobPath(regz, manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, first.config.rootfs.diff_ids);
    const bundle = path.join(tmp, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${regz}:latest`, bundle]);
    assert.equal(await fs.readFile(path.join(bundle, 'rootfs', 'app', 'lib', 'big.txt'), 'utf8'), await fs.readFile(path.join(app, 'lib', 'big.txt'), 'utf8'));
  });

  it('refuses the Docker format and docker-archive targets before writing anything', async () => {
    const out = path.join(tmp, 'refused');
    await assert.rejects(
      buildImage({ layers: [{ directories: [{ source: app }] }], compression: 'zstd', format: 'docker', to: `oci:${out}`, cache: false }),
      (error: unknown) => error instanceof InvalidArgumentError && /--compression zstd/.test(error.message) && /--format docker/.test(error.message),
    );
    const archive = path.join(tmp, 'refused.tar');
    await assert.rejects(
      buildImage({ layers: [{ directories: [{ source: app }] }], compression: 'zstd', to: [`oci:${out}`, `docker-archive:${archive}`], cache: false }),
      (error: unknown) => error instanceof InvalidArgumentError && error.message.includes(`docker-archive:${archive}`),
    );
    assert.equal(await exists(out), false);
    assert.equal(await exists(archive), false);
  });
});

describe('zstd and the caches', () => {
  it('keeps gzip and zstd layers apart in the layer cache, and each level apart', async () => {
    const cache = { dir: path.join(tmp, 'cache-files') };
    const build = (compression: 'gzip' | 'zstd', compressionLevel?: number) =>
      buildImage({ layers: [{ directories: [{ source: app }] }], compression, ...(compressionLevel !== undefined ? { compressionLevel } : {}), to: [], cache, sourceDateEpoch: 1 });
    const gzip = await build('gzip');
    assert.equal(gzip.manifest.layers[0]!.mediaType, GZIP);
    const zstd = await build('zstd');
    assert.equal(zstd.manifest.layers[0]!.mediaType, ZSTD);
    assert.equal(zstd.stats.layersCached, 0);
    const again = await build('zstd');
    assert.equal(again.stats.layersCached, 1);
    assert.equal(again.digest, zstd.digest);
    const level5 = await build('zstd', 5);
    assert.equal(level5.stats.layersCached, 0);
    assert.notEqual(level5.manifest.layers[0]!.digest, zstd.manifest.layers[0]!.digest);
  });

  it('keeps them apart in the Dockerfile step cache', async () => {
    const context = path.join(tmp, 'ctx');
    await fs.mkdir(context, { recursive: true });
    await fs.cp(app, path.join(context, 'app'), { recursive: true });
    await fs.writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY app /app\nCOPY app/index.js /again.js\n');
    const cache = { dir: path.join(tmp, 'cache-steps') };
    const build = (compression: 'gzip' | 'zstd') => buildImage({ dockerfile: path.join(context, 'Dockerfile'), context, compression, to: [], cache, sourceDateEpoch: 1 });
    const zstd = await build('zstd');
    assert.deepEqual(zstd.manifest.layers.map((l) => l.mediaType), [ZSTD, ZSTD]);
    const gzip = await build('gzip');
    assert.deepEqual(gzip.manifest.layers.map((l) => l.mediaType), [GZIP, GZIP]);
    assert.equal(gzip.stats.stepsCached, 0);
    const zstdAgain = await build('zstd');
    assert.equal(zstdAgain.stats.stepsCached, 2);
    assert.equal(zstdAgain.digest, zstd.digest);
  });
});

describe('zstd on the command line', () => {
  it('append --compression zstd writes zstd layers; bad values name the flag', async () => {
    const out = path.join(tmp, 'cli');
    const ok = await runCli(['append', '--layer', `${app}:/app`, '--compression', 'zstd', '--compression-level', '4', '--to', `oci:${out}:latest`, '--progress', 'quiet']);
    assert.equal(ok.code, 0, ok.stderr);
    const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${out}:latest`])).stdout) as { layers: { mediaType: string }[] };
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), [ZSTD]);
    const badLevel = await runCli(['append', '--layer', app, '--compression', 'zstd', '--compression-level', '0', '--to', `oci:${out}2`]);
    assert.equal(badLevel.code, 2);
    assert.match(badLevel.stderr, /--compression-level must be a whole number 1-19 for zstd/);
    const badName = await runCli(['build', app, '--compression', 'brotli', '--to', `oci:${out}3`]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /--compression must be gzip or zstd/);
    const docker = await runCli(['append', '--layer', app, '--compression', 'zstd', '--format', 'docker', '--to', `oci:${out}4`]);
    assert.equal(docker.code, 1);
    assert.match(docker.stderr, /ERR_INVALID_ARGUMENT.*--compression zstd.*--format docker/);
    assert.equal(await exists(`${out}4`), false);
  });

  it('node --compression zstd (or "compression" in package.json) writes the app layers with zstd over a gzip base', async () => {
    const busybox = await buildBusyboxLayout(path.join(tmp, 'busybox'));
    const project = path.join(tmp, 'node-app');
    await fs.mkdir(path.join(project, 'node_modules', 'dep'), { recursive: true });
    await fs.writeFile(path.join(project, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    await fs.writeFile(path.join(project, 'index.js'), 'console.log(require("dep"));\n');
    await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'zstd-app', version: '1.0.0' }));
    const from = `oci:${busybox.layoutPath}:${busybox.tag}`;
    const layerTypes = async (layout: string) =>
      (JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${layout}:latest`])).stdout) as { layers: { mediaType: string }[] }).layers.map((l) => l.mediaType);
    const flag = await runCli(['node', project, '--from', from, '--compression', 'zstd', '--to', `oci:${path.join(tmp, 'node-flag')}:latest`, '--progress', 'quiet']);
    assert.equal(flag.code, 0, flag.stderr);
    assert.deepEqual(await layerTypes(path.join(tmp, 'node-flag')), [GZIP, ZSTD, ZSTD]);
    await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'zstd-app', version: '1.0.0', ocibuild: { compression: 'zstd' } }));
    const config = await runCli(['node', project, '--from', from, '--to', `oci:${path.join(tmp, 'node-config')}:latest`, '--progress', 'quiet']);
    assert.equal(config.code, 0, config.stderr);
    // (package.json is in the image, so the digests differ; the layer types must not.)
    assert.deepEqual(await layerTypes(path.join(tmp, 'node-config')), [GZIP, ZSTD, ZSTD]);
  });
});
