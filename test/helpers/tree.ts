/**
 * Test helpers to compare two built images the way a user sees them: the unpacked root
 * filesystem (via `umoci unpack`, independent of ocibuild's own extraction code) and the config
 * fields a Dockerfile sets. Used by the differential Dockerfile tests against buildah.
 * @module
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One file system entry of an unpacked image. */
export interface TreeEntry {
  /** Absolute path inside the image, e.g. `/etc/passwd`. */
  path: string;
  /** Entry type. */
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits including setuid, setgid and sticky (`mode & 0o7777`). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size in bytes (files only, else 0). */
  size: number;
  /** Hex SHA-256 of the content (files only). */
  sha256?: string;
  /** Symlink target. */
  linkTarget?: string;
  /** For files with several links: the smallest path of the group, same for every member. */
  nlinkGroup?: string;
  /** Modification time in whole seconds. */
  mtime: number;
}

/** An unpacked image: the umoci bundle and its rootfs. */
export interface UnpackedImage {
  /** The bundle directory (holds `rootfs/`, `config.json`, umoci metadata). */
  bundle: string;
  /** The root filesystem. */
  rootfs: string;
}

/**
 * Unpacks `layoutDir:tag` with `umoci unpack` into `bundleDir` (which must not exist). As
 * non-root `--rootless` is used, so ownership is then not comparable.
 */
export async function unpackImage(layoutDir: string, tag: string, bundleDir: string): Promise<UnpackedImage> {
  const args = ['unpack'];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) args.push('--rootless');
  args.push('--image', `${layoutDir}:${tag}`, bundleDir);
  try {
    await run('umoci', args, { maxBuffer: 16 << 20 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`umoci unpack ${layoutDir}:${tag} failed: ${e.stderr?.trim() || e.message}`);
  }
  return { bundle: bundleDir, rootfs: path.join(bundleDir, 'rootfs') };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function typeOf(st: import('node:fs').Stats): TreeEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Lists every entry under `rootfs` (not the root itself), sorted by path, with content hashes. */
export async function readTree(rootfs: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const inodes = new Map<string, TreeEntry[]>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await fs.readdir(dir)).sort();
    for (const name of names) {
      const full = path.join(dir, name);
      const p = `${rel}/${name}`;
      const st = await fs.lstat(full);
      const type = typeOf(st);
      const entry: TreeEntry = { path: p, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0, mtime: Math.floor(st.mtimeMs / 1000) };
      if (type === 'file') {
        entry.sha256 = await sha256File(full);
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const group = inodes.get(key) ?? [];
          group.push(entry);
          inodes.set(key, group);
        }
      } else if (type === 'symlink') {
        entry.linkTarget = await fs.readlink(full);
        // Symlink permission bits are meaningless on Linux (always 0777 here, may differ elsewhere).
        entry.mode = 0o777;
      }
      entries.push(entry);
      if (type === 'dir') await walk(full, p);
    }
  };
  await walk(rootfs, '');
  for (const group of inodes.values()) {
    // A link count above one inside a single-entry group points outside the tree: not a hardlink pair here.
    if (group.length < 2) continue;
    const first = group.map((e) => e.path).sort()[0];
    for (const e of group) if (first !== undefined) e.nlinkGroup = first;
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return entries;
}

/** Options of {@link diffTrees}. */
export interface DiffTreesOptions {
  /** Ignore modification times (default true: the tools normalise them differently). */
  ignoreMtime?: boolean;
  /** Paths to leave out, each with everything under it (`/proc` ignores `/proc/x`). */
  ignore?: string[];
}

function ignored(p: string, ignore: string[]): boolean {
  return ignore.some((i) => p === i || p.startsWith(i.endsWith('/') ? i : i + '/'));
}

/** Formats an entry for messages: `file 0644 0:0 12B sha256:ab12…`. */
export function formatEntry(e: TreeEntry): string {
  const parts = [e.type, e.mode.toString(8).padStart(4, '0'), `${e.uid}:${e.gid}`];
  if (e.type === 'file') parts.push(`${e.size}B`, `sha256:${(e.sha256 ?? '').slice(0, 12)}`);
  if (e.linkTarget !== undefined) parts.push(`-> ${e.linkTarget}`);
  if (e.nlinkGroup !== undefined) parts.push(`hardlink-group ${e.nlinkGroup}`);
  return parts.join(' ');
}

/**
 * Compares two trees and returns one human-readable line per difference (empty when equal):
 * `only in A: /x`, `/y: mode 0644 != 0600`. `a` and `b` are labelled `labels[0]`/`labels[1]`.
 */
export function diffTrees(a: TreeEntry[], b: TreeEntry[], options: DiffTreesOptions = {}, labels: [string, string] = ['a', 'b']): string[] {
  const ignore = options.ignore ?? [];
  const ignoreMtime = options.ignoreMtime ?? true;
  const mapA = new Map(a.filter((e) => !ignored(e.path, ignore)).map((e) => [e.path, e]));
  const mapB = new Map(b.filter((e) => !ignored(e.path, ignore)).map((e) => [e.path, e]));
  const out: string[] = [];
  const paths = [...new Set([...mapA.keys(), ...mapB.keys()])].sort();
  for (const p of paths) {
    const x = mapA.get(p);
    const y = mapB.get(p);
    if (!x) {
      out.push(`only in ${labels[1]}: ${p} (${formatEntry(y as TreeEntry)})`);
      continue;
    }
    if (!y) {
      out.push(`only in ${labels[0]}: ${p} (${formatEntry(x)})`);
      continue;
    }
    const fields: (keyof TreeEntry)[] = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'linkTarget', 'nlinkGroup'];
    if (!ignoreMtime) fields.push('mtime');
    for (const f of fields) {
      if (x[f] !== y[f]) {
        const show = (v: unknown) => (f === 'mode' && typeof v === 'number' ? v.toString(8).padStart(4, '0') : String(v));
        out.push(`${p}: ${f} ${labels[0]}=${show(x[f])} ${labels[1]}=${show(y[f])}`);
      }
    }
  }
  return out;
}

/** What a build changed relative to its base: entries added or different, and paths removed. */
export interface TreeChanges {
  /** Entries that are new or differ from the base (mtime ignored). */
  changed: TreeEntry[];
  /** Base paths that are gone. */
  removed: string[];
}

/** Computes {@link TreeChanges} of `result` against `base` (mtimes ignored). */
export function treeChanges(base: TreeEntry[], result: TreeEntry[]): TreeChanges {
  const baseMap = new Map(base.map((e) => [e.path, e]));
  const resultPaths = new Set(result.map((e) => e.path));
  const changed = result.filter((e) => {
    const old = baseMap.get(e.path);
    return old === undefined || diffTrees([old], [e]).length > 0;
  });
  const removed = base.filter((e) => !resultPaths.has(e.path)).map((e) => e.path);
  return { changed, removed };
}

/** The parts of an image config (the `config` JSON blob) the differential tests look at. */
export interface ImageConfigJson {
  architecture?: string;
  author?: string;
  os?: string;
  variant?: string;
  config?: Record<string, unknown>;
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
  rootfs?: { type: string; diff_ids: string[] };
}

interface IndexJson {
  manifests: { mediaType?: string; digest: string; annotations?: Record<string, string>; platform?: { architecture: string; os: string } }[];
}

async function readBlobJson<T>(layoutDir: string, digest: string): Promise<T> {
  const [algorithm, hex] = digest.split(':');
  return JSON.parse(await fs.readFile(path.join(layoutDir, 'blobs', algorithm ?? 'sha256', hex ?? ''), 'utf8')) as T;
}

/**
 * Reads the manifest and config of `layoutDir:tag`. An index (several platforms) resolves to
 * the child matching `platform` (`os/arch`), else the first child.
 */
export async function readImage(layoutDir: string, tag: string, platform?: string): Promise<{ manifest: { layers: { digest: string; mediaType: string }[]; config: { digest: string } }; config: ImageConfigJson }> {
  const index = JSON.parse(await fs.readFile(path.join(layoutDir, 'index.json'), 'utf8')) as IndexJson;
  const top = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!top) throw new Error(`${layoutDir}/index.json has no tag ${tag}`);
  let doc = await readBlobJson<IndexJson & { layers?: unknown; config?: { digest: string } }>(layoutDir, top.digest);
  if (doc.manifests !== undefined && doc.config === undefined) {
    const child = doc.manifests.find((m) => platform !== undefined && `${m.platform?.os}/${m.platform?.architecture}` === platform) ?? doc.manifests[0];
    if (!child) throw new Error(`${layoutDir}:${tag} is an empty index`);
    doc = await readBlobJson(layoutDir, child.digest);
  }
  const manifest = doc as unknown as { layers: { digest: string; mediaType: string }[]; config: { digest: string } };
  const config = await readBlobJson<ImageConfigJson>(layoutDir, manifest.config.digest);
  return { manifest, config };
}

/** Reads the config JSON of `layoutDir:tag` (see {@link readImage}). */
export async function readImageConfig(layoutDir: string, tag: string, platform?: string): Promise<ImageConfigJson> {
  return (await readImage(layoutDir, tag, platform)).config;
}

/** The config fields a Dockerfile sets, compared by {@link diffConfigs}. */
export const CONFIG_FIELDS = ['Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell'] as const;

/** Options of {@link diffConfigs}. */
export interface DiffConfigsOptions {
  /** Label keys to leave out (buildah adds `io.buildah.version`). */
  ignoreLabels?: string[];
  /** Also compare architecture, os and variant (default true). */
  platform?: boolean;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

/**
 * Brings one config field to a form where equal meaning gives equal JSON. Docker-format configs
 * spell "unset" as `null`, `[]`, `{}` or `""` (buildah writes `"Entrypoint": []`,
 * `"Volumes": {}`), OCI-format ones leave the field out; all mean the same to a runtime.
 * Health check durations of 0 mean "inherit the default" and are left out by Docker too, and a
 * WorkingDir of `/` is what an unset one means.
 */
export function normalizeConfigField(field: string, value: unknown, ignoreLabels: string[] = []): unknown {
  if (isEmpty(value)) return undefined;
  // A runtime starts in "/" when WorkingDir is unset; BuildKit writes "/" for FROM scratch, buildah nothing.
  if (field === 'WorkingDir' && value === '/') return undefined;
  if (field === 'Labels' && typeof value === 'object' && value !== null) {
    const labels = Object.fromEntries(Object.entries(value as Record<string, string>).filter(([k]) => !ignoreLabels.includes(k)).sort(([x], [y]) => (x < y ? -1 : 1)));
    return isEmpty(labels) ? undefined : labels;
  }
  if ((field === 'ExposedPorts' || field === 'Volumes') && typeof value === 'object' && value !== null) {
    return Object.keys(value).sort();
  }
  if (field === 'Healthcheck' && typeof value === 'object' && value !== null) {
    const h = Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, v]) => !isEmpty(v) && v !== 0).sort(([x], [y]) => (x < y ? -1 : 1)));
    return isEmpty(h) ? undefined : h;
  }
  return value;
}

/**
 * Compares the Dockerfile-visible config fields ({@link CONFIG_FIELDS}), `author` and (by default)
 * the platform of two image configs and returns one line per difference (empty when equal).
 */
export function diffConfigs(a: ImageConfigJson, b: ImageConfigJson, options: DiffConfigsOptions = {}, labels: [string, string] = ['a', 'b']): string[] {
  const out: string[] = [];
  const ignoreLabels = options.ignoreLabels ?? ['io.buildah.version'];
  for (const field of CONFIG_FIELDS) {
    const x = JSON.stringify(normalizeConfigField(field, a.config?.[field], ignoreLabels));
    const y = JSON.stringify(normalizeConfigField(field, b.config?.[field], ignoreLabels));
    if (x !== y) out.push(`config.${field}: ${labels[0]}=${x ?? 'unset'} ${labels[1]}=${y ?? 'unset'}`);
  }
  // MAINTAINER sets the top-level `author`.
  if ((a.author ?? '') !== (b.author ?? '')) out.push(`author: ${labels[0]}=${a.author ?? 'unset'} ${labels[1]}=${b.author ?? 'unset'}`);
  if (options.platform ?? true) {
    for (const field of ['architecture', 'os', 'variant'] as const) {
      if ((a[field] ?? '') !== (b[field] ?? '')) out.push(`${field}: ${labels[0]}=${a[field] ?? 'unset'} ${labels[1]}=${b[field] ?? 'unset'}`);
    }
  }
  return out;
}

/**
 * Compares the layer pattern: the number of layers, and the `empty_layer` flag of every history
 * entry (history `created_by` texts differ between tools by design and are not compared). Also
 * checks each config on its own: non-empty history entries must equal the layer count.
 */
export function diffLayerPattern(a: ImageConfigJson, b: ImageConfigJson, labels: [string, string] = ['a', 'b']): string[] {
  const out: string[] = [];
  const pattern = (c: ImageConfigJson) => (c.history ?? []).map((h) => (h.empty_layer === true ? 'E' : 'L')).join('');
  const layers = (c: ImageConfigJson) => c.rootfs?.diff_ids.length ?? 0;
  for (const [c, label] of [[a, labels[0]], [b, labels[1]]] as const) {
    const nonEmpty = (c.history ?? []).filter((h) => h.empty_layer !== true).length;
    if (c.history !== undefined && nonEmpty !== layers(c)) out.push(`${label}: ${nonEmpty} non-empty history entries but ${layers(c)} layers`);
  }
  if (layers(a) !== layers(b)) out.push(`layer count: ${labels[0]}=${layers(a)} ${labels[1]}=${layers(b)}`);
  if (pattern(a) !== pattern(b)) out.push(`history pattern (L=layer, E=empty_layer): ${labels[0]}=${pattern(a)} ${labels[1]}=${pattern(b)}`);
  return out;
}
