// `npm run image` (scripts/build-image.ts): ocibuild built into an image by itself, onto a
// busybox + Node base made here (busybox for /usr/bin/env, this machine's node and its
// libraries), reproducibly; then the image's own `ocibuild` runs chrooted (the runner the
// Node preset tests use: `unshare --root`): `--version`, and a COPY-only Dockerfile build to
// an oci: layout, whose digest must equal the same build run on the host.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage } from '../src/index.ts';
import { buildBusyboxLayout } from './helpers/busybox.ts';
import { repoRoot, runCli } from './helpers/cli.ts';
import { readImage as readImageLoose, unpackImage } from './helpers/tree.ts';
import { nodeRuntimeEntries } from './presets/node-base.ts';
import { chooseBase, COMMAND_LINK, PACKAGE_DIR, WORKSPACE } from '../scripts/build-image.ts';

const run = promisify(execFile);
const PLATFORM = `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`;
let tmp: string;
let baseRef: string;


interface ConfigJson {
  created?: string;
  config?: { Entrypoint?: string[]; Env?: string[]; Labels?: Record<string, string> };
}

/** Manifest and config of `layout:tag`, typed for the fields read here. */
async function readImage(layout: string, tag: string): Promise<{ manifest: { layers: unknown[] }; config: ConfigJson }> {
  const { manifest, config } = await readImageLoose(layout, tag);
  return { manifest, config: config as unknown as ConfigJson };
}

/** Env of an image config as an object (the chroot gets exactly the image's environment). */
function imageEnv(config: { Env?: string[] }): Record<string, string> {
  return Object.fromEntries((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-image-self-'));
  const busybox = await buildBusyboxLayout(path.join(tmp, 'busybox'));
  baseRef = `oci:${path.join(tmp, 'base')}:node`;
  await buildImage({
    from: `oci:${busybox.layoutPath}:${busybox.tag}`,
    layers: [{ entries: await nodeRuntimeEntries(), createdBy: 'node and its libraries' }],
    platforms: [PLATFORM],
    to: baseRef,
    cache: false,
  });
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('npm run image', () => {
  const script = path.join(repoRoot, 'scripts', 'build-image.ts');
  const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000', OCIBUILD_IMAGE_BASE: '', OCIBUILD_IMAGE_BASE_REGISTRY: '' };
  let layout: string;
  let digest: string;

  it('needs a base, and takes a default from a registry the user names', () => {
    assert.throws(() => chooseBase({}, {}), /--base REF/);
    assert.equal(chooseBase({ base: 'oci:x' }, { OCIBUILD_IMAGE_BASE: 'y' }), 'oci:x');
    assert.equal(chooseBase({}, { OCIBUILD_IMAGE_BASE: 'y' }), 'y');
    assert.match(chooseBase({ baseRegistry: 'mirror.example/' }, {}), /^mirror\.example\/library\/node:\d+-slim$/);
  });

  it('builds ocibuild onto the base, with the same digest every time', async () => {
    layout = path.join(tmp, 'image');
    const first = await run(process.execPath, ['--import', 'tsx', script, '--base', baseRef, '--to', `oci:${layout}:latest`], { cwd: repoRoot, env, maxBuffer: 16 << 20 });
    digest = first.stdout.trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    // A second run compiles again, into another temporary dist, and must give the same image.
    const second = await run(process.execPath, ['--import', 'tsx', script, '--base', baseRef, '--to', `oci:${path.join(tmp, 'image2')}:latest`], { cwd: repoRoot, env: { ...env, OCIBUILD_IMAGE_BASE: baseRef }, maxBuffer: 16 << 20 });
    assert.equal(second.stdout.trim(), digest);
    const { manifest, config } = await readImage(layout, 'latest');
    const base = await readImage(path.join(tmp, 'base'), 'node');
    assert.equal(manifest.layers.length, base.manifest.layers.length + 2, 'two layers over the base: dependencies, then the package');
    assert.deepEqual(config.config?.Entrypoint, ['ocibuild']);
    assert.equal(config.created, new Date(1_700_000_000 * 1000).toISOString().replace('.000Z', 'Z'));
    const pkg = JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(config.config?.Labels?.['org.opencontainers.image.version'], pkg.version);
  });

  it('runs ocibuild --version and a COPY build inside the image (chroot)', async () => {
    const { config } = await readImage(layout, 'latest');
    const { rootfs } = await unpackImage(layout, 'latest', path.join(tmp, 'bundle'));
    assert.equal(await fs.readlink(path.join(rootfs, COMMAND_LINK)), '../lib/node_modules/ocibuild/dist/cli/main.js');
    await fs.access(path.join(rootfs, PACKAGE_DIR, 'node_modules', '@bokuweb', 'zstd-wasm', 'package.json'));
    await assert.rejects(fs.access(path.join(rootfs, PACKAGE_DIR, 'node_modules', 'typescript')), 'dev dependencies stay out');
    assert.equal((await fs.stat(path.join(rootfs, WORKSPACE))).mode & 0o7777, 0o1777, 'the working directory is writable by any uid');
    const chrootEnv = imageEnv(config.config ?? {});
    const inImage = (args: string[], wd = '/workspace') =>
      run('unshare', ['--root', rootfs, '--wd', wd, '--', ...(config.config?.Entrypoint ?? []), ...args], { env: chrootEnv, timeout: 120_000, maxBuffer: 16 << 20 });
    const pkg = JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal((await inImage(['--version'])).stdout.trim(), pkg.version);

    // A small Dockerfile build inside the image, and the same one on the host: same digest.
    const ctx = path.join(rootfs, 'workspace', 'ctx');
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nCOPY sub /sub\n');
    await fs.writeFile(path.join(ctx, 'hello.txt'), 'hello from inside\n');
    await fs.mkdir(path.join(ctx, 'sub'));
    await fs.writeFile(path.join(ctx, 'sub', 'a.txt'), 'a\n');
    const built = await inImage(['build', 'ctx', '--to', 'oci:/workspace/out:latest', '--progress', 'plain']);
    const inside = built.stdout.trim();
    assert.match(inside, /^sha256:[0-9a-f]{64}$/);
    const written = await readImage(path.join(rootfs, 'workspace', 'out'), 'latest');
    assert.equal(written.manifest.layers.length, 2);
    const hostEnv = { ...process.env };
    delete hostEnv.SOURCE_DATE_EPOCH;
    delete hostEnv.OCIBUILD_CACHE_DIR;
    const onHost = await runCli(['build', ctx, '--to', `oci:${path.join(tmp, 'host-out')}:latest`, '--progress', 'quiet'], hostEnv);
    assert.equal(onHost.code, 0, onHost.stderr);
    assert.equal(onHost.stdout.trim(), inside);

    // zstd inside the image, which has no zstd program: a later stage reads the zstd layer of an
    // earlier one with the built-in decoder. Same digest as on the host (which has the program).
    await fs.writeFile(path.join(ctx, 'Dockerfile.zstd'), 'FROM scratch AS files\nCOPY sub /sub\nFROM scratch\nCOPY --from=files /sub/a.txt /copied.txt\n');
    // --file is relative to the context.
    const zstdArgs = ['--file', 'Dockerfile.zstd', '--compression', 'zstd', '--progress', 'plain'];
    const zstdInside = (await inImage(['build', 'ctx', ...zstdArgs, '--to', 'oci:/workspace/zstd-out:latest'])).stdout.trim();
    const zstdWritten = await readImageLoose(path.join(rootfs, 'workspace', 'zstd-out'), 'latest');
    assert.deepEqual(zstdWritten.manifest.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd']);
    const zstdOnHost = await runCli(['build', ctx,  ...zstdArgs, '--to', `oci:${path.join(tmp, 'host-zstd')}:latest`], hostEnv);
    assert.equal(zstdOnHost.code, 0, zstdOnHost.stderr);
    assert.equal(zstdOnHost.stdout.trim(), zstdInside);
  });
});
