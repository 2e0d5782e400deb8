/**
 * Helpers of the RUN tests: read an OCI layout's image (config and every layer's tar entries)
 * without ocibuild code, and write layouts with a crafted extra layer on top of the busybox base.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { busyboxLayerBlob, DEFAULT_PATH } from '../helpers/busybox.ts';

/** One tar member of a layer. */
export interface LayerMember {
  path: string;
  type: string;
  uid: number;
  gid: number;
  mode: number;
  mtime: number;
  linkname?: string;
  content?: string;
}

/** A layer read back. */
export interface ReadLayer {
  digest: string;
  members: LayerMember[];
  /** The uncompressed tar (to search for leaked bytes). */
  tar: Buffer;
}

/** An image read back from a layout. */
export interface ReadImage {
  manifestDigest: string;
  config: { config?: { Env?: string[]; User?: string; WorkingDir?: string }; history?: { created_by?: string; empty_layer?: boolean }[]; rootfs: { diff_ids: string[] } };
  configText: string;
  layers: ReadLayer[];
}

async function listMembers(tarBytes: Buffer): Promise<LayerMember[]> {
  const out: LayerMember[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const m: LayerMember = { path: h.name.replace(/^\.?\//, '').replace(/\/$/, ''), type: h.type ?? 'file', uid: h.uid ?? 0, gid: h.gid ?? 0, mode: (h.mode ?? 0) & 0o7777, mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000) };
      if (h.linkname) m.linkname = h.linkname;
      if (h.type === 'file' && (h.size ?? 0) <= 4096) m.content = Buffer.concat(chunks).toString('utf8');
      out.push(m);
    }
  })();
  extract.end(tarBytes);
  await done;
  return out;
}

/** Reads `tag` of the layout at `dir`: config text and every layer's members. */
export async function readImage(dir: string, tag = 'latest'): Promise<ReadImage> {
  const blob = (digest: string): Promise<Buffer> => fs.readFile(path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
  const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? index.manifests[0];
  if (desc === undefined) throw new Error(`no manifest in ${dir}`);
  const manifest = JSON.parse((await blob(desc.digest)).toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  const configText = (await blob(manifest.config.digest)).toString('utf8');
  const layers: ReadLayer[] = [];
  for (const l of manifest.layers) {
    const raw = gunzipSync(await blob(l.digest));
    layers.push({ digest: l.digest, members: await listMembers(raw), tar: raw });
  }
  return { manifestDigest: desc.digest, config: JSON.parse(configText) as ReadImage['config'], configText, layers };
}

/** A crafted tar member for {@link writeCraftedLayout}. */
export interface CraftedMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  content?: string;
  mode?: number;
}

async function writeBlob(dir: string, bytes: Buffer): Promise<string> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await fs.writeFile(path.join(dir, 'blobs', 'sha256', hex), bytes);
  return `sha256:${hex}`;
}

/** Writes an OCI layout at `dir` (tag `latest`): the busybox layer plus one layer of `members`, exactly as given. */
export async function writeCraftedLayout(dir: string, members: CraftedMember[]): Promise<string> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => pack.on('end', resolve));
  for (const m of members) {
    const content = m.content === undefined ? undefined : Buffer.from(m.content);
    pack.entry({ name: m.name, type: m.type ?? 'file', mode: m.mode ?? 0o644, mtime: new Date(1000), ...(m.linkname ? { linkname: m.linkname } : {}), ...(content ? { size: content.length } : {}) }, content);
  }
  pack.finalize();
  await ended;
  const evilTar = Buffer.concat(chunks);
  const base = await busyboxLayerBlob();
  const baseDigest = await writeBlob(dir, Buffer.from(base.gz));
  const evilGz = gzipSync(evilTar);
  const evilDigest = await writeBlob(dir, evilGz);
  const evilDiff = `sha256:${createHash('sha256').update(evilTar).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Env: [DEFAULT_PATH] },
    rootfs: { type: 'layers', diff_ids: [base.diffId, evilDiff] },
  }));
  const configDigest = await writeBlob(dir, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: baseDigest, size: base.gz.length },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: evilDigest, size: evilGz.length },
    ],
  }));
  const manifestDigest = await writeBlob(dir, manifest);
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  return `oci:${dir}:latest`;
}
