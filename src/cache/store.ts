/**
 * The local cache directory: content-addressed blobs, base manifests by reference and digest,
 * and the index of computed layers. Safe to share between processes: every file is written
 * to a private temp name and renamed into place, nothing is ever locked, and a reader that
 * finds a half-evicted entry treats it as a miss.
 *
 * Layout (`DIR` = `cache.dir`, else `OCIBUILD_CACHE_DIR`, else `~/.cache/ocibuild`):
 * ```
 * DIR/blobs/sha256/HEX           blob bytes (layers, configs, manifests)
 * DIR/manifests/sha256/HEX.json  {"mediaType"} of a manifest blob
 * DIR/refs/HEX.json              {"name","reference","digest","mediaType"} (HEX = sha256 of name + reference)
 * DIR/layers/HEX.json            a computed layer (HEX = its input key)
 * DIR/memo/HEX.json              stat → content digest memo of one layer's host files
 * DIR/tmp/                       temp files of running writers (named after their process: temp.ts)
 * ```
 * Layer blobs and step records can hold private data (a file a RUN step wrote, an ARG value),
 * so every directory is created 0700 and every file 0600 whatever the umask, and an existing
 * cache directory of the user that every user could enter is closed to others when opened. What a
 * killed writer left in `tmp/` is removed by the next {@link openCache} once its process is gone.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { NotFoundError, OcibuildError } from '../errors.ts';
import { parseDigest } from '../oci/digest.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import { readFileStream, writeFileAtomic, writeVerifiedFile } from '../blob/files.ts';
import { defaultCacheDir } from '../blob/dirs.ts';
import { verifyStream } from '../blob/verify.ts';
import type { BlobBody, OperationOptions } from '../transports/types.ts';
import { makePrivateTempDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, removeStaleTemps, tempName } from '../temp.ts';

/**
 * Options of {@link openCache}.
 * @category Cache
 */
export interface CacheOptions {
  /** Cache directory. Default `OCIBUILD_CACHE_DIR`, else `~/.cache/ocibuild`. */
  dir?: string;
  /** Size limit in bytes for blobs; {@link LocalCache.prune} evicts the least recently used beyond it. */
  maxBytes?: number;
}

/**
 * A computed layer as recorded in the index.
 * @category Cache
 */
export interface CachedLayerRecord {
  /** Descriptor of the compressed blob. */
  descriptor: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** Uncompressed size. */
  uncompressedSize: number;
  /** Number of tar entries. */
  entryCount: number;
}

/**
 * A local cache directory (see the module comment for the layout).
 * @category Cache
 */
export interface LocalCache {
  /** The cache directory. */
  readonly dir: string;
  /** The size limit, when set. */
  readonly maxBytes: number | undefined;
  /** Path of a blob's file (whether or not it exists). */
  blobPath(digest: string): string;
  /** True when the blob is stored with `size` bytes (when given). */
  hasBlob(digest: string, size?: number): Promise<boolean>;
  /** Streams a stored blob, verified against `descriptor`; marks it recently used. Throws `ERR_NOT_FOUND` when absent. */
  openBlob(descriptor: Descriptor, options?: OperationOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Stores a blob from a restartable body, verified; a no-op when already stored. */
  putBlob(descriptor: Descriptor, body: BlobBody, options?: OperationOptions): Promise<void>;
  /**
   * Moves a file already verified to hold `digest` into the store (rename when on the same
   * file system, else copy). The file is gone afterwards either way.
   */
  adoptFile(file: string, digest: string): Promise<void>;
  /** Links (or copies) a stored blob to `file`, so eviction cannot take it away while a build uses it. */
  pinBlob(digest: string, file: string): Promise<void>;
  /** Reads a stored manifest by digest. */
  getManifest(digest: string): Promise<RawManifest | undefined>;
  /** Stores a manifest (bytes and media type). */
  putManifest(manifest: RawManifest): Promise<void>;
  /** The manifest digest last seen for `reference` of image `name`. */
  getReference(name: string, reference: string): Promise<{ digest: string; mediaType: string } | undefined>;
  /** Records what `reference` of image `name` pointed at. */
  putReference(name: string, reference: string, manifest: RawManifest): Promise<void>;
  /** Looks up a computed layer by input key; a record whose blob is gone is a miss. */
  getLayer(key: string): Promise<CachedLayerRecord | undefined>;
  /** Records a computed layer under its input key. */
  putLayer(key: string, record: CachedLayerRecord): Promise<void>;
  /** Reads a JSON document under `DIR/<kind>/<name>.json`; undefined when absent or unreadable. */
  readJson<T>(kind: string, name: string): Promise<T | undefined>;
  /** Writes a JSON document atomically under `DIR/<kind>/<name>.json`. */
  writeJson(kind: string, name: string, value: unknown): Promise<void>;
  /** A fresh private temp directory inside the cache (same file system as the blobs). */
  makeTempDir(): Promise<string>;
  /**
   * Evicts least recently used blobs until the total is at most `maxBytes` (default: the
   * cache's limit; no limit means nothing is evicted) and removes temp files left by crashed
   * writers. Blobs used within `graceMs` (default 60 s) are kept, so a running build does not
   * lose what it just looked up. Returns the bytes freed.
   */
  prune(options?: { maxBytes?: number; graceMs?: number }): Promise<number>;
}

export { defaultCacheDir } from '../blob/dirs.ts';

const hex = (digest: string): string => {
  const parsed = parseDigest(digest);
  if (parsed.algorithm !== 'sha256') throw new OcibuildError('ERR_UNSUPPORTED', `the cache stores sha256 blobs only, got ${digest}`);
  return parsed.hex;
};

const isMissing = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** Temp files older than this belong to a crashed writer. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Removes what killed writers left in `tmp` (partial blobs, temp directories) once their process
 * is gone; a live writer's entries stay however old. Names without a start time (older versions)
 * and those of another PID namespace (a cache volume shared by containers) go after an hour
 * without change, as every temp entry did before.
 */
async function removeDeadWriters(tmp: string): Promise<void> {
  await removeStaleTemps(tmp, '', { unjudgedAfterMs: STALE_TEMP_MS });
  await removeStaleTemps(tmp, '.ocibuild-blob-', { unjudgedAfterMs: STALE_TEMP_MS }); // older versions
}

/**
 * Creates `dir` (and missing parents) 0700. An existing cache root of ours that every user can
 * enter (one made by an older version under umask 022) loses its bits for others; group bits
 * stay, as a cache shared by a group on purpose needs them.
 */
async function makePrivateDir(dir: string, root = false): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!root) return;
  const st = await fs.stat(dir);
  if ((st.mode & 0o007) !== 0 && st.uid === process.getuid?.()) await fs.chmod(dir, st.mode & 0o7770);
}

/**
 * Creates the cache's folders when missing; what stops it (`cannot create it (EACCES)`), or
 * undefined when the cache can be used. A read-only or foreign home (a CI pod's `HOME=/`) is
 * the usual cause.
 */
async function cacheDirProblem(dir: string): Promise<string | undefined> {
  try {
    await makePrivateDir(dir, true);
    await makePrivateDir(path.join(dir, 'blobs', 'sha256'));
    await makePrivateDir(path.join(dir, 'tmp'));
    await fs.access(path.join(dir, 'tmp'), fs.constants.W_OK | fs.constants.X_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `cannot create or write it (${code ?? (error as Error).message})`;
  }
}

/**
 * Whether the cache `options` name can be used here: undefined when it can, else why not (the
 * folder is created as {@link openCache} would). Builds that use the default cache without
 * being asked to (the Node preset) go without one, saying so, where it cannot be used.
 */
export async function unusableCache(options: CacheOptions = {}): Promise<string | undefined> {
  const dir = defaultCacheDir(options);
  const problem = await cacheDirProblem(dir);
  return problem === undefined ? undefined : `cache folder ${dir}: ${problem}`;
}

/**
 * Opens (creating when needed) a cache directory: directories 0700, files 0600 whatever the
 * umask; temp entries of writers that were killed are removed (see `removeStaleTemps`).
 * @example
 * ```ts
 * import { buildImage, openCache } from 'ocibuild';
 *
 * const cache = await openCache({ dir: './.ocibuild-cache' });
 * await buildImage({ from: 'registry.example/base:1', to: 'oci:./out:app', cache: { dir: cache.dir } });
 * ```
 * @category Cache
 */
export async function openCache(options: CacheOptions = {}): Promise<LocalCache> {
  const dir = defaultCacheDir(options);
  const tmp = path.join(dir, 'tmp');
  const problem = await cacheDirProblem(dir);
  if (problem !== undefined) {
    throw new OcibuildError('ERR_IO', `cache folder ${dir}: ${problem}: name a writable one (cache.dir, --cache-dir or OCIBUILD_CACHE_DIR) or build without the cache (cache: false, --no-cache)`);
  }
  await removeDeadWriters(tmp);
  const blobPath = (digest: string): string => path.join(dir, 'blobs', 'sha256', hex(digest));
  const tempFile = (): string => path.join(tmp, tempName('', '.tmp'));

  async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
    await makePrivateDir(path.dirname(file));
    // Temp files go to the cache's tmp folder, where the next opener sweeps a dead writer's.
    await writeFileAtomic(file, data, { mode: PRIVATE_FILE_MODE, temp: tempFile() });
  }

  async function readJson<T>(kind: string, name: string): Promise<T | undefined> {
    try {
      return JSON.parse(await fs.readFile(path.join(dir, kind, `${name}.json`), 'utf8')) as T;
    } catch (error) {
      // A torn or foreign file is a miss, not a failure: the cache is only ever an optimisation.
      if (isMissing(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  const touch = (file: string): Promise<void> => {
    const now = new Date();
    // atime is the LRU clock; mount options (relatime, noatime) make the kernel's unreliable.
    return fs.utimes(file, now, now).catch(() => undefined);
  };

  async function hasBlob(digest: string, size?: number): Promise<boolean> {
    try {
      const st = await fs.stat(blobPath(digest));
      return size === undefined || st.size === size;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  const refName = (name: string, reference: string): string =>
    createHash('sha256').update(`${name.length}:${name}${reference.length}:${reference}`).digest('hex');

  return {
    dir,
    maxBytes: options.maxBytes,
    blobPath,
    hasBlob,
    async openBlob(descriptor, opts = {}) {
      const file = blobPath(descriptor.digest);
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(file, 'r');
      } catch (error) {
        if (isMissing(error)) throw new NotFoundError(`cache ${dir}: blob ${descriptor.digest} not found`, { cause: error });
        throw error;
      }
      // The file is open now, so eviction cannot take it away mid-read (unlink keeps open files).
      await handle.close();
      await touch(file);
      return verifyStream(readFileStream(file, { signal: opts.signal }), descriptor, `cache ${dir} blob ${descriptor.digest}`);
    },
    async putBlob(descriptor, body, opts = {}) {
      if (await hasBlob(descriptor.digest, descriptor.size)) return;
      // In a directory named after this process: a killed writer's partial blob is found by the
      // next openCache (removeDeadWriters), however the helper names its temp file.
      const tempDir = await makePrivateTempDir(tmp, '');
      try {
        await writeVerifiedFile(blobPath(descriptor.digest), descriptor, body, {
          ...opts,
          tempDir,
          where: `cache ${dir} blob ${descriptor.digest}`,
          mode: PRIVATE_FILE_MODE,
        });
      } finally {
        await fs.rm(tempDir, { recursive: true, force: true });
      }
    },
    async adoptFile(file, digest) {
      const target = blobPath(digest);
      try {
        // Before the rename: the file was written elsewhere, under whatever umask.
        await fs.chmod(file, PRIVATE_FILE_MODE);
        await fs.rename(file, target);
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'EXDEV') throw error;
        const temp = tempFile();
        try {
          await fs.copyFile(file, temp);
          await fs.chmod(temp, PRIVATE_FILE_MODE);
          await fs.rename(temp, target);
        } finally {
          await fs.rm(temp, { force: true });
          await fs.rm(file, { force: true });
        }
      }
    },
    async pinBlob(digest, file) {
      const source = blobPath(digest);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.rm(file, { force: true });
      try {
        await fs.link(source, file);
      } catch (error) {
        if (isMissing(error)) throw new NotFoundError(`cache ${dir}: blob ${digest} not found`, { cause: error });
        await fs.copyFile(source, file);
      }
      await touch(source);
    },
    async getManifest(digest) {
      const meta = await readJson<{ mediaType: string }>(path.join('manifests', 'sha256'), hex(digest));
      if (meta === undefined) return undefined;
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(blobPath(digest));
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
      const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (actual !== digest) return undefined;
      await touch(blobPath(digest));
      return { mediaType: meta.mediaType, digest, bytes };
    },
    async putManifest(manifest) {
      const file = blobPath(manifest.digest);
      if (!(await hasBlob(manifest.digest, manifest.bytes.byteLength))) await writeAtomic(file, manifest.bytes);
      await writeAtomic(path.join(dir, 'manifests', 'sha256', `${hex(manifest.digest)}.json`), JSON.stringify({ mediaType: manifest.mediaType }));
    },
    async getReference(name, reference) {
      const record = await readJson<{ digest: string; mediaType: string }>('refs', refName(name, reference));
      return record === undefined ? undefined : { digest: record.digest, mediaType: record.mediaType };
    },
    async putReference(name, reference, manifest) {
      await writeAtomic(
        path.join(dir, 'refs', `${refName(name, reference)}.json`),
        JSON.stringify({ name, reference, digest: manifest.digest, mediaType: manifest.mediaType }),
      );
    },
    async getLayer(key) {
      const record = await readJson<CachedLayerRecord>('layers', key);
      if (record === undefined || !(await hasBlob(record.descriptor.digest, record.descriptor.size))) return undefined;
      return record;
    },
    async putLayer(key, record) {
      await writeAtomic(path.join(dir, 'layers', `${key}.json`), JSON.stringify(record));
    },
    readJson,
    async writeJson(kind, name, value) {
      await writeAtomic(path.join(dir, kind, `${name}.json`), JSON.stringify(value));
    },
    async makeTempDir() {
      return makePrivateTempDir(tmp, '');
    },
    async prune(opts = {}) {
      return pruneDirectory(dir, opts.maxBytes ?? options.maxBytes, opts.graceMs ?? 60_000);
    },
  };
}

async function pruneDirectory(dir: string, maxBytes: number | undefined, graceMs: number): Promise<number> {
  const now = Date.now();
  await removeDeadWriters(path.join(dir, 'tmp'));
  if (maxBytes === undefined) return 0;
  const blobDir = path.join(dir, 'blobs', 'sha256');
  const blobs: { file: string; size: number; used: number }[] = [];
  let total = 0;
  for (const name of await fs.readdir(blobDir).catch(() => [] as string[])) {
    const st = await fs.stat(path.join(blobDir, name)).catch(() => undefined);
    if (st === undefined || !st.isFile()) continue;
    blobs.push({ file: path.join(blobDir, name), size: st.size, used: Math.max(st.atimeMs, st.mtimeMs) });
    total += st.size;
  }
  blobs.sort((a, b) => a.used - b.used);
  let freed = 0;
  for (const blob of blobs) {
    if (total - freed <= maxBytes) break;
    if (now - blob.used < graceMs) break;
    // Removing the blob is enough: index records pointing at it become misses on lookup.
    await fs.rm(blob.file, { force: true });
    freed += blob.size;
  }
  return freed;
}
