/**
 * A read-only view of a stage's file system made of image layers, read lazily from the top
 * down: each layer's tar headers are indexed only when a lookup reaches it, so a file that a
 * stage's own upper layers provide never causes the (large) base layers to be decompressed.
 * Content is extracted to temporary files only for the entries a `COPY --from` needs.
 * @module
 */

import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import { openLayerBlob, openLayerTar } from '../layer/decode.ts';
import type { TarLimits } from '../layer/tar-guard.ts';
import type { Descriptor } from '../oci/types.ts';

/** One layer of a stage: a way to open its (possibly compressed) blob. */
export interface LayerRef {
  /** Stable identity for caching (the layer digest). */
  key: string;
  /** Layer media type (decides decompression). */
  mediaType: string;
  /** Opens the blob as stored (compressed). */
  open(): Promise<AsyncIterable<Uint8Array>>;
  /** The layer's descriptor when known: its `urls` let a foreign layer be fetched when the source lacks it. */
  descriptor?: Descriptor;
  /** The layer's diffID (its `diff_ids` entry) when known: reading the layer verifies it. */
  diffId?: string;
  /** Bounds on the layer's tar (`guardTarStream`); default `DEFAULT_TAR_LIMITS`. */
  limits?: Partial<TarLimits>;
}

/** Entry types the view distinguishes. */
export type FsEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** One path of the merged file system. */
export interface FsEntry {
  /** Normalised path (no leading `/`). */
  path: string;
  /** Type. */
  type: FsEntryType;
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Modification time in seconds. */
  mtime: number;
  /** Content size (files). */
  size: number;
  /** Symlink target, or hardlink target path (normalised). */
  linkname?: string;
  /** The layer that provides it (index into the view's layers). */
  layer: number;
}

/** Headers of one layer. */
export interface LayerIndex {
  /** Entries by path (whiteout markers excluded). */
  entries: Map<string, Omit<FsEntry, 'layer'>>;
  /** Paths removed by `.wh.NAME` markers. */
  whiteouts: Set<string>;
  /** Directories made opaque by `.wh..wh..opq`. */
  opaques: Set<string>;
}

/** Shares layer indexes between stages and platforms of one build. */
export class LayerIndexCache {
  private readonly indexes = new Map<string, Promise<LayerIndex>>();
  /** Counts layers whose headers were read (for tests and stats). */
  reads = 0;

  /** Returns (reading once) the index of `ref`. */
  get(ref: LayerRef): Promise<LayerIndex> {
    let index = this.indexes.get(ref.key);
    if (!index) {
      this.reads++;
      index = indexLayer(ref);
      this.indexes.set(ref.key, index);
    }
    return index;
  }
}

/** Normalises a tar member name to a root-relative path. */
export function memberPath(name: string): string {
  return name.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

function typeOf(header: TarMemberHeader): FsEntryType {
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    default:
      return 'other';
  }
}

/**
 * Streams a layer's tar bytes, decompressed by what the blob's first bytes say (gzip, zstd or
 * none; see `openLayerTar`); a foreign layer the source lacks is fetched from its `urls`.
 */
export async function layerTar(ref: LayerRef): Promise<AsyncIterable<Uint8Array>> {
  const body = ref.descriptor === undefined ? await ref.open() : await openLayerBlob(ref.descriptor, () => ref.open());
  return openLayerTar(ref.descriptor ?? ref.mediaType, body, { where: `layer ${ref.key}`, diffId: ref.diffId, limits: ref.limits });
}

/**
 * The tar header fields {@link walkTar} hands out: tar-stream's `Headers` shape, declared here so
 * the published declarations never need `@types/tar-stream` (a dev dependency).
 */
export interface TarMemberHeader {
  /** Member name as stored. */
  name: string;
  /** Permission bits. */
  mode?: number | undefined;
  /** Owner id. */
  uid?: number | undefined;
  /** Group id. */
  gid?: number | undefined;
  /** Content size. */
  size?: number | undefined;
  /** Modification time. */
  mtime?: Date | undefined;
  /** Link target of symlinks and hardlinks. */
  linkname?: string | null | undefined;
  /** tar-stream's type name (`file`, `directory`, `symlink`, `link`, ...). */
  type?: string | null | undefined;
}

/** Reads every header of a tar stream, calling `onEntry` (which may consume the body). */
export async function walkTar(
  stream: AsyncIterable<Uint8Array>,
  onEntry: (header: TarMemberHeader, body: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  const source = Readable.from(stream, { objectMode: false });
  source.on('error', (e) => extract.destroy(e));
  source.pipe(extract);
  for await (const entry of extract) {
    await onEntry(entry.header, entry);
    entry.resume();
  }
}

async function indexLayer(ref: LayerRef): Promise<LayerIndex> {
  const index: LayerIndex = { entries: new Map(), whiteouts: new Set(), opaques: new Set() };
  await walkTar(await layerTar(ref), async (header) => {
    const p = memberPath(header.name);
    const base = p.slice(p.lastIndexOf('/') + 1);
    if (base === '.wh..wh..opq') {
      index.opaques.add(parentOf(p));
      return;
    }
    if (base.startsWith('.wh.')) {
      const parent = parentOf(p);
      const victim = base.slice(4);
      index.whiteouts.add(parent === '' ? victim : `${parent}/${victim}`);
      return;
    }
    if (p === '') return;
    const type = typeOf(header);
    const entry: Omit<FsEntry, 'layer'> = {
      path: p,
      type,
      mode: (header.mode ?? 0) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
      size: type === 'file' ? (header.size ?? 0) : 0,
    };
    if (header.linkname) entry.linkname = type === 'hardlink' ? memberPath(header.linkname) : header.linkname;
    index.entries.set(p, entry);
  });
  return index;
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let a = parentOf(p); a !== ''; a = parentOf(a)) out.push(a);
  return out;
}

/** The merged file system of a list of layers (bottom first). Immutable; `append` returns a new view. */
export class StageFilesystem {
  constructor(
    readonly layers: readonly LayerRef[],
    private readonly cache: LayerIndexCache,
  ) {}

  /** A view with one more layer on top. */
  append(layer: LayerRef): StageFilesystem {
    return new StageFilesystem([...this.layers, layer], this.cache);
  }

  private index(i: number): Promise<LayerIndex> {
    return this.cache.get(this.layers[i] as LayerRef);
  }

  /** Looks `p` up without following symlinks; undefined when absent. The root always exists. */
  async lookup(p: string): Promise<FsEntry | undefined> {
    const target = memberPath(p);
    if (target === '') return { path: '', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, layer: -1 };
    const above = ancestors(target);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const idx = await this.index(i);
      const found = idx.entries.get(target);
      if (found) return { ...found, layer: i };
      if (idx.whiteouts.has(target)) return undefined;
      for (const a of above) {
        if (idx.whiteouts.has(a) || idx.opaques.has(a)) return undefined;
        const e = idx.entries.get(a);
        if (e && e.type !== 'directory') return undefined;
      }
    }
    return undefined;
  }

  /**
   * Resolves symlinks in the parents of `p` (and in `p` itself when `followLast`), staying inside
   * the root like a chroot does. Returns the resolved path and its entry (undefined if missing).
   */
  async resolve(p: string, followLast: boolean): Promise<{ path: string; entry: FsEntry | undefined }> {
    let pending = memberPath(p).split('/').filter((c) => c !== '');
    let done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const component = pending.shift() as string;
      if (component === '..') {
        done.pop();
        continue;
      }
      const candidate = [...done, component].join('/');
      const last = pending.length === 0;
      const entry = await this.lookup(candidate);
      if (entry?.type === 'symlink' && (!last || followLast)) {
        if (++hops > 40) throw new InvalidArgumentError(`too many levels of symbolic links resolving /${memberPath(p)}`);
        const link = entry.linkname ?? '';
        if (link.startsWith('/')) done = [];
        pending = [...link.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
        continue;
      }
      done.push(component);
      if (entry === undefined && !last) {
        return { path: [...done, ...pending].join('/'), entry: undefined };
      }
    }
    const resolved = done.join('/');
    return { path: resolved, entry: await this.lookup(resolved) };
  }

  /** Every entry at or under `p` (not following symlinks), merged over all layers. */
  async listTree(p: string): Promise<FsEntry[]> {
    const root = memberPath(p);
    const prefix = root === '' ? '' : `${root}/`;
    const inScope = (q: string): boolean => root === '' || q === root || q.startsWith(prefix);
    const result = new Map<string, FsEntry>();
    const hidden = new Set<string>();
    const isHidden = (q: string): boolean => hidden.has('') || hidden.has(q) || ancestors(q).some((a) => hidden.has(a));
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const idx = await this.index(i);
      for (const [q, e] of idx.entries) {
        if (!inScope(q) || result.has(q) || isHidden(q)) continue;
        result.set(q, { ...e, layer: i });
      }
      for (const w of idx.whiteouts) hidden.add(w);
      for (const o of idx.opaques) hidden.add(o);
      for (const [q, e] of idx.entries) if (e.type !== 'directory' && inScope(q)) hidden.add(q);
      // Everything lower is shadowed once the root itself is a non-directory, opaque or hidden.
      const top = result.get(root);
      if (root !== '' && top !== undefined && (top.type !== 'directory' || idx.opaques.has(root))) break;
      if (root !== '' && (idx.whiteouts.has(root) || ancestors(root).some((a) => idx.whiteouts.has(a) || idx.opaques.has(a)))) break;
    }
    // Opaque markers hide lower children but keep the directory entries written at that layer.
    return [...result.values()].filter((e) => e.path !== '').sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Reads one small file (e.g. /etc/passwd) following symlinks; undefined when missing. */
  async readText(p: string): Promise<string | undefined> {
    const { entry } = await this.resolve(p, true);
    if (!entry || (entry.type !== 'file' && entry.type !== 'hardlink')) return undefined;
    const chunks: Buffer[] = [];
    const wanted = entry.type === 'hardlink' ? (entry.linkname as string) : entry.path;
    await walkTar(await layerTar(this.layers[entry.layer] as LayerRef), async (header, body) => {
      if (memberPath(header.name) !== wanted) return;
      for await (const c of body) chunks.push(Buffer.from(c));
    });
    return Buffer.concat(chunks).toString('utf8');
  }

  /**
   * Extracts the content of `entries` (files and hardlinks) into `dir`, one layer pass each.
   * Returns host file paths by entry path.
   */
  async extractFiles(entries: readonly FsEntry[], dir: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const byLayer = new Map<number, Map<string, string[]>>();
    for (const e of entries) {
      if (e.type !== 'file' && e.type !== 'hardlink') continue;
      const source = e.type === 'hardlink' ? (e.linkname as string) : e.path;
      const wanted = byLayer.get(e.layer) ?? new Map<string, string[]>();
      wanted.set(source, [...(wanted.get(source) ?? []), e.path]);
      byLayer.set(e.layer, wanted);
    }
    let counter = 0;
    for (const [layer, wanted] of byLayer) {
      await walkTar(await layerTar(this.layers[layer] as LayerRef), async (header, body) => {
        const targets = wanted.get(memberPath(header.name));
        if (!targets || typeOf(header) !== 'file') return;
        const host = path.join(dir, `from-${process.pid}-${Date.now()}-${counter++}`);
        await pipeline(Readable.from(body), createWriteStream(host, { mode: 0o600 }));
        for (const t of targets) out.set(t, host);
      });
    }
    for (const e of entries) {
      if ((e.type === 'file' || e.type === 'hardlink') && !out.has(e.path)) {
        throw new OcibuildError('ERR_LAYER', `content of /${e.path} not found in its layer ${this.layers[e.layer]?.key ?? ''}`);
      }
    }
    return out;
  }
}
