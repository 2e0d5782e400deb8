/**
 * The OCI image layout transport (`oci:PATH[:TAG]`): reads and writes a directory holding
 * `oci-layout`, `index.json` and `blobs/<alg>/<hex>` (OCI image-spec, image-layout.md).
 *
 * Writing is staged: a new layout is built in a sibling temporary directory that `commit()`
 * renames into place; an existing layout receives blobs one by one (temp file + rename, verified,
 * invisible until referenced) and a new `index.json` (temp file + rename) on `commit()`.
 *
 * Several processes may write one layout at once: `index.json` is re-read and rewritten under
 * a lock file (`index.json.lock`, see `layout-lock.ts`), and a new layout that another process
 * created first is merged into rather than refused, so no tag is lost. Folders and files are
 * created with the process umask (0755/0644 under 022), as skopeo and umoci do. Temp files left
 * by a killed writer are removed by the next one (`layout-cleanup.ts`).
 * @module
 */
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DigestMismatchError, InvalidArgumentError, LimitExceededError, NotFoundError, OcibuildError, throwIfAborted } from '../errors.ts';
import { isDigest, parseDigest } from '../oci/digest.ts';
import { OCI_INDEX, OCI_LAYOUT_VERSION, isIndexMediaType } from '../oci/mediatypes.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import { isErrno, readFileStream, tempName, writeFileAtomic, writeVerifiedFile } from '../blob/files.ts';
import { outlineManifest } from '../image/sniff.ts';
import { hashFactoryFor, readVerified, verifyStream } from '../blob/verify.ts';
import { removeAbandonedTemps } from './layout-cleanup.ts';
import { isLayout, moveBlobs } from './layout-merge.ts';
import { applyOps, REF_NAME_ANNOTATION, validateTag, type IndexDocument, type IndexOp } from './layout-index.ts';
import { withFileLock } from './layout-lock.ts';
import { scanReferrers } from './layout-referrers.ts';
import { referrerOf } from '../oci/referrers.ts';
import { readIndexFile } from './layout-read.ts';
import type { BlobBody, OperationOptions, Transport } from './types.ts';

export { REF_NAME_ANNOTATION } from './layout-index.ts';

/**
 * Options of {@link ociLayout}.
 * @category Images
 */
export interface OciLayoutOptions {
  /** Create the layout on the first write when it does not exist (default true). */
  create?: boolean;
  /** Hash implementation for verification (default node:crypto). */
  hash?: HashFactory;
  /** Longest wait for another process's lock on `index.json`, in ms (default 60,000); then `ERR_LOCKED`. */
  lockWaitMs?: number;
  /** Largest manifest or index read whole, in bytes (default 4 MiB, as for registries); then `ERR_LIMIT_EXCEEDED`. */
  maxManifestBytes?: number;
  /** Largest `index.json` read, in bytes (default 64 MiB: about 200,000 tags); then `ERR_LIMIT_EXCEEDED`. */
  maxIndexBytes?: number;
}

/** Default of {@link OciLayoutOptions.maxManifestBytes}. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Default of {@link OciLayoutOptions.maxIndexBytes}. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/**
 * An OCI layout transport; `commit()` and `close()` are always present.
 * @category Images
 */
export interface OciLayoutTransport extends Transport {
  /** Absolute path of the layout directory. */
  readonly path: string;
  /**
   * The manifests in the layout whose `subject` is `digest` (see `layout-referrers.ts`): every
   * manifest reachable from `index.json` is read once, including this writer's uncommitted ones.
   */
  listReferrers(digest: string, options?: OperationOptions & { artifactType?: string }): Promise<Descriptor[]>;
  /** The tags (`ref.name` annotations) in `index.json`, including uncommitted ones. */
  listTags(): Promise<string[]>;
  /** Makes the written manifests and tags visible (see the module comment). */
  commit(options?: OperationOptions): Promise<void>;
  /** Discards an uncommitted new layout. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens the OCI image layout at `path` for reading and writing. Nothing touches the disk until
 * the first operation. Writes become visible on `commit()`.
 * @example
 * ```ts
 * import { copyImage, ociLayout } from 'ocibuild';
 *
 * const layout = ociLayout('./images');
 * const raw = await layout.getManifest('v1');
 * await copyImage(layout, 'v1', ociLayout('./copy'), ['v1']);
 * console.log(raw.digest);
 * ```
 * @category Images
 */
export function ociLayout(path: string, options: OciLayoutOptions = {}): OciLayoutTransport {
  return new OciLayout(resolve(path), options);
}

type Mode = 'existing' | 'absent' | 'new';

class OciLayout implements OciLayoutTransport {
  readonly path: string;
  readonly description: string;
  readonly #options: OciLayoutOptions;
  #init: Promise<void> | undefined;
  #mode: Mode = 'absent';
  #index: IndexDocument = { schemaVersion: 2, manifests: [] };
  #staging: string | undefined;
  #writable: Promise<void> | undefined;
  #ops: IndexOp[] = [];
  /** Digests referenced as children by indexes written in this session (never top-level on their own). */
  readonly #children = new Set<string>();
  #closed = false;

  constructor(path: string, options: OciLayoutOptions) {
    this.path = path;
    this.description = `oci:${path}`;
    this.#options = options;
  }

  async getManifest(reference: string, options: OperationOptions = {}): Promise<RawManifest> {
    throwIfAborted(options.signal);
    await this.#ready();
    const entries = this.#currentEntries();
    // Nothing there and nothing staged: say so rather than "0 manifests" or "tag not found".
    if (this.#mode === 'absent' && entries.length === 0) {
      throw new NotFoundError(`${this.description}: no OCI image layout there (${await pathState(this.path)})`);
    }
    let entry: Descriptor | undefined;
    if (reference === undefined || reference === '') {
      // Artifacts attached to an image (SBOMs, signatures: untagged entries with an artifactType,
      // as oras and ocibuild list them) do not count as a second image.
      const images = entries.length > 1 ? entries.filter((d) => d.artifactType === undefined || d.annotations?.[REF_NAME_ANNOTATION] !== undefined) : entries;
      if (images.length !== 1) {
        throw new OcibuildError(
          images.length === 0 ? 'ERR_NOT_FOUND' : 'ERR_INVALID_ARGUMENT',
          `${this.description}: index.json holds ${images.length} manifests; name one by tag or digest`,
        );
      }
      entry = images[0];
    } else if (isDigest(reference)) {
      entry = entries.find((d) => d.digest === reference);
      if (entry === undefined) {
        const bytes = await this.#readWholeBlob(reference, options);
        return { mediaType: outlineManifest(bytes, `${this.description}@${reference}`).mediaType, digest: reference, bytes };
      }
    } else {
      entry = entries.findLast((d) => d.annotations?.[REF_NAME_ANNOTATION] === reference);
    }
    if (entry === undefined) {
      throw new NotFoundError(`${this.description}: no manifest tagged ${JSON.stringify(reference)}`);
    }
    const where = `${this.description} manifest ${entry.digest}`;
    this.#checkManifestSize(entry.size, where);
    const bytes = await readVerified(await this.#openBlob(entry, options), entry, where, this.#options.hash);
    const mediaType = entry.mediaType !== undefined && entry.mediaType !== '' ? entry.mediaType : outlineManifest(bytes, where).mediaType;
    return { mediaType, digest: entry.digest, bytes };
  }

  async putManifest(manifest: RawManifest, reference: string | undefined, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const where = `${this.description} manifest ${manifest.digest}`;
    const actual = hashFactoryFor(manifest.digest, this.#options.hash).create();
    actual.update(manifest.bytes);
    const computed = actual.digest();
    if (computed !== manifest.digest) throw new DigestMismatchError(manifest.digest, computed, where);
    if (reference !== undefined && reference !== '') validateTag(reference, this.description);
    const descriptor: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.byteLength };
    await this.putBlob(descriptor, async function* () {
      yield manifest.bytes;
    }, options);
    if (isIndexMediaType(manifest.mediaType)) {
      for (const child of outlineManifest(manifest.bytes, where, manifest.mediaType).manifests) this.#children.add(child.digest);
    }
    if (reference === undefined || reference === '') {
      // A referrer (a manifest with a subject) is listed with its artifactType, as oras lists it,
      // so readers tell it from an image.
      const artifactType = referrerOf(manifest)?.descriptor.artifactType;
      this.#ops.push({ kind: 'untagged', descriptor: artifactType === undefined ? descriptor : { ...descriptor, artifactType }, explicit: reference === '' });
    } else {
      this.#ops.push({ kind: 'tag', tag: reference, descriptor });
    }
  }

  async hasBlob(descriptor: Descriptor, options: OperationOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    await this.#ready();
    const path = this.#blobPath(descriptor.digest);
    if (path === undefined) return false;
    try {
      // A file of the wrong size is corrupt; report it absent so that it is written again.
      return (await stat(path)).size === descriptor.size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    }
  }

  async getBlob(descriptor: Descriptor, options: OperationOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    throwIfAborted(options.signal);
    await this.#ready();
    return await this.#openBlob(descriptor, options);
  }

  async putBlob(descriptor: Descriptor, body: BlobBody, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    await this.#ensureWritable();
    if (await this.hasBlob(descriptor, options)) return;
    const path = this.#blobPath(descriptor.digest) as string;
    const base = this.#mode === 'new' ? (this.#staging as string) : this.path;
    await writeVerifiedFile(path, descriptor, body, {
      ...options,
      tempDir: base,
      where: `${this.description} blob ${descriptor.digest}`,
      hash: this.#options.hash,
    });
  }

  async listReferrers(digest: string, options: OperationOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    throwIfAborted(options.signal);
    await this.#ready();
    const read = (d: string) => this.getManifest(d, options);
    return scanReferrers(this.#currentEntries(), digest, read, this.description, options.artifactType);
  }

  async listTags(): Promise<string[]> {
    await this.#ready();
    const tags = this.#currentEntries().map((d) => d.annotations?.[REF_NAME_ANNOTATION]);
    return tags.filter((t): t is string => t !== undefined);
  }

  async commit(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#assertOpen();
    await this.#ready();
    if (this.#mode === 'absent') return; // nothing was written
    if (this.#mode === 'new') {
      const staging = this.#staging as string;
      const index = applyOps({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, this.#ops, this.#children);
      await writeFile(join(staging, 'oci-layout'), JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
      await writeFile(join(staging, 'index.json'), JSON.stringify(index));
      let merged = false;
      try {
        // rename(2) replaces an empty directory but fails on a non-empty one, so a layout that
        // appeared meanwhile is never overwritten.
        await rename(staging, this.path);
      } catch (error) {
        // Another writer created the layout first (a parallel push): add to it instead.
        if (!(isErrno(error, 'ENOTEMPTY') || isErrno(error, 'EEXIST')) || !(await isLayout(this.path))) {
          throw new OcibuildError('ERR_TRANSPORT', `${this.description}: cannot move the new layout into place`, { cause: error });
        }
        await moveBlobs(join(staging, 'blobs'), join(this.path, 'blobs'));
        merged = true;
      }
      this.#staging = undefined;
      this.#mode = 'existing';
      if (merged) {
        try {
          await this.#updateIndex(options);
        } finally {
          await rm(staging, { recursive: true, force: true });
        }
      } else {
        this.#index = index;
      }
    } else {
      await this.#updateIndex(options);
    }
    this.#ops = [];
    this.#children.clear();
  }

  /**
   * Applies this session's tag and manifest changes to `index.json` under the layout's lock,
   * re-reading it there so that tags written by other processes since we opened it are kept.
   */
  async #updateIndex(options: OperationOptions): Promise<void> {
    const lockOptions = {
      where: this.description,
      waitMs: this.#options.lockWaitMs,
      signal: options.signal,
    };
    this.#index = await withFileLock(join(this.path, 'index.json.lock'), lockOptions, async () => {
      const index = applyOps(await this.#readIndex(), this.#ops, this.#children);
      await writeFileAtomic(join(this.path, 'index.json'), JSON.stringify(index));
      return index;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writable?.catch(() => undefined);
    if (this.#staging !== undefined) {
      await rm(this.#staging, { recursive: true, force: true });
      this.#staging = undefined;
    }
    this.#ops = [];
  }

  #assertOpen(): void {
    if (this.#closed) throw new OcibuildError('ERR_TRANSPORT', `${this.description}: transport is closed`);
  }

  #ready(): Promise<void> {
    this.#init ??= this.#load();
    return this.#init;
  }

  async #load(): Promise<void> {
    let layoutFile: string;
    try {
      layoutFile = await readFile(join(this.path, 'oci-layout'), 'utf8');
    } catch (error) {
      if (!isErrno(error, 'ENOENT') && !isErrno(error, 'ENOTDIR')) throw error;
      // A missing or empty directory is a layout still to be created.
      const names = await readdir(this.path).catch((e: unknown) => {
        if (isErrno(e, 'ENOENT')) return [];
        if (isErrno(e, 'ENOTDIR')) throw new InvalidArgumentError(`${this.description}: not a folder (an OCI image layout is one)`, { cause: e });
        throw new OcibuildError('ERR_IO', `${this.description}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
      });
      if (names.length > 0) {
        throw new InvalidArgumentError(`${this.description}: directory is not empty and has no oci-layout file`);
      }
      this.#mode = 'absent';
      return;
    }
    let version: unknown;
    try {
      version = (JSON.parse(layoutFile) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch (error) {
      throw new InvalidArgumentError(`${this.description}: oci-layout is not JSON`, { cause: error });
    }
    if (typeof version !== 'string' || !version.startsWith('1.')) {
      throw new OcibuildError('ERR_UNSUPPORTED', `${this.description}: unsupported imageLayoutVersion ${JSON.stringify(version)}`);
    }
    this.#index = await this.#readIndex();
    this.#mode = 'existing';
  }

  #readIndex(): Promise<IndexDocument> {
    return readIndexFile(join(this.path, 'index.json'), this.#options.maxIndexBytes ?? MAX_INDEX_BYTES, this.description);
  }

  #ensureWritable(): Promise<void> {
    this.#assertOpen();
    this.#writable ??= (async () => {
      await this.#ready();
      // What a killed writer left here is ours to clear before adding more.
      await removeAbandonedTemps(this.path);
      if (this.#mode !== 'absent') return;
      if (this.#options.create === false) {
        throw new NotFoundError(`${this.description}: no OCI layout here (create is false)`);
      }
      await mkdir(dirname(this.path), { recursive: true });
      // A sibling directory is on the same file system, so commit() is one rename. Not mkdtemp:
      // its 0700 would become the layout's mode; this one follows the umask, as skopeo's does.
      // The name records our pid, so a later run can tell when it was abandoned.
      const staging = join(dirname(this.path), tempName(`.${basename(this.path)}.tmp`));
      await mkdir(staging);
      this.#staging = staging;
      await mkdir(join(staging, 'blobs'));
      this.#mode = 'new';
    })();
    return this.#writable;
  }

  #blobPath(digest: string): string | undefined {
    const { algorithm, hex } = parseDigest(digest);
    const base = this.#mode === 'new' ? this.#staging : this.#mode === 'existing' ? this.path : undefined;
    return base === undefined ? undefined : join(base, 'blobs', algorithm, hex);
  }

  async #openBlob(descriptor: Descriptor, options: OperationOptions): Promise<AsyncIterable<Uint8Array>> {
    const path = this.#blobPath(descriptor.digest);
    const where = `${this.description} blob ${descriptor.digest}`;
    if (path === undefined) throw new NotFoundError(`${where} not found`);
    try {
      await stat(path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new NotFoundError(`${where} not found`, { cause: error });
      throw error;
    }
    const read = readFileStream(path, options.signal === undefined ? {} : { signal: options.signal });
    return verifyStream(read, descriptor, where, this.#options.hash);
  }

  async #readWholeBlob(digest: string, options: OperationOptions): Promise<Uint8Array> {
    const path = this.#blobPath(digest);
    let size: number;
    if (path === undefined) throw new NotFoundError(`${this.description}: manifest ${digest} not found`);
    try {
      size = (await stat(path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new NotFoundError(`${this.description}: manifest ${digest} not found`, { cause: error });
      throw error;
    }
    const where = `${this.description} manifest ${digest}`;
    this.#checkManifestSize(size, where);
    return await readVerified(await this.#openBlob({ mediaType: '', digest, size }, options), { digest, size }, where, this.#options.hash);
  }

  /** Manifests are read whole into memory: refuse one declared (or stored) over the limit first. */
  #checkManifestSize(size: number, where: string): void {
    const max = this.#options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    if (size > max) {
      throw new LimitExceededError('maxManifestBytes', max, `${where}: ${size} bytes is larger than maxManifestBytes (${max}); raise the ociLayout option maxManifestBytes if this is expected`);
    }
  }

  /** index.json entries as they will be after commit (reads see the writer's own changes). */
  #currentEntries(): Descriptor[] {
    return applyOps(this.#index, this.#ops, this.#children).manifests;
  }
}

/** Why a path holds no layout: missing, an empty folder, or something else. */
async function pathState(path: string): Promise<string> {
  try {
    const st = await stat(path);
    return st.isDirectory() ? 'an empty folder' : 'not a folder';
  } catch {
    return 'no such folder';
  }
}
