// The Node preset end to end against a real registry: a sample app with real npm packages
// installed by npm, a busybox base whose top layer adds a "node" user, checked with skopeo
// and umoci; then no-change and one-file rebuilds through the cache, asserted through stats
// and the registry's request log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, nodeApp, type BuildResult } from '../../src/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry } from '../helpers/busybox.ts';
import { unpackImage } from '../helpers/tree.ts';
import { makeNpmApp, type NpmApp } from './npm-app.ts';

const run = promisify(execFile);

let tmp: string;
let registry: TestRegistry;
let app: NpmApp;
let nodeBase: string;
let busyboxLayer: string;
const NODE_UID = 1001;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-node-'));
  registry = await startRegistry();
  busyboxLayer = (await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'), { repository: 'busybox' })).layout.layerDigest;
  // A base whose top layer replaces /etc/passwd with one that has a "node" user.
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nnode:x:1001:1002:node:/home/node:/bin/sh\n';
  nodeBase = `${registry.host}/nodebase:1`;
  await buildImage({
    from: `${registry.host}/busybox:latest`,
    layers: [{ entries: [{ type: 'file', path: '/etc/passwd', source: new TextEncoder().encode(passwd) }], createdBy: 'add node user' }],
    config: { cmd: ['sh', '-c', 'echo base'] },
    to: nodeBase,
    cache: false,
  });
  app = await makeNpmApp(path.join(tmp, 'fixture'));
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function skopeoConfig(ref: string): Promise<{ config: Record<string, unknown> }> {
  const { stdout } = await run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${ref}`]);
  return JSON.parse(stdout) as { config: Record<string, unknown> };
}

test('node app on a registry base: config, layers, symlinks, ownership, rebuilds', async (t) => {
  const cacheDir = path.join(tmp, 'cache');
  const target = `${registry.host}/app:1`;
  const mark0 = (await registry.requestLog()).length;
  const options = await nodeApp(app.dir, { from: nodeBase, to: target, cache: { dir: cacheDir } });
  // Reading /etc/passwd stopped at the top layer: the busybox layer was never downloaded.
  const readForUser = (await registry.requestLog()).slice(mark0);
  assert.ok(!readForUser.some((r) => r.method === 'GET' && r.path.includes(busyboxLayer)), 'base layers below /etc/passwd are not read');
  assert.equal(options.nodeApp.user, 'node');
  assert.deepEqual(options.nodeApp.owner, { uid: NODE_UID, gid: 1002 });
  assert.equal(options.nodeApp.lockfile, 'npm');
  assert.equal(options.nodeApp.productionOnly, true);

  const first = await buildImage(options);
  assert.equal(first.stats.layersBuilt, 2);
  assert.equal(first.stats.layersCached, 0);

  const { config } = await skopeoConfig(target);
  assert.deepEqual(config.Entrypoint, ['node', '/app/server.js']);
  assert.equal(config.Cmd, undefined, "the base's Cmd does not leak");
  assert.equal(config.WorkingDir, '/app');
  assert.equal(config.User, 'node');
  assert.ok((config.Env as string[]).includes('NODE_ENV=production'));
  assert.ok((config.Env as string[]).some((e) => e.startsWith('PATH=')), 'base env kept');

  // Unpack with umoci (copied out with skopeo) and look at the tree.
  const layout = path.join(tmp, 'unpack-layout');
  await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${target}`, `oci:${layout}:x`]);
  const { rootfs } = await unpackImage(layout, 'x', path.join(tmp, 'bundle'));
  const appRoot = path.join(rootfs, 'app');
  const st = await fs.lstat(appRoot);
  assert.equal(st.uid, NODE_UID);
  assert.equal(st.gid, 1002);
  assert.equal((await fs.lstat(path.join(appRoot, 'server.js'))).uid, NODE_UID);
  const bin = path.join(appRoot, 'node_modules', '.bin', 'lpl');
  assert.equal(await fs.readlink(bin), '../left-pad-lite/bin/cli.js');
  assert.match(await fs.readFile(bin, 'utf8'), /left-pad-lite/, 'the .bin symlink resolves inside the image');
  await fs.access(path.join(appRoot, 'node_modules', '@acme', 'util', 'index.js'));
  for (const gone of ['node_modules/devtool', 'node_modules/.bin/devtool', 'node_modules/.cache', '.git', '.env']) {
    await assert.rejects(fs.lstat(path.join(appRoot, gone)), `${gone} is not in the image`);
  }
  await fs.access(path.join(appRoot, 'lib', 'm3.js'));
  assert.match(await fs.readFile(path.join(rootfs, 'etc', 'passwd'), 'utf8'), /^node:/m);

  // No change: same digest, nothing compressed, nothing uploaded, manifest PUT skipped.
  const mark1 = (await registry.requestLog()).length;
  const second = await buildImage(await nodeApp(app.dir, { from: nodeBase, to: target, cache: { dir: cacheDir } }));
  assert.equal(second.digest, first.digest);
  assert.equal(second.stats.layersBuilt, 0);
  assert.equal(second.stats.layersCached, 2);
  assert.equal(second.stats.blobsUploaded, 0);
  assert.equal(second.stats.manifestPutSkipped, 1);
  const writes = (await registry.requestLog()).slice(mark1).filter((r) => r.method !== 'GET' && r.method !== 'HEAD');
  assert.deepEqual(writes, [], 'no upload and no manifest PUT');

  // One source file edited: only the app layer is rebuilt and uploaded (plus the new config).
  await fs.writeFile(path.join(app.dir, 'lib', 'm2.js'), 'module.exports = "two";\n');
  const mark2 = (await registry.requestLog()).length;
  const third = await buildImage(await nodeApp(app.dir, { from: nodeBase, to: target, cache: { dir: cacheDir } }));
  assert.notEqual(third.digest, first.digest);
  assert.equal(third.stats.layersBuilt, 1);
  assert.equal(third.stats.layersCached, 1);
  assert.equal(third.stats.blobsUploaded, 2, 'app layer and config');
  const appLayer = third.manifest.layers.at(-1)?.digest as string;
  const depsLayer = third.manifest.layers.at(-2)?.digest as string;
  assert.equal(depsLayer, first.manifest.layers.at(-2)?.digest, 'dependency layer unchanged');
  const log = (await registry.requestLog()).slice(mark2);
  const uploads = log.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'));
  // App layer and config, then the new image's SBOM and provenance documents (on by default here).
  assert.equal(uploads.length, 4);
  assert.equal(third.attachments?.length, 2);
  assert.ok(uploads.some((r) => r.path.includes(encodeURIComponent(appLayer)) || r.path.includes(appLayer)));
  assert.ok(!log.some((r) => r.path.includes(depsLayer) && r.method !== 'HEAD'));
  t.diagnostic(`digests: ${first.digest} ${third.digest}`);
});

test('package.json "ocibuild" block, base without a node user, start script, files list', async () => {
  const root = path.join(tmp, 'fixture2');
  const other = await makeNpmApp(root, { files: ['lib'] });
  const pkgFile = path.join(other.dir, 'package.json');
  const pkg = JSON.parse(await fs.readFile(pkgFile, 'utf8')) as Record<string, unknown>;
  delete pkg.main;
  const out = path.join(tmp, 'out-layout');
  pkg.ocibuild = { from: `${registry.host}/busybox:latest`, to: `oci:${out}:v1`, ports: [8080], labels: { team: 'a' }, creationTime: '2024-01-02T03:04:05Z' };
  await fs.writeFile(pkgFile, JSON.stringify(pkg));
  const options = await nodeApp(other.dir, { cache: { dir: path.join(tmp, 'cache2') } });
  assert.equal(options.nodeApp.user, undefined, 'busybox has no node user: keep the base user');
  assert.deepEqual(options.nodeApp.owner, { uid: 0, gid: 0 });
  const result: BuildResult = await buildImage(options);
  const config = result.config.config ?? {};
  assert.deepEqual(config.Entrypoint, ['node', '/app/server.js'], 'a plain "node FILE" start script runs without a shell');
  assert.deepEqual(config.ExposedPorts, { '8080/tcp': {} });
  assert.equal(config.Labels?.team, 'a');
  assert.equal(result.config.created, '2024-01-02T03:04:05Z');
  const { rootfs } = await unpackImage(out, 'v1', path.join(tmp, 'bundle2'));
  await fs.access(path.join(rootfs, 'app', 'lib', 'm0.js'));
  await fs.access(path.join(rootfs, 'app', 'package.json'));
  await assert.rejects(fs.access(path.join(rootfs, 'app', 'server.js')), 'not in "files"');
});

test("a default cache folder that cannot be made (a CI pod's read-only HOME): the build goes without a cache and says so; a folder the user named is ERR_IO", async () => {
  const blocker = path.join(tmp, 'not-a-folder');
  await fs.writeFile(blocker, '');
  const saved = { xdg: process.env.XDG_CACHE_HOME, dir: process.env.OCIBUILD_CACHE_DIR };
  process.env.XDG_CACHE_HOME = path.join(blocker, 'cache');
  delete process.env.OCIBUILD_CACHE_DIR;
  try {
    const out = path.join(tmp, 'without-cache');
    const options = await nodeApp(app.dir, { from: `${registry.host}/busybox:latest`, to: `oci:${out}:v1` });
    assert.equal(options.cache, false);
    assert.ok(
      options.nodeApp.notes.some((n) => n.startsWith(`cache folder ${path.join(blocker, 'cache', 'ocibuild')}: cannot create or write it (ENOTDIR): building without a cache`)),
      options.nodeApp.notes.join('\n'),
    );
    const result = await buildImage(options);
    assert.match(result.digest, /^sha256:[0-9a-f]{64}$/);
    await assert.rejects(
      nodeApp(app.dir, { from: `${registry.host}/busybox:latest`, to: `oci:${out}:v2`, cache: { dir: path.join(blocker, 'mine') } }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_IO' && new RegExp(`^cache folder ${path.join(blocker, 'mine')}: cannot create or write it \\(ENOTDIR\\): name a writable one`).test((e as Error).message),
    );
  } finally {
    for (const [name, value] of [['XDG_CACHE_HOME', saved.xdg], ['OCIBUILD_CACHE_DIR', saved.dir]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});
