/**
 * Images other tools write that ocibuild met badly: a config with empty `architecture` and `os`
 * (crane append onto scratch), OCI artifacts, foreign layers with URLs, zstd layers; and what
 * the CLI prints: `inspect --raw` byte for byte, one digest per target when they differ.
 * The layouts are written by hand, byte for byte, as those tools write them.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { buildImage, OcibuildError, readAll, ociLayout } from '../../src/index.ts';
import { busyboxLayerBlob } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { sha256 } from '../helpers/data.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');

function cli(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

interface Blob {
  bytes: Uint8Array;
  digest: string;
  size: number;
}
const blob = (bytes: Uint8Array): Blob => ({ bytes, digest: sha256(bytes), size: bytes.byteLength });

/** Writes an OCI layout holding `blobs` and tagging `manifest` as `tag`; returns the manifest digest. */
async function writeLayout(dir: string, tag: string, manifest: Uint8Array, manifestType: string, blobs: Blob[]): Promise<string> {
  await fs.mkdir(path.join(dir, 'blobs/sha256'), { recursive: true });
  const m = blob(manifest);
  for (const b of [...blobs, m]) await fs.writeFile(path.join(dir, 'blobs/sha256', b.digest.slice(7)), b.bytes);
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const index = { schemaVersion: 2, manifests: [{ mediaType: manifestType, digest: m.digest, size: m.size, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  return m.digest;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

let tmp: string;
let registry: TestRegistry;
let layer: Blob;
let diffId: string;

/** A linux/amd64 config over the test layer's diffID, as most tools write it. */
const amd64Config = (): Blob => blob(json({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } }));

/** One layer of {@link writeAmd64Image}: its media type, its blob, and any foreign URLs. */
interface LayerEntry {
  mediaType: string;
  blob: Blob;
  urls?: string[];
}

/**
 * Writes a layout tagged `v1` holding one image: an {@link amd64Config} (of the config type that
 * goes with `manifestType`) and `layers`; of the layer blobs only `stored` are written, as a
 * layout does not hold foreign layers. Returns the manifest digest.
 */
async function writeAmd64Image(dir: string, manifestType: typeof OCI_MANIFEST | typeof DOCKER_MANIFEST, layers: LayerEntry[], stored: Blob[]): Promise<string> {
  const config = amd64Config();
  const configType = manifestType === DOCKER_MANIFEST ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json';
  const manifest = json({
    schemaVersion: 2,
    mediaType: manifestType,
    config: { mediaType: configType, digest: config.digest, size: config.size },
    layers: layers.map(({ mediaType, blob: b, urls }) => ({ mediaType, digest: b.digest, size: b.size, ...(urls === undefined ? {} : { urls }) })),
  });
  return writeLayout(dir, 'v1', manifest, manifestType, [config, ...stored]);
}

/** An image whose config's platform is empty, as `crane append` onto scratch writes it. */
async function emptyPlatformLayout(dir: string): Promise<string> {
  const config = blob(json({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'crane' }] }));
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
  });
  return writeLayout(dir, 'v1', manifest, OCI_MANIFEST, [config, layer]);
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-robust-interop-'));
  registry = await startRegistry();
  const busybox = await busyboxLayerBlob();
  layer = blob(busybox.gz);
  diffId = busybox.diffId;
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('a config with empty architecture and os (crane append onto scratch)', () => {
  it('is inspected, copied, and used as a base (built for the chosen platform)', async () => {
    const dir = path.join(tmp, 'empty-platform');
    const digest = await emptyPlatformLayout(dir);
    const inspected = await cli(['inspect', `oci:${dir}:v1`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const summary = JSON.parse(inspected.stdout.toString()) as { Digest: string; Architecture: string; Os: string };
    assert.equal(summary.Digest, digest);
    assert.equal(summary.Architecture, '');
    assert.equal(summary.Os, '');

    for (const dst of [`docker-archive:${tmp}/empty.tar`, `${registry.host}/empty/x:1`]) {
      const copied = await cli(['copy', `oci:${dir}:v1`, dst]);
      assert.equal(copied.code, 0, `${dst}: ${copied.stderr}`);
    }
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/empty/x:1`]);
    assert.equal(sha256(new TextEncoder().encode(stdout)), digest);

    const built = await buildImage({
      from: `oci:${dir}:v1`,
      platforms: ['linux/arm64'],
      layers: [{ entries: [{ type: 'file', path: '/a.txt', source: new TextEncoder().encode('a') }] }],
      to: `oci:${tmp}/on-empty`,
    });
    assert.equal(built.config.architecture, 'arm64');
    assert.equal(built.config.os, 'linux');
    assert.equal(built.manifest.layers[0]?.digest, layer.digest);

    const dockerfile = await buildImage({ dockerfile: { text: `FROM oci:${dir}:v1\nENV A=1\n`, file: 'Dockerfile' }, context: tmp, to: [] });
    assert.ok(dockerfile.config.architecture !== '' && dockerfile.config.os === 'linux');
  });

  it('a platform filter that needs the platform says so', async () => {
    const dir = path.join(tmp, 'empty-platform-all');
    await emptyPlatformLayout(dir);
    await assert.rejects(
      buildImage({ from: `oci:${dir}:v1`, platforms: 'all', to: [] }),
      (error: unknown) => error instanceof OcibuildError && /does not say its platform/.test(error.message),
    );
  });
});

describe('OCI artifacts', () => {
  it('inspect says artifact and shows its artifactType; docker-archive refuses it with that reason', async () => {
    const dir = path.join(tmp, 'artifact');
    const empty = blob(new TextEncoder().encode('{}'));
    const sbom = blob(json({ spdxVersion: 'SPDX-2.3' }));
    const manifest = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/spdx+json', digest: sbom.digest, size: sbom.size }],
    });
    const digest = await writeLayout(dir, 'sbom', manifest, OCI_MANIFEST, [empty, sbom]);
    const inspected = await cli(['inspect', `oci:${dir}:sbom`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const summary = JSON.parse(inspected.stdout.toString()) as { Digest: string; Artifact: boolean; ArtifactType: string };
    assert.deepEqual([summary.Digest, summary.Artifact, summary.ArtifactType], [digest, true, 'application/spdx+json']);

    const refused = await cli(['copy', `oci:${dir}:sbom`, `docker-archive:${tmp}/artifact.tar`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ERR_UNSUPPORTED.*OCI artifact \(application\/spdx\+json\)/);
    await assert.rejects(fs.stat(path.join(tmp, 'artifact.tar')));
    // A registry holds artifacts as they are.
    const pushed = await cli(['copy', `oci:${dir}:sbom`, `${registry.host}/artifact/sbom:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(pushed.stdout.toString().trim(), digest);
  });
});

describe('foreign layers with URLs', () => {
  let server: http.Server;
  let served = 0;
  let url: string;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/layer.tar.gz') {
        served++;
        res.writeHead(200, { 'content-length': String(layer.size) }).end(layer.bytes);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function foreignLayout(dir: string, urls: string[]): Promise<void> {
    // The layout does not hold the foreign layer, as a registry does not.
    await writeAmd64Image(dir, OCI_MANIFEST, [{ mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', blob: layer, urls }], []);
  }

  it('copying to docker-archive fetches them from their URLs, verified', async () => {
    const dir = path.join(tmp, 'foreign');
    await foreignLayout(dir, [`${url}/missing`, `${url}/layer.tar.gz`]);
    const out = path.join(tmp, 'foreign.tar');
    const copied = await cli(['copy', `oci:${dir}:v1`, `docker-archive:${out}`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(served, 1);
    // skopeo reads the archive and finds the layer's bytes in it.
    const back = path.join(tmp, 'foreign-back');
    await run('skopeo', ['--insecure-policy', 'copy', `docker-archive:${out}`, `oci:${back}:v1`]);
    const layout = ociLayout(back);
    const manifest = JSON.parse(new TextDecoder().decode((await layout.getManifest('v1')).bytes)) as { layers: { digest: string; size: number; mediaType: string }[] };
    const stored = await readAll(await layout.getBlob(manifest.layers[0] as { digest: string; size: number; mediaType: string }));
    assert.equal(sha256(stored.length > 2 && stored[0] === 0x1f ? gunzipSync(stored) : stored), diffId);
    await layout.close();
  });

  it('unreachable URLs: a clear refusal naming the layer and URLs, never "blob was not written"', async () => {
    const dir = path.join(tmp, 'foreign-gone');
    await foreignLayout(dir, [`${url}/gone.tar.gz`]);
    const copied = await cli(['copy', `oci:${dir}:v1`, `docker-archive:${tmp}/gone.tar`]);
    assert.equal(copied.code, 1);
    assert.match(copied.stderr, new RegExp(`foreign layer ${layer.digest} .*none of its URLs.*gone\\.tar\\.gz: HTTP 404`));
    assert.doesNotMatch(copied.stderr, /was not written/);
    await assert.rejects(fs.stat(path.join(tmp, 'gone.tar')));
  });
});

describe('zstd layers and Docker v2.2 targets', () => {
  let dir: string;
  let zstdLayer: Blob;
  before(async () => {
    dir = path.join(tmp, 'zstd');
    const tar = gunzipSync(layer.bytes);
    await fs.mkdir(tmp, { recursive: true });
    await fs.writeFile(path.join(tmp, 'layer.tar'), tar);
    await run('zstd', ['-q', '-f', path.join(tmp, 'layer.tar'), '-o', path.join(tmp, 'layer.tar.zst')]);
    zstdLayer = blob(await fs.readFile(path.join(tmp, 'layer.tar.zst')));
    await writeAmd64Image(dir, OCI_MANIFEST, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', blob: zstdLayer }], [zstdLayer]);
  });

  it('docker-archive refuses a zstd image clearly and writes nothing', async () => {
    const copied = await cli(['copy', `oci:${dir}:v1`, `docker-archive:${tmp}/zstd.tar`]);
    assert.equal(copied.code, 1);
    assert.match(copied.stderr, /ERR_UNSUPPORTED.*zstd/);
    await assert.rejects(fs.stat(path.join(tmp, 'zstd.tar')));
  });

  it('a Docker-format build on a zstd base is refused before anything is pushed', async () => {
    await assert.rejects(
      buildImage({ from: `oci:${dir}:v1`, format: 'docker', to: `${registry.host}/zstd/app:1` }),
      (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_UNSUPPORTED' && /zstd/.test(error.message),
    );
    const tags = await fetch(`${registry.url}/v2/zstd/app/tags/list`);
    assert.equal(tags.status, 404);
    // The OCI format holds it.
    const ok = await buildImage({ from: `oci:${dir}:v1`, to: `${registry.host}/zstd/app:oci` });
    assert.equal(ok.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
  });

  it('a Docker v2.2 manifest that lists a zstd layer is never copied on', async () => {
    const bad = path.join(tmp, 'zstd-docker');
    await writeAmd64Image(bad, DOCKER_MANIFEST, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', blob: zstdLayer }], [zstdLayer]);
    const copied = await cli(['copy', `oci:${bad}:v1`, `${registry.host}/zstd/docker:1`]);
    assert.equal(copied.code, 1);
    assert.match(copied.stderr, /Docker v2\.2 manifest .*zstd/);
    assert.equal((await fetch(`${registry.url}/v2/zstd/docker/manifests/1`, { method: 'HEAD' })).status, 404);
  });
});

describe('what the CLI prints', () => {
  it('inspect --raw prints the stored bytes exactly: their sha256 is the digest', async () => {
    const dir = path.join(tmp, 'raw');
    const config = amd64Config();
    // Indented, as some tools write manifests, and without a final newline.
    const text = JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
      },
      null,
      3,
    );
    const digest = await writeLayout(dir, 'v1', new TextEncoder().encode(text), OCI_MANIFEST, [config, layer]);
    const raw = await cli(['inspect', '--raw', `oci:${dir}:v1`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(raw.stdout.toString(), text);
    assert.equal(sha256(raw.stdout), digest);
  });

  it('--format docker to a registry and an oci: layout: stdout and --digest-file name each target\'s digest', async () => {
    const ctx = path.join(tmp, 'two-formats');
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
    await fs.writeFile(path.join(ctx, 'a.txt'), 'a\n');
    const regTarget = `${registry.host}/formats/app:1`;
    const ociTarget = `oci:${tmp}/formats-layout:1`;
    const digestFile = path.join(tmp, 'formats.digest');
    const built = await cli(['build', ctx, '--format', 'docker', '--to', regTarget, '--to', ociTarget, '--digest-file', digestFile, '-q']);
    assert.equal(built.code, 0, built.stderr);
    const head = await fetch(`${registry.url}/v2/formats/app/manifests/1`, { method: 'HEAD', headers: { accept: DOCKER_MANIFEST } });
    const regDigest = head.headers.get('docker-content-digest') as string;
    const index = JSON.parse(await fs.readFile(path.join(tmp, 'formats-layout/index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const ociDigest = index.manifests[0]?.digest as string;
    assert.notEqual(regDigest, ociDigest);
    const expected = `${regDigest} ${regTarget}\n${ociDigest} ${ociTarget}\n`;
    assert.equal(built.stdout.toString(), expected);
    assert.equal(await fs.readFile(digestFile, 'utf8'), expected);

    // One target: the one digest, as before.
    const single = await cli(['build', ctx, '--format', 'docker', '--to', `oci:${tmp}/formats-only:1`, '--digest-file', digestFile, '-q']);
    assert.equal(single.code, 0, single.stderr);
    const onlyIndex = JSON.parse(await fs.readFile(path.join(tmp, 'formats-only/index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(single.stdout.toString().trim(), onlyIndex.manifests[0]?.digest);
    assert.equal(await fs.readFile(digestFile, 'utf8'), onlyIndex.manifests[0]?.digest);
  });
});

