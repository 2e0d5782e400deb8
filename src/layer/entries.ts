/**
 * Resolves a {@link LayerSpec} into the exact, ordered list of tar entries: directory sources
 * walked, explicit entries applied on top, parents created, hardlinks found, metadata defaulted.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArgumentError, OcibuildError, throwIfAborted } from '../errors.ts';
import { baseLayerName, joinLayerPath, normalizeLayerPath, parentLayerPath } from './paths.ts';
import { entryTypeOf, isNotFound, readHostFile, splitDevice, walkDirectory } from './source.ts';
import type { EntryMetadata, LayerEntry, LayerEvent, LayerSpec, ResolvedLayerEntry } from './types.ts';

/** Options of {@link listLayerEntries}. */
export interface ListLayerEntriesOptions {
  /** Default mtime in seconds when neither the entry nor the spec sets one. Default: `SOURCE_DATE_EPOCH`, else 1. */
  sourceDateEpoch?: number;
  /** Abort signal. */
  signal?: AbortSignal;
  /** Receives warnings (skipped sockets, entries shadowed by a non-directory). */
  onEvent?: (event: LayerEvent) => void;
}

/** 1970-01-01T00:00:01Z: some tools treat mtime 0 as "unset", so reproducible builds use 1. */
export const DEFAULT_MTIME = 1;

/**
 * Reads `SOURCE_DATE_EPOCH` from the environment: undefined when unset or empty, else whole
 * seconds. Throws `ERR_INVALID_ARGUMENT` for anything but a non-negative integer.
 * @example
 * ```ts
 * import { buildImage, sourceDateEpochFromEnv } from 'ocibuild';
 *
 * const epoch = sourceDateEpochFromEnv(); // SOURCE_DATE_EPOCH, checked; undefined when unset
 * await buildImage({ from: 'registry.example/base:1', to: 'oci:./out:app', ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}) });
 * ```
 * @category Layers
 */
export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value.trim() === '') return undefined;
  if (!/^\d+$/.test(value.trim())) {
    throw new InvalidArgumentError(`SOURCE_DATE_EPOCH must be whole seconds since the epoch, got ${JSON.stringify(value)}`);
  }
  return Number(value.trim());
}

/** A resolved entry plus what resolution still needs. */
interface Candidate extends ResolvedLayerEntry {
  /** `dev:ino` of a host file with more than one link. */
  inode?: string;
}

const toSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

function normalizedMode(type: Candidate['type'], mode: number): number {
  if (type === 'directory') return 0o755;
  if (type === 'file') return mode & 0o111 ? 0o755 : 0o644;
  return mode;
}

/**
 * Lists the entries of a layer in the order they are written: sorted by the UTF-8 bytes of the
 * normalised path (so parents precede children), no duplicates (explicit entries override
 * directory sources, later ones earlier ones), parents created with `spec.parents`, files sharing
 * an inode turned into one file plus hardlinks. Nothing is read from files until `open()`.
 * Throws `ERR_PATH_ESCAPE` and `ERR_SOURCE_NOT_FOUND` naming the offending path.
 */
export async function* listLayerEntries(spec: LayerSpec, options: ListLayerEntriesOptions = {}): AsyncGenerator<ResolvedLayerEntry> {
  const { signal } = options;
  const defaultMtime = spec.mtime !== undefined ? toSeconds(spec.mtime) : (options.sourceDateEpoch ?? sourceDateEpochFromEnv() ?? DEFAULT_MTIME);
  const base = (meta: EntryMetadata | undefined) => ({
    uid: meta?.uid ?? 0,
    gid: meta?.gid ?? 0,
    uname: meta?.uname ?? '',
    gname: meta?.gname ?? '',
    mtime: meta?.mtime !== undefined ? toSeconds(meta.mtime) : defaultMtime,
  });
  const byPath = new Map<string, Candidate>();

  for (const source of spec.directories ?? []) {
    throwIfAborted(signal);
    const root = path.resolve(source.source);
    const destination = normalizeLayerPath(source.destination ?? '/');
    let rootStats;
    try {
      rootStats = await fs.stat(root);
    } catch (error) {
      if (isNotFound(error)) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `source directory ${source.source} does not exist`, { cause: error });
      throw error;
    }
    if (!rootStats.isDirectory()) {
      throw new InvalidArgumentError(`source ${source.source} is not a directory`);
    }
    const meta = source.metadata;
    if (destination !== '') {
      // The destination directory itself takes the parent defaults, then this source's overrides
      // (so an ownership override also covers the directory it creates, as COPY --chown does).
      byPath.set(destination, {
        path: destination,
        type: 'directory',
        size: 0,
        ...base({ ...spec.parents, ...meta }),
        mode: meta?.mode ?? spec.parents?.mode ?? 0o755,
      });
    }
    const walked = await walkDirectory(root, { include: source.include, exclude: source.exclude, filter: source.filter, signal });
    for (const { relative, absolute, stats } of walked) {
      const type = entryTypeOf(stats);
      if (type === undefined) {
        options.onEvent?.({ type: 'warning', path: absolute, message: 'socket skipped: tar cannot store sockets' });
        continue;
      }
      const layerPath = joinLayerPath(destination, relative);
      const diskMode = stats.mode & 0o7777;
      const candidate: Candidate = {
        path: layerPath,
        type,
        size: type === 'file' ? stats.size : 0,
        ...base(meta),
        mode: meta?.mode ?? (spec.normalizeModes ? normalizedMode(type, diskMode) : diskMode),
        source: absolute,
      };
      if (type === 'file') {
        const size = stats.size;
        candidate.open = () => readHostFile(absolute, size, signal);
        if (stats.nlink > 1) candidate.inode = `${stats.dev}:${stats.ino}`;
      } else if (type === 'symlink') {
        candidate.linkname = await fs.readlink(absolute);
      } else if (type === 'char-device' || type === 'block-device') {
        Object.assign(candidate, splitDevice(stats.rdev));
      }
      byPath.set(layerPath, candidate);
    }
  }

  for (const entry of spec.entries ?? []) {
    throwIfAborted(signal);
    const candidate = await resolveExplicit(entry, spec, base);
    if (candidate !== undefined) byPath.set(candidate.path, candidate);
  }

  // Parents of every path, created with the spec's parent metadata when not listed.
  for (const key of [...byPath.keys()]) {
    for (let parent = parentLayerPath(key); parent !== '' && !byPath.has(parent); parent = parentLayerPath(parent)) {
      byPath.set(parent, { path: parent, type: 'directory', size: 0, ...base(spec.parents), mode: spec.parents?.mode ?? 0o755 });
    }
  }

  const sorted = [...byPath.values()]
    .map((entry) => ({ entry, key: Buffer.from(entry.path) }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ entry }) => entry);

  // An explicit hardlink may sort before the file it names (`/app/a-link` -> `/app/run.sh`), but a
  // tar reader can only link to what it has already extracted. Within a layer all names of a file
  // are equal, so the first name in write order carries the bytes and the others link to it.
  const firstOfFile = new Map<string, string>();
  for (const entry of sorted) {
    if (entry.type !== 'hardlink' || entry.linkname === undefined) continue;
    const target = byPath.get(entry.linkname);
    if (target?.type !== 'file') continue;
    const first = firstOfFile.get(entry.linkname) ?? entry.linkname;
    if (Buffer.compare(Buffer.from(entry.path), Buffer.from(first)) < 0) firstOfFile.set(entry.linkname, entry.path);
  }
  const carrierOf = new Map<string, string>([...firstOfFile].map(([file, first]) => [first, file]));

  const firstByInode = new Map<string, string>();
  for (const entry of sorted) {
    throwIfAborted(signal);
    if (shadowedByNonDirectory(entry.path, byPath)) {
      options.onEvent?.({ type: 'warning', path: entry.path, message: 'entry dropped: a parent path is not a directory in this layer' });
      continue;
    }
    const carried = carrierOf.get(entry.path);
    if (carried !== undefined) {
      // This link comes first: it is written as the file (bytes and metadata of the file).
      const { inode: _inode, ...file } = byPath.get(carried) as Candidate;
      yield { ...file, path: entry.path };
      continue;
    }
    const moved = entry.type === 'file' ? firstOfFile.get(entry.path) : entry.type === 'hardlink' && entry.linkname !== undefined ? firstOfFile.get(entry.linkname) : undefined;
    if (moved !== undefined && moved !== entry.path) {
      const { inode: linkedInode, open: _open, ...rest } = entry;
      if (linkedInode !== undefined && !firstByInode.has(linkedInode)) firstByInode.set(linkedInode, moved);
      yield { ...rest, type: 'hardlink', size: 0, linkname: moved };
      continue;
    }
    const { inode, ...resolved } = entry;
    if (inode !== undefined) {
      const first = firstByInode.get(inode);
      if (first === undefined) {
        firstByInode.set(inode, entry.path);
      } else {
        // Same inode seen earlier in write order: store a hardlink to it, not the bytes again.
        delete resolved.open;
        yield { ...resolved, type: 'hardlink', size: 0, linkname: first };
        continue;
      }
    }
    yield resolved;
  }
}

function shadowedByNonDirectory(entryPath: string, byPath: Map<string, Candidate>): boolean {
  for (let parent = parentLayerPath(entryPath); parent !== ''; parent = parentLayerPath(parent)) {
    if (byPath.get(parent)?.type !== 'directory') return true;
  }
  return false;
}

type BaseFn = (meta: EntryMetadata | undefined) => Pick<ResolvedLayerEntry, 'uid' | 'gid' | 'uname' | 'gname' | 'mtime'>;

async function resolveExplicit(entry: LayerEntry, spec: LayerSpec, base: BaseFn): Promise<Candidate | undefined> {
  const entryPath = normalizeLayerPath(entry.path);
  if (entry.type === 'whiteout' || entry.type === 'opaque') {
    if (entry.type === 'whiteout' && entryPath === '') {
      throw new InvalidArgumentError('a whiteout cannot remove the image root');
    }
    // Empty regular files with mode 0, as Docker and the OCI layer spec write them.
    const marker =
      entry.type === 'whiteout'
        ? joinLayerPath(parentLayerPath(entryPath), `.wh.${baseLayerName(entryPath)}`)
        : joinLayerPath(entryPath, '.wh..wh..opq');
    return { path: marker, type: 'file', size: 0, ...base(undefined), mode: 0, open: emptyContent };
  }
  if (entryPath === '') {
    if (entry.type === 'directory') return undefined; // the root exists in every image
    throw new InvalidArgumentError(`a ${entry.type} entry cannot be the image root (${JSON.stringify(entry.path)})`);
  }
  const meta = base(entry);
  switch (entry.type) {
    case 'directory':
      return { path: entryPath, type: 'directory', size: 0, ...meta, mode: entry.mode ?? 0o755 };
    case 'symlink':
      return { path: entryPath, type: 'symlink', size: 0, ...meta, mode: entry.mode ?? 0o777, linkname: entry.target };
    case 'hardlink': {
      const target = normalizeLayerPath(entry.target);
      if (target === '') throw new InvalidArgumentError(`hardlink ${entry.path} cannot point at the image root`);
      return { path: entryPath, type: 'hardlink', size: 0, ...meta, mode: entry.mode ?? 0o644, linkname: target };
    }
    case 'file': {
      const source = entry.source;
      if (typeof source !== 'string') {
        return { path: entryPath, type: 'file', size: source.length, ...meta, mode: entry.mode ?? 0o644, open: () => once(source) };
      }
      let stats;
      try {
        stats = await fs.stat(source);
      } catch (error) {
        if (isNotFound(error)) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `source file ${source} (for ${entry.path}) does not exist`, { cause: error });
        throw error;
      }
      if (!stats.isFile()) throw new InvalidArgumentError(`source ${source} (for ${entry.path}) is not a regular file`);
      const diskMode = stats.mode & 0o7777;
      const size = stats.size;
      return {
        path: entryPath,
        type: 'file',
        size,
        ...meta,
        mode: entry.mode ?? (spec.normalizeModes ? normalizedMode('file', diskMode) : diskMode),
        source,
        open: () => readHostFile(source, size),
      };
    }
  }
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

async function* emptyContent(): AsyncGenerator<Uint8Array> {}
