// Multi-platform builds: a two-platform busybox index in the local registry as the base gives
// a two-platform result index (seen by skopeo inspect --raw, copied by skopeo copy --all), with
// platform-specific layers; one platform of an index gives a plain manifest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, type Platform } from '../../src/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry } from '../helpers/busybox.ts';
import { unpackImage } from '../helpers/tree.ts';
import { validateOci } from '../helpers/schema.ts';

const run = promisify(execFile);
let tmp: string;
let registry: TestRegistry;
let base: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-multi-'));
  registry = await startRegistry();
  await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi', repository: 'busybox' });
  base = `${registry.host}/busybox:multi`;
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const archLayer = (p: Platform) => [
  { entries: [{ type: 'file' as const, path: '/arch.txt', source: new TextEncoder().encode(`${p.architecture}\n`) }], createdBy: `arch ${p.architecture}` },
];

test('platforms "all" of a two-platform base index gives a two-platform index', async () => {
  const target = `${registry.host}/multi/app:1`;
  const result = await buildImage({ from: base, platforms: 'all', layers: archLayer, config: { cmd: ['cat', '/arch.txt'] }, to: target, cache: false });
  assert.ok(result.index, 'an index was built');
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`]);
  const index = JSON.parse(stdout) as { mediaType: string; manifests: { digest: string; platform: Platform }[] };
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
  await validateOci('index', index);
  assert.equal(result.digest, `sha256:${(await import('node:crypto')).createHash('sha256').update(stdout).digest('hex')}`);

  // Each child has the right config platform and its own layer.
  for (const child of index.manifests) {
    const { stdout: cfg } = await run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${registry.host}/multi/app@${child.digest}`]);
    const config = JSON.parse(cfg) as { architecture: string; config: { Cmd: string[] }; history: { created_by: string }[] };
    assert.equal(config.architecture, child.platform.architecture);
    assert.deepEqual(config.config.Cmd, ['cat', '/arch.txt']);
    assert.equal(config.history.at(-1)?.created_by, `arch ${child.platform.architecture}`);
  }

  // skopeo copies the whole index; the arm64 child unpacks with its own file.
  const layout = path.join(tmp, 'copied');
  await run('skopeo', ['--insecure-policy', 'copy', '--all', '--src-tls-verify=false', `docker://${target}`, `oci:${layout}:all`]);
  const copied = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(copied.manifests[0]?.digest, result.digest, 'copied byte for byte');
  const arm = index.manifests.find((m) => m.platform.architecture === 'arm64');
  await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${registry.host}/multi/app@${arm?.digest}`, `oci:${layout}:arm`]);
  const { rootfs } = await unpackImage(layout, 'arm', path.join(tmp, 'bundle-arm'));
  assert.equal(await fs.readFile(path.join(rootfs, 'arch.txt'), 'utf8'), 'arm64\n');
});

test('docker format gives a manifest list; one platform of an index gives a plain manifest', async () => {
  const list = await buildImage({ from: base, platforms: ['linux/arm64', 'linux/amd64'], layers: archLayer, to: `${registry.host}/multi/docker:1`, format: 'docker', cache: false });
  assert.equal(list.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
  assert.deepEqual(list.index?.manifests.map((m) => m.platform?.architecture), ['arm64', 'amd64']);

  const single = await buildImage({ from: base, platforms: ['linux/arm64'], layers: archLayer, to: `oci:${path.join(tmp, 'single')}:x`, cache: false });
  assert.equal(single.index, undefined);
  assert.equal(single.config.architecture, 'arm64');
  await assert.rejects(
    buildImage({ from: base, platforms: ['linux/s390x'], to: `oci:${path.join(tmp, 'none')}`, cache: false }),
    (e: Error & { code?: string }) => e.code === 'ERR_NOT_FOUND' && /s390x/.test(e.message),
  );
});
