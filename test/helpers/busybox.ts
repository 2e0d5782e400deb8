/**
 * Test fixture: a small busybox-static base image in an OCI image layout, built WITHOUT any of
 * ocibuild's own code (tar-stream + node:zlib + node:crypto only) so that tests of ocibuild's
 * readers, copiers and RUN executor are checked against an independent fixture.
 *
 * The image holds Debian's `/bin/busybox` (package busybox-static), one symlink per applet
 * (`busybox --list-full`), `/etc/passwd` and `/etc/group` with root, `app` (1000) and `nobody`
 * (65534), `/tmp` with mode 1777, and a config with Docker's default PATH and `Cmd ["sh"]`.
 * @module
 */
import { spawnSync, execFile } from 'node:child_process';
import { sha256 } from './data.ts';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

const execFileAsync = promisify(execFile);

/** Where the host's static busybox lives (Debian busybox-static). */
export const HOST_BUSYBOX = '/bin/busybox';

/** Docker's default PATH, also used by the fixture's config. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Platforms the fixture can claim. Only amd64 is runnable; arm64 carries the same binary. */
export type BusyboxPlatform = 'linux/amd64' | 'linux/arm64';

/** Options of {@link buildBusyboxLayout}. */
export interface BusyboxLayoutOptions {
  /** Tag recorded as `org.opencontainers.image.ref.name` in index.json. Default `latest`. */
  tag?: string;
  /** One platform gives a plain manifest; two give an image index with two children. Default `['linux/amd64']`. */
  platforms?: BusyboxPlatform[];
  /** Media types: OCI (default) or Docker v2.2. */
  format?: 'oci' | 'docker';
}

/** What {@link buildBusyboxLayout} wrote. */
export interface BusyboxLayout {
  /** The OCI layout directory. */
  layoutPath: string;
  /** The tag pointing at the image. */
  tag: string;
  /** Digest of the top-level manifest (or index when several platforms were asked for). */
  manifestDigest: string;
  /** Media type of the top-level manifest or index. */
  mediaType: string;
  /** Digest of the single layer (identical for every platform). */
  layerDigest: string;
  /** diffID of the single layer. */
  diffId: string;
}

/** The busybox root filesystem as one gzipped tar, built once per process. */
interface LayerBlob {
  gz: Buffer;
  diffId: string;
}

const FIXED_TIME = new Date('2020-01-01T00:00:00Z');

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

const GROUP = ['root:x:0:', 'app:x:1000:', 'nogroup:x:65534:', ''].join('\n');

let layerPromise: Promise<LayerBlob> | undefined;
const layoutCache = new Map<string, Promise<BusyboxLayout>>();

/** Lists busybox applets as paths relative to `/`, e.g. `bin/sh`, `usr/bin/env`. */
function listApplets(): string[] {
  const out = spawnSync(HOST_BUSYBOX, ['--list-full'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${HOST_BUSYBOX} --list-full failed: ${out.stderr}`);
  // `linuxrc` has no directory and is an init shim nobody needs in a container.
  return out.stdout.split('\n').filter((line) => line.includes('/') && line !== 'bin/busybox');
}

async function buildLayer(): Promise<LayerBlob> {
  const busybox = await fs.readFile(HOST_BUSYBOX);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const base = { mtime: FIXED_TIME, uid: 0, gid: 0 };
  const dir = (name: string, mode = 0o755, uid = 0, gid = 0): void => {
    pack.entry({ ...base, name: name + '/', type: 'directory', mode, uid, gid });
  };
  const file = (name: string, content: string | Buffer, mode = 0o644): void => {
    pack.entry({ ...base, name, type: 'file', mode }, typeof content === 'string' ? Buffer.from(content) : content);
  };
  const applets = listApplets();
  const dirs = new Set(['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sbin', 'sys', 'tmp', 'usr', 'usr/bin', 'usr/sbin', 'var']);
  for (const a of applets) dirs.add(path.posix.dirname(a));
  const entries: { name: string; emit: () => void }[] = [];
  for (const d of dirs) {
    const mode = d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755;
    entries.push({ name: d, emit: () => dir(d, mode) });
  }
  entries.push({ name: 'home/app', emit: () => dir('home/app', 0o755, 1000, 1000) });
  entries.push({ name: 'bin/busybox', emit: () => file('bin/busybox', busybox, 0o755) });
  for (const a of applets) {
    entries.push({ name: a, emit: () => pack.entry({ ...base, name: a, type: 'symlink', linkname: '/bin/busybox', mode: 0o777 }) });
  }
  entries.push({ name: 'etc/passwd', emit: () => file('etc/passwd', PASSWD) });
  entries.push({ name: 'etc/group', emit: () => file('etc/group', GROUP) });
  entries.push({ name: 'etc/hostname', emit: () => file('etc/hostname', 'busybox\n') });
  // Sorted so the tar (and so every digest) is the same on every run.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) e.emit();
  pack.finalize();
  await done;
  const raw = Buffer.concat(chunks);
  return { gz: gzipSync(raw, { level: 6 }), diffId: sha256(raw) };
}

const MEDIA = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

async function writeBlob(layoutPath: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const file = path.join(layoutPath, 'blobs', 'sha256', digest.slice('sha256:'.length));
  await fs.writeFile(file, data);
  return digest;
}

async function writeLayout(layoutPath: string, tag: string, platforms: BusyboxPlatform[], format: 'oci' | 'docker'): Promise<BusyboxLayout> {
  const media = MEDIA[format];
  const layer = await (layerPromise ??= buildLayer());
  await fs.mkdir(path.join(layoutPath, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(layoutPath, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const layerDigest = await writeBlob(layoutPath, layer.gz);
  const children: { mediaType: string; digest: string; size: number; platform: { architecture: string; os: string } }[] = [];
  for (const p of platforms) {
    const architecture = p.split('/')[1] ?? 'amd64';
    const config = {
      created: '2020-01-01T00:00:00Z',
      architecture,
      os: 'linux',
      config: { Env: [DEFAULT_PATH], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '2020-01-01T00:00:00Z', created_by: 'ocibuild test fixture: busybox-static' }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = await writeBlob(layoutPath, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: media.manifest,
      config: { mediaType: media.config, digest: configDigest, size: configBytes.length },
      layers: [{ mediaType: media.layer, digest: layerDigest, size: layer.gz.length }],
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const digest = await writeBlob(layoutPath, manifestBytes);
    children.push({ mediaType: media.manifest, digest, size: manifestBytes.length, platform: { architecture, os: 'linux' } });
  }
  let top: { mediaType: string; digest: string; size: number };
  if (children.length === 1 && children[0] !== undefined) {
    const { platform: _platform, ...rest } = children[0];
    top = rest;
  } else {
    const index = { schemaVersion: 2, mediaType: media.index, manifests: children };
    const bytes = Buffer.from(JSON.stringify(index));
    top = { mediaType: media.index, digest: await writeBlob(layoutPath, bytes), size: bytes.length };
  }
  // Keep other tags already in this layout, replace this one.
  const indexPath = path.join(layoutPath, 'index.json');
  let existing: { manifests?: { annotations?: Record<string, string> }[] } = {};
  try {
    existing = JSON.parse(await fs.readFile(indexPath, 'utf8')) as typeof existing;
  } catch {
    // No layout yet.
  }
  const refName = 'org.opencontainers.image.ref.name';
  const manifests = (existing.manifests ?? []).filter((m) => m.annotations?.[refName] !== tag);
  manifests.push({ ...top, annotations: { [refName]: tag } } as (typeof manifests)[number]);
  await fs.writeFile(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.oci.index, manifests }));
  return { layoutPath, tag, manifestDigest: top.digest, mediaType: top.mediaType, layerDigest, diffId: layer.diffId };
}

/**
 * Builds (once per process per directory and options) an OCI image layout at `dir` holding the
 * busybox base image under `tag`. The layer tar is built once per process and reused.
 */
export function buildBusyboxLayout(dir: string, options: BusyboxLayoutOptions = {}): Promise<BusyboxLayout> {
  const tag = options.tag ?? 'latest';
  const platforms = options.platforms ?? ['linux/amd64'];
  const format = options.format ?? 'oci';
  if (platforms.length === 0) throw new Error('buildBusyboxLayout: platforms must not be empty');
  const key = JSON.stringify([path.resolve(dir), tag, platforms, format]);
  let result = layoutCache.get(key);
  if (result === undefined) {
    result = writeLayout(path.resolve(dir), tag, platforms, format);
    layoutCache.set(key, result);
    result.catch(() => layoutCache.delete(key));
  }
  return result;
}

/** Returns the uncompressed busybox layer tar's bytes' gzip and diffID (for tests that need the raw layer). */
export async function busyboxLayerBlob(): Promise<{ gz: Uint8Array; diffId: string }> {
  return (layerPromise ??= buildLayer());
}

/**
 * Pushes `oci:LAYOUT:TAG` to `REGISTRY_HOST/REPO:TAG` over plain HTTP with skopeo (all platforms,
 * digests preserved) and returns the pushed manifest digest.
 */
export async function pushLayoutToRegistry(layoutPath: string, tag: string, registryHost: string, repo: string): Promise<string> {
  const digestFile = path.join(layoutPath, `.pushed-${process.pid}-${Date.now()}`);
  try {
    await execFileAsync('skopeo', [
      '--insecure-policy',
      'copy',
      '--all',
      '--preserve-digests',
      '--dest-tls-verify=false',
      '--digestfile',
      digestFile,
      `oci:${layoutPath}:${tag}`,
      `docker://${registryHost}/${repo}:${tag}`,
    ]);
    return (await fs.readFile(digestFile, 'utf8')).trim();
  } finally {
    await fs.rm(digestFile, { force: true });
  }
}

/** What {@link busyboxInRegistry} built and pushed. */
export interface BusyboxInRegistry {
  /** The layout it was built in. */
  layout: BusyboxLayout;
  /** `HOST/REPO:TAG` of the pushed image. */
  ref: string;
  /** Digest of the pushed manifest (or index). */
  digest: string;
}

/**
 * The busybox-registry fixture: builds the busybox layout in `dir` and pushes it to
 * `registryHost` as `REPO:TAG` (repository default `base/busybox`), digests preserved.
 */
export async function busyboxInRegistry(
  registryHost: string,
  dir: string,
  options: BusyboxLayoutOptions & { repository?: string } = {},
): Promise<BusyboxInRegistry> {
  const { repository = 'base/busybox', ...layoutOptions } = options;
  const layout = await buildBusyboxLayout(dir, layoutOptions);
  const digest = await pushLayoutToRegistry(layout.layoutPath, layout.tag, registryHost, repository);
  return { layout, ref: `${registryHost}/${repository}:${layout.tag}`, digest };
}
