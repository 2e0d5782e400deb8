// buildImage on registry bases: config inheritance, base annotations, lazy base layers
// (mounted, never moved), per-entry metadata, several targets and digest files, concurrent
// builds sharing one cache, and offline builds from a warmed cache with the registry stopped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, createSession, openCache, warmCache, type BuildOptions } from '../../src/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry, pushLayoutToRegistry, type BusyboxLayout } from '../helpers/busybox.ts';
import { readTree, unpackImage } from '../helpers/tree.ts';
import { validateOci } from '../helpers/schema.ts';

const run = promisify(execFile);
let tmp: string;
let registry: TestRegistry;
let layout: BusyboxLayout;
let baseRef: string;
let richBase: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-rebuild-'));
  registry = await startRegistry();
  layout = (await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'))).layout;
  baseRef = `${registry.host}/base/busybox:latest`;
  // A base with a full runtime config, to check what a child inherits.
  richBase = `${registry.host}/base/rich:1`;
  await buildImage({
    from: baseRef,
    layers: [{ entries: [{ type: 'file', path: '/etc/motd', source: new TextEncoder().encode('hi\n') }] }],
    config: {
      entrypoint: ['/bin/sh'],
      cmd: ['-c', 'echo base'],
      env: { A: 'base', B: 'base' },
      labels: { keep: 'base', over: 'base' },
      exposedPorts: ['80'],
      volumes: ['/data'],
    },
    to: richBase,
    cache: false,
  });
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function appDir(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
  await fs.writeFile(path.join(dir, 'a.txt'), 'a\n');
  await fs.writeFile(path.join(dir, 'sub', 'b.txt'), 'b'.repeat(10_000));
  return dir;
}

test('inheritance, annotations, per-entry metadata, lazy base layers, targets and digest files', async () => {
  const src = await appDir('app1');
  const mark = (await registry.requestLog()).length;
  const digestFile = path.join(tmp, 'digest.txt');
  const namesFile = path.join(tmp, 'names.txt');
  const result = await buildImage({
    from: richBase,
    layers: [
      {
        directories: [{ source: src, destination: '/srv/app', metadata: { uid: 1000, gid: 1000 } }],
        entries: [{ type: 'file', path: '/srv/app/run.sh', source: new TextEncoder().encode('#!/bin/sh\n'), mode: 0o750, uid: 7, gid: 8, mtime: new Date('2022-02-02T00:00:00Z') }],
        parents: { uid: 1000, gid: 1000, mode: 0o750 },
      },
    ],
    config: { entrypoint: ['/srv/app/run.sh'], env: { B: 'child', C: 'child' }, labels: { over: 'child' }, exposedPorts: ['8080'], volumes: ['/cache'] },
    to: [`${registry.host}/apps/one:1`, `oci:${path.join(tmp, 'out')}:v1`],
    tags: ['extra'],
    digestFile,
    imageNameWithDigestFile: namesFile,
    cache: false,
  });
  const log = (await registry.requestLog()).slice(mark);
  const c = result.config.config ?? {};
  assert.deepEqual(c.Entrypoint, ['/srv/app/run.sh']);
  assert.equal(c.Cmd, undefined, 'entrypoint without cmd clears the inherited Cmd');
  assert.deepEqual(c.Env?.filter((e) => !e.startsWith('PATH=')), ['A=base', 'B=child', 'C=child']);
  assert.deepEqual(c.Labels, { keep: 'base', over: 'child' });
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['80/tcp', '8080/tcp']);
  assert.deepEqual(Object.keys(c.Volumes ?? {}).sort(), ['/cache', '/data']);
  assert.equal(result.config.rootfs.diff_ids.length, 3);
  assert.equal(result.config.rootfs.diff_ids[0], layout.diffId);
  assert.equal(result.config.history?.length, 3);
  assert.equal(result.manifest.layers[0]?.digest, layout.layerDigest);
  const baseDigest = (await run('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${richBase}`])).stdout.trim();
  assert.equal(result.manifest.annotations?.['org.opencontainers.image.base.digest'], baseDigest);
  assert.equal(result.manifest.annotations?.['org.opencontainers.image.base.name'], richBase);
  await validateOci('manifest', result.manifest);

  // Base layers were mounted across repositories, never read nor uploaded, for the registry
  // target (the oci: target, written after it, needs their bytes and reads them).
  const pushed = log.findIndex((r) => r.method === 'PUT' && r.path.endsWith('/apps/one/manifests/extra'));
  assert.ok(pushed > 0);
  const registryPart = log.slice(0, pushed);
  const baseLayers = result.manifest.layers.slice(0, 2).map((d) => d.digest);
  for (const digest of baseLayers) {
    assert.ok(!registryPart.some((r) => r.method === 'GET' && r.path.includes(digest)), `base layer ${digest} not downloaded`);
    assert.ok(registryPart.some((r) => r.method === 'POST' && r.path.includes('mount=') && r.path.includes(encodeURIComponent(digest))), `base layer ${digest} mounted`);
  }
  assert.equal(result.stats.blobsMounted, 2);

  assert.deepEqual(result.targets.map((t) => t.digest), [result.digest, result.digest]);
  assert.equal(await fs.readFile(digestFile, 'utf8'), result.digest);
  assert.equal(await fs.readFile(namesFile, 'utf8'), `${registry.host}/apps/one@${result.digest}\n`);
  for (const tag of ['1', 'extra']) {
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${registry.host}/apps/one:${tag}`]);
    assert.equal(stdout.trim(), result.digest);
  }

  // Per-entry metadata as written (umoci unpacks as root, keeping owners).
  const { rootfs } = await unpackImage(path.join(tmp, 'out'), 'v1', path.join(tmp, 'bundle1'));
  const tree = new Map((await readTree(rootfs)).map((e) => [e.path, e]));
  assert.deepEqual(pick(tree.get('/srv')), { uid: 1000, gid: 1000, mode: 0o750 }, 'created parent takes `parents`');
  assert.deepEqual(pick(tree.get('/srv/app/a.txt')), { uid: 1000, gid: 1000, mode: 0o644 });
  assert.deepEqual(pick(tree.get('/srv/app/run.sh')), { uid: 7, gid: 8, mode: 0o750 });
  assert.equal(tree.get('/srv/app/run.sh')?.mtime, Date.parse('2022-02-02T00:00:00Z') / 1000);
});

function pick(e: { uid: number; gid: number; mode: number } | undefined): { uid: number; gid: number; mode: number } | undefined {
  return e && { uid: e.uid, gid: e.gid, mode: e.mode };
}

test('two builds at once on one cache dir both succeed with the right digest', async () => {
  const src = await appDir('app2');
  const cacheDir = path.join(tmp, 'shared-cache');
  const spec: Omit<BuildOptions, 'to'> = {
    from: baseRef,
    // The CLI records a source outside its working directory by its name, never the host path.
    layers: [{ directories: [{ source: src, destination: '/app' }], createdBy: `ocibuild append --layer ${path.basename(src)}:/app` }],
    config: { cmd: ['cat', '/app/a.txt'] },
  };
  const expected = await buildImage({ ...spec, to: `oci:${path.join(tmp, 'ref-out')}`, cache: false });
  const cli = path.resolve('src/cli/main.ts');
  const outs = await Promise.all(
    [1, 2].map((i) =>
      run(process.execPath, [
        '--import', 'tsx', cli, 'append', '--from', baseRef, '--layer', `${src}:/app`, '--cmd', 'cat /app/a.txt',
        '--to', `oci:${path.join(tmp, `conc-${i}`)}:x`, '--to', `${registry.host}/apps/conc:${i}`, '-q',
      ], { env: { ...process.env, OCIBUILD_CACHE_DIR: cacheDir } }),
    ),
  );
  for (const o of outs) assert.equal(o.stdout.trim(), expected.digest);
  // And in-process, two at once on the same cache (one of them finds the other's layer or writes it too).
  const both = await Promise.all([1, 2].map((i) => buildImage({ ...spec, to: `oci:${path.join(tmp, `conc-in-${i}`)}`, cache: { dir: cacheDir } })));
  for (const r of both) assert.equal(r.digest, expected.digest);
  assert.ok(both.every((r) => r.stats.layersCached === 1), 'the CLI runs filled the cache');
  const leftovers = await fs.readdir(path.join(cacheDir, 'tmp'));
  assert.deepEqual(leftovers, []);
});

test('offline: a warmed cache builds with the registry stopped', async () => {
  const own = await startRegistry();
  try {
    await pushLayoutToRegistry(layout.layoutPath, layout.tag, own.host, 'busybox');
    const from = `${own.host}/busybox:latest`;
    const cacheDir = path.join(tmp, 'offline-cache');
    const cache = await openCache({ dir: cacheDir });
    const session = createSession();
    const source = session.openSource(from);
    const warmed = await warmCache(source.transport, source.reference ?? '', from, cache);
    await source.transport.close?.();
    await session.close();
    assert.equal(warmed.blobsFetched, 2);
    const src = await appDir('app3');
    const spec: BuildOptions = { from, layers: [{ directories: [{ source: src, destination: '/app' }] }], to: `oci:${path.join(tmp, 'online')}` };
    const online = await buildImage({ ...spec, cache: false });
    await own.stop();
    const offline = await buildImage({ ...spec, to: `oci:${path.join(tmp, 'offline')}:v`, cache: { dir: cacheDir }, offline: true });
    assert.equal(offline.digest, online.digest);
    // The offline layout is complete: umoci can unpack it (base layer read from the cache).
    const { rootfs } = await unpackImage(path.join(tmp, 'offline'), 'v', path.join(tmp, 'bundle3'));
    await fs.access(path.join(rootfs, 'bin', 'busybox'));
    // Without the cache entry, offline fails clearly instead of reaching out.
    await assert.rejects(
      buildImage({ ...spec, from: `${own.host}/busybox:other`, to: `oci:${path.join(tmp, 'offline2')}`, cache: { dir: cacheDir }, offline: true }),
      (e: Error & { code?: string }) => e.code === 'ERR_NOT_FOUND' && /offline/.test(e.message),
    );
    await assert.rejects(buildImage({ ...spec, to: `${own.host}/x:1`, cache: { dir: cacheDir }, offline: true }), /offline builds write to oci/);
  } finally {
    await own.stop();
  }
});
