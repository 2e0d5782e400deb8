// local:DIR and tar:FILE outputs compared with an independent extraction of the same image:
// `umoci unpack` of the oci: layout written by the same build, and GNU tar extracting the tar:
// output. Whiteouts, opaque folders, hardlinks, symlinks, modes, owners and mtimes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { buildImage, type BuildEvent } from '../../src/index.ts';
import { OcibuildError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { ociLayout } from '../../src/transports/oci-layout.ts';
import { OWNERSHIP_FILE, rootfsTransport, type OwnershipManifest } from '../../src/pipeline/rootfs-target.ts';
import type { LayerSpec } from '../../src/layer/types.ts';
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import { memorySource, type MemorySource } from '../../src/image/memory.ts';
import { encodeManifest } from '../../src/oci/manifest.ts';
import { runCli } from '../helpers/cli.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { diffTrees, readTree, unpackImage } from '../helpers/tree.ts';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const mtime = new Date('2024-01-02T03:04:05Z');

function isCode(code: string, text?: RegExp) {
  return (error: unknown): boolean => error instanceof OcibuildError && error.code === code && (text === undefined || text.test(error.message));
}

/** Two layers over busybox: the second removes a base file, a first-layer file and empties a folder (opaque). */
const layers: LayerSpec[] = [
  {
    mtime,
    entries: [
      { type: 'directory', path: '/app', mode: 0o750, uid: 1000, gid: 1000 },
      { type: 'file', path: '/app/run.sh', source: bytes('#!/bin/sh\necho hi\n'), mode: 0o755, uid: 1000, gid: 1000 },
      { type: 'file', path: '/app/secret', source: bytes('s\n'), mode: 0o600 },
      { type: 'file', path: '/app/gone.txt', source: bytes('soon gone\n') },
      { type: 'hardlink', path: '/app/z-link.sh', target: '/app/run.sh' },
      { type: 'symlink', path: '/app/current', target: 'run.sh' },
      { type: 'file', path: '/app/suid', source: bytes('x'), mode: 0o4755, uid: 0, gid: 50 },
      { type: 'directory', path: '/data' },
      { type: 'file', path: '/data/old-1', source: bytes('1') },
      { type: 'file', path: '/data/old-2', source: bytes('2') },
    ],
    createdBy: 'first',
  },
  {
    mtime,
    entries: [
      { type: 'whiteout', path: '/etc/group' },
      { type: 'whiteout', path: '/app/gone.txt' },
      { type: 'opaque', path: '/data' },
      { type: 'file', path: '/data/new', source: bytes('new\n'), mode: 0o640, uid: 33, gid: 33 },
    ],
    createdBy: 'second',
  },
];

describe('local: and tar: outputs', { concurrency: false }, () => {
  let tmp: string;
  let base: string;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-rootfs-'));
    base = `oci:${(await buildBusyboxLayout(path.join(tmp, 'busybox'))).layoutPath}:latest`;
  });

  after(async () => {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('writes the flattened rootfs as files and as one tar, equal to umoci unpack and tar -x of the same image', async () => {
    const layout = path.join(tmp, 'layout');
    const dir = path.join(tmp, 'out', 'rootfs');
    const file = path.join(tmp, 'out', 'rootfs.tar');
    await buildImage({ from: base, layers, to: [`oci:${layout}:t`, `local:${dir}`, `tar:${file}`], cache: false });
    const reference = await readTree((await unpackImage(layout, 't', path.join(tmp, 'bundle'))).rootfs);
    const local = await readTree(dir);
    // umoci gives the root folder's metadata from no entry; mtimes of files and links are the headers'.
    assert.deepEqual(diffTrees(reference, local, { ignoreMtime: false }, ['umoci', 'local:']).filter((d) => !/: mtime .*/.test(d) || !isDir(reference, d)), []);
    // Whiteouts respected.
    const paths = new Set(local.map((e) => e.path));
    for (const gone of ['/etc/group', '/app/gone.txt', '/data/old-1', '/data/old-2']) assert.ok(!paths.has(gone), `${gone} is whited out`);
    for (const kept of ['/etc/passwd', '/data/new', '/app/z-link.sh', '/bin/busybox']) assert.ok(paths.has(kept), `${kept} is there`);
    assert.equal(local.find((e) => e.path === '/app/current')?.linkTarget, 'run.sh');
    assert.equal(local.find((e) => e.path === '/app/z-link.sh')?.nlinkGroup, '/app/run.sh');
    assert.equal(local.find((e) => e.path === '/app/suid')?.mode, 0o4755);
    if (asRoot) assert.equal(local.find((e) => e.path === '/data/new')?.uid, 33);

    // The tar, extracted by GNU tar (owners kept as root), is the same tree.
    const extracted = path.join(tmp, 'extracted');
    await fs.mkdir(extracted);
    await run('tar', ['-xpf', file, '-C', extracted, '--numeric-owner']);
    assert.deepEqual(diffTrees(local, await readTree(extracted), { ignoreMtime: false }, ['local:', 'tar:']).filter((d) => !isDir(local, d)), []);
    // Deterministic: names in byte order, parents first, no ./ prefix.
    const { stdout } = await run('tar', ['-tf', file], { maxBuffer: 16 << 20 });
    const names = stdout.trim().split('\n').map((n) => n.replace(/\/$/, ''));
    assert.deepEqual(names.slice(0, 3), ['app', 'app/current', 'app/run.sh']);
    assert.equal(names.indexOf('app/z-link.sh') > names.indexOf('app/run.sh'), true);
    const again = path.join(tmp, 'out', 'again.tar');
    await buildImage({ from: base, layers, to: `tar:${again}`, cache: false });
    assert.deepEqual(await fs.readFile(again), await fs.readFile(file), 'the same image gives the same tar');
    // No staging debris next to the outputs.
    assert.deepEqual((await fs.readdir(path.join(tmp, 'out'))).sort(), ['again.tar', 'rootfs', 'rootfs.tar']);
  });

  it('records owners in .ocibuild-ownership.json when it may not set them', async () => {
    const layout = path.join(tmp, 'layout-own');
    await buildImage({ from: base, layers, to: `oci:${layout}:t`, cache: false });
    const dir = path.join(tmp, 'recorded');
    await copyImage(ociLayout(layout), 't', rootfsTransport('local', dir, { ownership: 'record' }), [undefined]);
    const manifest = JSON.parse(await fs.readFile(path.join(dir, OWNERSHIP_FILE), 'utf8')) as OwnershipManifest;
    assert.equal(manifest.version, 1, JSON.stringify(manifest));
    // (The second layer re-declares /app as a root-owned parent of its whiteout, as the layer writer does.)
    assert.equal(manifest.owners['app'], undefined, JSON.stringify(manifest));
    assert.deepEqual(manifest.owners['home/app'], { uid: 1000, gid: 1000 });
    assert.deepEqual(manifest.owners['app/run.sh'], { uid: 1000, gid: 1000 });
    assert.deepEqual(manifest.owners['data/new'], { uid: 33, gid: 33 });
    assert.deepEqual(manifest.owners['app/suid'], { uid: 0, gid: 50, mode: 0o4755 });
    assert.equal(manifest.owners['etc/passwd'], undefined, 'root-owned entries are not listed');
    const me = process.getuid?.() ?? 0;
    assert.equal((await fs.lstat(path.join(dir, 'app/run.sh'))).uid, me, 'nothing was chowned');
    // The tar output of the same takes the recorded owners into its headers.
    const file = path.join(tmp, 'recorded.tar');
    await copyImage(ociLayout(layout), 't', rootfsTransport('tar', file, { ownership: 'record' }), [undefined]);
    const { stdout } = await run('tar', ['-tvf', file, '--numeric-owner', 'data/new', 'app/run.sh', 'etc/passwd']);
    assert.match(stdout, /33\/33 .* data\/new/);
    assert.match(stdout, /1000\/1000 .* app\/run.sh/);
    assert.match(stdout, /0\/0 .* etc\/passwd/);
    assert.doesNotMatch((await run('tar', ['-tf', file])).stdout, /ocibuild-ownership/);
  });

  it('writes one folder per platform of a multi-platform image, as buildx does', async () => {
    const multi = await buildBusyboxLayout(path.join(tmp, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
    const dir = path.join(tmp, 'per-platform');
    const events: BuildEvent[] = [];
    await buildImage({ from: `oci:${multi.layoutPath}:multi`, platforms: 'all', layers: [layers[0] as LayerSpec], to: `local:${dir}`, cache: false, onEvent: (e) => events.push(e) });
    assert.deepEqual((await fs.readdir(dir)).sort(), ['linux_amd64', 'linux_arm64']);
    assert.equal(await fs.readFile(path.join(dir, 'linux_arm64/app/run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.ok(!events.some((e) => e.type === 'target-warning'));
    const file = path.join(tmp, 'per-platform.tar');
    await copyImage(ociLayout(multi.layoutPath), 'multi', rootfsTransport('tar', file), [undefined]);
    const names = (await run('tar', ['-tf', file], { maxBuffer: 16 << 20 })).stdout.trim().split('\n');
    assert.deepEqual(names.filter((n) => !n.slice(0, -1).includes('/')), ['linux_amd64/', 'linux_arm64/']);
    assert.ok(names.includes('linux_amd64/bin/busybox') && names.includes('linux_arm64/bin/busybox'));
    assert.ok(names.indexOf('linux_arm64/') > names.indexOf('linux_amd64/etc/passwd'), 'one platform after the other');
    // One platform of the index (ocibuild copy --platform) is written flat.
    const flat = path.join(tmp, 'flat');
    const copied = await runCli(['copy', '--platform', 'linux/arm64', `oci:${multi.layoutPath}:multi`, `local:${flat}`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.ok((await fs.lstat(path.join(flat, 'bin/busybox'))).isFile());
    assert.ok(!(await fs.readdir(flat)).includes('linux_arm64'));
  });

  it("writes the build's SBOM and provenance next to the tree as buildx names them (per platform folder); a path the image holds is not overwritten", async () => {
    const dir = path.join(tmp, 'attested');
    const events: BuildEvent[] = [];
    const result = await buildImage({ from: base, layers, to: `local:${dir}`, cache: false, sbom: true, provenance: true, sourceDateEpoch: 0, onEvent: (e) => events.push(e) });
    const provenance = JSON.parse(await fs.readFile(path.join(dir, 'provenance.json'), 'utf8')) as { _type: string; subject: { digest: { sha256: string } }[] };
    assert.equal(provenance._type, 'https://in-toto.io/Statement/v1');
    assert.equal(`sha256:${provenance.subject[0]?.digest.sha256}`, result.digest);
    const sbom = JSON.parse(await fs.readFile(path.join(dir, 'sbom.spdx.json'), 'utf8')) as { spdxVersion: string };
    assert.equal(sbom.spdxVersion, 'SPDX-2.3');
    assert.deepEqual(result.attachments?.map((a) => a.artifactType).sort(), ['application/spdx+json', 'application/vnd.in-toto+json']);
    assert.ok(result.attachments?.every((a) => a.subject === result.digest && /^sha256:[0-9a-f]{64}$/.test(a.digest)));
    const fileDigest = `sha256:${createHash('sha256').update(await fs.readFile(path.join(dir, 'provenance.json'))).digest('hex')}`;
    assert.ok(result.attachments?.some((a) => a.digest === fileDigest), "the digest given is the file's");
    assert.ok(!events.some((e) => e.type === 'attach-skipped'));
    // The rest of the tree is the image's, as without the documents.
    const plain = path.join(tmp, 'attested-plain');
    await buildImage({ from: base, layers, to: `local:${plain}`, cache: false, sourceDateEpoch: 0 });
    assert.deepEqual((await fs.readdir(dir)).filter((n) => n !== 'provenance.json' && n !== 'sbom.spdx.json').sort(), (await fs.readdir(plain)).sort());

    // tar: the same two entries at the top; a multi-platform output: in each platform's folder.
    const file = path.join(tmp, 'attested.tar');
    await buildImage({ from: base, layers, to: `tar:${file}`, cache: false, provenance: true });
    const names = (await run('tar', ['-tf', file], { maxBuffer: 16 << 20 })).stdout.trim().split('\n');
    assert.ok(names.includes('provenance.json') && !names.includes('sbom.spdx.json'));
    const multi = await buildBusyboxLayout(path.join(tmp, 'attested-multi'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
    const perPlatform = path.join(tmp, 'attested-per-platform');
    const built = await buildImage({ from: `oci:${multi.layoutPath}:multi`, platforms: 'all', layers: [layers[0] as LayerSpec], to: `local:${perPlatform}`, cache: false, provenance: true });
    assert.deepEqual((await fs.readdir(perPlatform)).sort(), ['linux_amd64', 'linux_arm64']);
    for (const [folder, child] of [['linux_amd64', 0], ['linux_arm64', 1]] as const) {
      const statement = JSON.parse(await fs.readFile(path.join(perPlatform, folder, 'provenance.json'), 'utf8')) as { subject: { digest: { sha256: string } }[] };
      assert.equal(`sha256:${statement.subject[0]?.digest.sha256}`, built.index?.manifests[child]?.digest);
    }

    // An image that holds /provenance.json itself: nothing overwritten, nothing written.
    const clash = path.join(tmp, 'attested-clash');
    const own: LayerSpec = { entries: [{ type: 'file', path: '/provenance.json', source: bytes('mine') }] };
    await assert.rejects(buildImage({ from: base, layers: [own], to: `local:${clash}`, cache: false, provenance: true }), isCode('ERR_TRANSPORT', /holds \/provenance\.json/));
    await assert.rejects(fs.stat(clash));
  });

  it('refuses a non-empty folder before any work, and leaves nothing after a failed unpack', async () => {
    const full = path.join(tmp, 'full');
    await fs.mkdir(full);
    await fs.writeFile(path.join(full, 'keep.txt'), 'mine');
    await assert.rejects(buildImage({ from: base, layers, to: `local:${full}`, cache: false }), isCode('ERR_TRANSPORT', /local:.*full.*empty folder/));
    assert.deepEqual(await fs.readdir(full), ['keep.txt']);
    await assert.rejects(buildImage({ from: base, layers, to: `tar:${full}`, cache: false }), isCode('ERR_TRANSPORT', /folder/));

    // A layer that climbs out of the root: refused, no output and no staging folder left.
    for (const [name, entry] of [['dotdot', { name: '../escape.txt', type: 'file' as const }], ['link-out', { name: 'out', type: 'link' as const, linkname: '../../etc/passwd' }]] as const) {
      const parent = path.join(tmp, `evil-${name}`);
      await fs.mkdir(parent);
      const source = await rawImage([entry]);
      await assert.rejects(copyImage(source, 't', rootfsTransport('local', path.join(parent, 'root')), [undefined]), isCode('ERR_PATH_ESCAPE'));
      await assert.rejects(copyImage(source, 't', rootfsTransport('tar', path.join(parent, 'root.tar')), [undefined]), isCode('ERR_PATH_ESCAPE'));
      assert.deepEqual(await fs.readdir(parent), [], `${name}: nothing left next to the output`);
    }
    await assert.rejects(fs.stat(path.join(tmp, 'escape.txt')));
  });

  it('run without root: owners recorded by default, read-only folders, nothing left in TMPDIR', { skip: process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status === 0 ? false : 'needs setpriv to drop root' }, async () => {
    const open = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-rootless-'));
    try {
      await fs.chmod(open, 0o777);
      const script = path.join(open, 'build.mts');
      const module = new URL('../../src/index.ts', import.meta.url).pathname;
      await fs.writeFile(script, `import { buildImage } from ${JSON.stringify(module)};
const enc = new TextEncoder();
await buildImage({ layers: [{ entries: [{ type: 'directory', path: '/ro', mode: 0o555, uid: 5, gid: 5 }, { type: 'file', path: '/ro/f', source: enc.encode('x'), uid: 7, gid: 7 }] }], to: ['local:${open}/out', 'tar:${open}/out.tar'], cache: false });
`);
      const node = [process.execPath, '--import', 'tsx', script];
      const argv = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
      const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, HOME: open, TMPDIR: open } });
      assert.equal(result.status, 0, result.stderr);
      const manifest = JSON.parse(await fs.readFile(path.join(open, 'out', OWNERSHIP_FILE), 'utf8')) as OwnershipManifest;
      assert.deepEqual(manifest.owners, { ro: { uid: 5, gid: 5 }, 'ro/f': { uid: 7, gid: 7 } });
      assert.equal((await fs.stat(path.join(open, 'out/ro'))).mode & 0o777, 0o555);
      const { stdout } = await run('tar', ['-tvf', path.join(open, 'out.tar'), '--numeric-owner']);
      assert.match(stdout, /^dr-xr-xr-x 5\/5 .* ro\/\n-rw-r--r-- 7\/7 .* ro\/f\n$/);
      assert.deepEqual((await fs.readdir(open)).filter((n) => n.startsWith('ocibuild-') || n.startsWith('.out')), []);
    } finally {
      await fs.chmod(path.join(open, 'out/ro'), 0o755).catch(() => undefined);
      await fs.rm(open, { recursive: true, force: true });
    }
  });

  it('leaves no spilled blobs or unpacked trees in the temp folder', async () => {
    const mine = (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`ocibuild-${process.pid}-rootfs-`));
    assert.deepEqual(mine, []);
  });
});

/** An image in memory whose one uncompressed layer holds `entries` as written (no normalisation). */
async function rawImage(entries: readonly { name: string; type: 'file' | 'link'; linkname?: string }[]): Promise<MemorySource> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type, ...(e.linkname ? { linkname: e.linkname } : {}), mode: 0o644 }, e.type === 'file' ? 'x' : undefined);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const layer = Buffer.concat(chunks);
  const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const config = bytes(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const source = memorySource({ description: 'raw' });
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length };
  const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length };
  source.addBlob(configDesc, config);
  source.addBlob(layerDesc, new Uint8Array(layer));
  source.addManifest(encodeManifest({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layerDesc] }), 't');
  return source;
}

/** True when a diff line is about the mtime of a folder (umoci and GNU tar set folder times differently). */
function isDir(tree: { path: string; type: string }[], line: string): boolean {
  const p = line.split(':')[0];
  return / mtime /.test(line) && tree.find((e) => e.path === p)?.type === 'dir';
}
