/**
 * Base images for the robustness tests, made by the peer tools themselves (not by ocibuild):
 * buildah (`from scratch` + `copy` + `commit`, then a `run` layer), pushed to an OCI layout and a
 * docker-archive; umoci (a repacked layer, no top-level `mediaType`); skopeo (Docker v2s2 into a
 * registry, zstd into a registry and a layout, a docker-archive, and `--dest-decompress` output
 * whose uncompressed layers keep a gzip media type).
 *
 * Every build writes a random `/etc/nonce`, so the layers are new to skopeo's blob-info cache
 * (/var/lib/containers/cache): otherwise it reuses a gzip blob it has seen where zstd was asked.
 * @module
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { HOST_BUSYBOX } from '../helpers/busybox.ts';
import { skopeo } from './tools.ts';

const run = promisify(execFile);

async function tool(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { maxBuffer: 64 << 20 });
    return stdout.trim();
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** One base image: what `FROM` / `ocibuild copy` is given, and what it is expected to hold. */
export interface RobustBase {
  /** Short name. */
  name: string;
  /** The source string (`oci:PATH:TAG`, `docker-archive:PATH`, `HOST/REPO:TAG`). */
  source: string;
  /** Number of layers. */
  layers: number;
  /** Layer media types the tool wrote (checked, so a changed tool cannot silently test something else). */
  layerTypes: string[];
  /** True when the source keeps manifest bytes (a docker-archive's manifest is synthesised). */
  rawManifest: boolean;
}

/** All bases plus the nonce they carry in /etc/nonce. */
export interface RobustBases {
  /** Random text in /etc/nonce of every base. */
  nonce: string;
  /** The bases. */
  bases: RobustBase[];
}

async function layerTypesOfLayout(layout: string): Promise<string[]> {
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const digest = (index.manifests[0] as { digest: string }).digest.slice('sha256:'.length);
  const manifest = JSON.parse(await fs.readFile(path.join(layout, 'blobs', 'sha256', digest), 'utf8')) as { layers: { mediaType: string }[] };
  return manifest.layers.map((l) => l.mediaType);
}

async function layerTypesOfRegistry(ref: string): Promise<string[]> {
  const manifest = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as { layers: { mediaType: string }[] };
  return manifest.layers.map((l) => l.mediaType);
}

/**
 * Turns skopeo's `dir:` output (blobs named by hex, `manifest.json`) into an OCI layout holding
 * the same bytes, so ocibuild can read it; `relabel` rewrites layer media types (for a layout
 * whose uncompressed layers carry the honest `.tar` type).
 */
async function dirToLayout(dir: string, layout: string, relabel?: string): Promise<void> {
  const blobs = path.join(layout, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  for (const name of await fs.readdir(dir)) {
    if (/^[0-9a-f]{64}$/.test(name)) await fs.copyFile(path.join(dir, name), path.join(blobs, name));
  }
  let manifest = await fs.readFile(path.join(dir, 'manifest.json'));
  if (relabel !== undefined) {
    const doc = JSON.parse(manifest.toString()) as { layers: { mediaType: string }[] };
    for (const l of doc.layers) l.mediaType = relabel;
    manifest = Buffer.from(JSON.stringify(doc));
  }
  const { createHash } = await import('node:crypto');
  const hex = createHash('sha256').update(manifest).digest('hex');
  await fs.writeFile(path.join(blobs, hex), manifest);
  const mediaType = (JSON.parse(manifest.toString()) as { mediaType: string }).mediaType;
  await fs.writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fs.writeFile(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType, digest: `sha256:${hex}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
}

/** Builds every base under `dir`, pushing the registry ones to `registry` (host:port). */
export async function buildRobustBases(dir: string, registry: string): Promise<RobustBases> {
  const nonce = randomBytes(12).toString('hex');
  const storage = ['--storage-driver', 'vfs', '--root', path.join(dir, 'storage', 'root'), '--runroot', path.join(dir, 'storage', 'run')];
  const buildah = (...args: string[]): Promise<string> => tool('buildah', [...storage, ...args]);

  // A tiny root filesystem: static busybox, a few applets, users root/app(1000)/nobody.
  const rootfs = path.join(dir, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await fs.mkdir(path.join(rootfs, 'etc'));
  await fs.mkdir(path.join(rootfs, 'tmp'), { mode: 0o1777 });
  await fs.copyFile(HOST_BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'cat', 'echo', 'mkdir', 'id', 'stat']) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
  await fs.writeFile(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await fs.writeFile(path.join(rootfs, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n');
  await fs.writeFile(path.join(rootfs, 'etc', 'nonce'), `${nonce}\n`);

  const scratch = await buildah('from', 'scratch');
  await buildah('copy', scratch, rootfs, '/');
  await buildah('config', '--env', 'PATH=/bin', '--cmd', 'sh', scratch);
  await buildah('commit', '--quiet', '--format', 'oci', scratch, 'robust-one');
  const second = await buildah('from', 'robust-one');
  await buildah('run', '--isolation', 'chroot', second, '--', 'sh', '-c', 'echo built-by-buildah > /etc/buildah.txt');
  await buildah('commit', '--quiet', '--format', 'oci', second, 'robust-base');
  const buildahOci = path.join(dir, 'buildah-oci');
  await buildah('push', '--quiet', 'robust-base', `oci:${buildahOci}:latest`);
  const buildahArchive = path.join(dir, 'buildah.tar');
  await buildah('push', '--quiet', 'robust-base', `docker-archive:${buildahArchive}:robust/base:latest`);
  const src = `oci:${buildahOci}:latest`;

  // zstd first: once skopeo has pushed gzip blobs of these layers it would reuse them.
  await skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--dest-compress-format', 'zstd', src, `docker://${registry}/zstd:latest`]);
  const zstdLayout = path.join(dir, 'zstd');
  await skopeo(['copy', '--quiet', '--dest-compress-format', 'zstd', src, `oci:${zstdLayout}:latest`]);
  await skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', src, `docker://${registry}/v2s2:latest`]);
  const skopeoArchive = path.join(dir, 'skopeo.tar');
  await skopeo(['copy', '--quiet', src, `docker-archive:${skopeoArchive}:robust/skopeo:latest`]);
  // Uncompressed layers: `--dest-decompress` into dir: keeps the gzip media types (Docker and OCI).
  const dockerPlainDir = path.join(dir, 'dir-docker');
  await skopeo(['copy', '--quiet', '--dest-decompress', `docker-archive:${skopeoArchive}`, `dir:${dockerPlainDir}`]);
  const ociPlainDir = path.join(dir, 'dir-oci');
  await skopeo(['copy', '--quiet', '--format', 'oci', '--dest-decompress', `docker-archive:${skopeoArchive}`, `dir:${ociPlainDir}`]);
  const dockerLie = path.join(dir, 'docker-lie');
  await dirToLayout(dockerPlainDir, dockerLie);
  const ociLie = path.join(dir, 'oci-lie');
  await dirToLayout(ociPlainDir, ociLie);
  const ociTar = path.join(dir, 'oci-tar');
  await dirToLayout(ociPlainDir, ociTar, 'application/vnd.oci.image.layer.v1.tar');

  // umoci: unpack, add a file, repack (its manifests have no top-level mediaType).
  const umociLayout = path.join(dir, 'umoci');
  await fs.cp(buildahOci, umociLayout, { recursive: true });
  const bundle = path.join(dir, 'umoci-bundle');
  await tool('umoci', ['unpack', '--image', `${umociLayout}:latest`, bundle]);
  await fs.writeFile(path.join(bundle, 'rootfs', 'etc', 'umoci.txt'), 'from umoci\n');
  await tool('umoci', ['repack', '--image', `${umociLayout}:latest`, bundle]);

  const gz = 'application/vnd.oci.image.layer.v1.tar+gzip';
  const dgz = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
  const bases: RobustBase[] = [
    { name: 'buildah-oci', source: src, layers: 2, layerTypes: [gz, gz], rawManifest: true },
    { name: 'buildah-archive', source: `docker-archive:${buildahArchive}`, layers: 2, layerTypes: [], rawManifest: false },
    { name: 'umoci', source: `oci:${umociLayout}:latest`, layers: 3, layerTypes: [gz, gz, gz], rawManifest: true },
    { name: 'skopeo-v2s2', source: `${registry}/v2s2:latest`, layers: 2, layerTypes: [dgz, dgz], rawManifest: true },
    { name: 'skopeo-zstd-registry', source: `${registry}/zstd:latest`, layers: 2, layerTypes: Array(2).fill('application/vnd.oci.image.layer.v1.tar+zstd') as string[], rawManifest: true },
    { name: 'skopeo-zstd-layout', source: `oci:${zstdLayout}:latest`, layers: 2, layerTypes: Array(2).fill('application/vnd.oci.image.layer.v1.tar+zstd') as string[], rawManifest: true },
    { name: 'skopeo-archive', source: `docker-archive:${skopeoArchive}`, layers: 2, layerTypes: [], rawManifest: false },
    { name: 'plain-labelled-docker-gzip', source: `oci:${dockerLie}:latest`, layers: 2, layerTypes: [dgz, dgz], rawManifest: true },
    { name: 'plain-labelled-oci-gzip', source: `oci:${ociLie}:latest`, layers: 2, layerTypes: [gz, gz], rawManifest: true },
    { name: 'plain-oci-tar', source: `oci:${ociTar}:latest`, layers: 2, layerTypes: Array(2).fill('application/vnd.oci.image.layer.v1.tar') as string[], rawManifest: true },
  ];
  // The tools must have written what each case claims to test.
  for (const base of bases) {
    if (base.layerTypes.length === 0) continue;
    const actual = base.source.startsWith('oci:') ? await layerTypesOfLayout(base.source.slice(4, base.source.lastIndexOf(':'))) : await layerTypesOfRegistry(base.source);
    if (JSON.stringify(actual) !== JSON.stringify(base.layerTypes)) {
      throw new Error(`fixture ${base.name}: expected layer types ${JSON.stringify(base.layerTypes)}, the tool wrote ${JSON.stringify(actual)}`);
    }
  }
  return { nonce, bases };
}
