/**
 * The docker-archive transport (`docker-archive:PATH[:REF]`): the tarball `docker save` writes
 * and `docker load` reads: `manifest.json` (`[{"Config","RepoTags","Layers"}]`), the config
 * file and one file per layer.
 *
 * Writing: blobs are spilled to a temporary directory; `commit()` streams the tar to a temporary
 * file next to PATH and renames it into place. Layers are stored as they are pushed, so gzip
 * layers stay compressed (`<hex>.tar.gz`), which `docker load` and skopeo both accept (skopeo
 * itself stores them decompressed). No legacy `repositories` file or v1 layer directories are
 * written: loaders use `manifest.json` when it is present.
 *
 * Reading: a Docker v2.2 manifest is synthesised for the chosen image. Each layer is served as
 * stored, with the digest and size of the stored bytes; a gzip layer gets the gzip media type and
 * an uncompressed one `application/vnd.docker.image.rootfs.diff.tar` (skopeo serves the same
 * uncompressed bytes but labels them gzip; the honest type lets a destination see what it gets).
 * @module
 */
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { DigestMismatchError, NotFoundError, OcibuildError, throwIfAborted, UnsupportedError } from '../errors.ts';
import { isDigest, parseDigest } from '../oci/digest.ts';
import { encodeManifest, parseManifest } from '../oci/manifest.ts';
import { DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER_ZSTD, OCI_MANIFEST } from '../oci/mediatypes.ts';
import { artifactTypeOf, isZstdLayer } from '../image/kinds.ts';
import type { Descriptor, ImageManifest, RawManifest } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import { nodeHash } from '../hash/node.ts';
import type { TransportCapabilities } from '../image/transport.ts';
import { isErrno, readFileStream, sweepStaleTempFiles, tempName, writeVerifiedFile } from '../blob/files.ts';
import { indexTar, resolveMember, type TarMember } from '../image/tar-index.ts';
import { isArchiveEntry, layerFileName, normalizeName, repoTag, startsWith, type ArchiveEntry } from './docker-archive-names.ts';
import { hashFactoryFor, readAll, verifyStream } from '../blob/verify.ts';
import type { BlobBody, OperationOptions, Transport } from './types.ts';

export { DOCKER_LAYER_TAR } from '../oci/mediatypes.ts';

/**
 * Options of {@link dockerArchive}.
 * @category Images
 */
export interface DockerArchiveOptions {
  /** Extra `repo:tag` names recorded in `RepoTags` for every image written. */
  tags?: readonly string[];
  /** Directory for spilled blobs (default the OS temp directory). */
  tempDir?: string;
  /** Hash implementation for verification. */
  hash?: HashFactory;
}

/**
 * A docker-archive transport; it holds single-platform images only.
 * @category Images
 */
export interface DockerArchiveTransport extends Transport, TransportCapabilities {
  /** Absolute path of the tarball. */
  readonly path: string;
  /** Always false: an index is refused with `ERR_UNSUPPORTED`. */
  readonly acceptsIndex: false;
  /** Always false: `docker load` reads container images only; an OCI artifact is refused. */
  readonly acceptsArtifacts: false;
  /** Always false: `docker load` reads gzip or uncompressed layers; a zstd layer is refused. */
  readonly acceptsZstd: false;
  /** Always true: the archive holds every layer, so foreign layers are fetched from their URLs. */
  readonly needsForeignLayers: true;
  /** Writes the tarball (temp file + rename). */
  commit(options?: OperationOptions): Promise<void>;
  /** Removes spilled blobs and any unfinished tarball. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens a docker-archive tarball for reading (as a copy source) or writing (on `commit()`).
 * @example
 * ```ts
 * import { copyImage, dockerArchive, ociLayout } from 'ocibuild';
 *
 * // The tarball `docker load` reads, naming the image app:1.
 * await copyImage(ociLayout('./out'), 'app-1', dockerArchive('./app.tar'), ['app:1']);
 * ```
 * @category Images
 */
export function dockerArchive(path: string, options: DockerArchiveOptions = {}): DockerArchiveTransport {
  return new DockerArchive(resolve(path), options);
}


interface Reader {
  members: Map<string, TarMember>;
  entries: ArchiveEntry[];
}

interface PendingImage {
  manifest: RawManifest;
  parsed: ImageManifest;
  tags: Set<string>;
}

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

class DockerArchive implements DockerArchiveTransport {
  readonly path: string;
  readonly description: string;
  readonly acceptsIndex = false as const;
  readonly acceptsArtifacts = false as const;
  readonly acceptsZstd = false as const;
  readonly needsForeignLayers = true as const;
  readonly #options: DockerArchiveOptions;
  #reader: Promise<Reader> | undefined;
  readonly #synthesised = new Map<number, Promise<RawManifest>>();
  /** Blobs of the archive being read, by digest. */
  readonly #archiveBlobs = new Map<string, TarMember>();
  #spill: Promise<string> | undefined;
  /** Blobs written, by digest. */
  readonly #written = new Map<string, Descriptor>();
  readonly #images = new Map<string, PendingImage>();
  #tmpTar: string | undefined;
  #closed = false;

  constructor(path: string, options: DockerArchiveOptions) {
    this.path = path;
    this.description = `docker-archive:${path}`;
    this.#options = options;
  }

  // ---- reading ----

  async getManifest(reference: string, options: OperationOptions = {}): Promise<RawManifest> {
    throwIfAborted(options.signal);
    const pending = this.#findPending(reference ?? '');
    if (pending !== undefined) return pending.manifest;
    const { entries } = await this.#read();
    if (reference !== undefined && isDigest(reference)) {
      for (let i = 0; i < entries.length; i++) {
        const raw = await this.#synthesise(i);
        if (raw.digest === reference) return raw;
      }
      throw new NotFoundError(`${this.description}: no image with manifest ${reference}`);
    }
    const index = this.#findImage(entries, reference ?? '');
    if (index === undefined) throw new NotFoundError(`${this.description}: no image named ${JSON.stringify(reference)}`);
    return await this.#synthesise(index);
  }

  async hasBlob(descriptor: Descriptor, options: OperationOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    // Only what will be in the written archive counts: a rewrite never copies the old file's blobs.
    return this.#written.get(descriptor.digest)?.size === descriptor.size;
  }

  async getBlob(descriptor: Descriptor, options: OperationOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    throwIfAborted(options.signal);
    const where = `${this.description} blob ${descriptor.digest}`;
    const signal = options.signal === undefined ? {} : { signal: options.signal };
    if (this.#written.has(descriptor.digest)) {
      return verifyStream(readFileStream(await this.#spillPath(descriptor.digest), signal), descriptor, where, this.#options.hash);
    }
    const { entries } = await this.#read();
    for (let i = 0; i < entries.length && !this.#archiveBlobs.has(descriptor.digest); i++) await this.#synthesise(i);
    const member = this.#archiveBlobs.get(descriptor.digest);
    if (member === undefined) throw new NotFoundError(`${where} not found`);
    return verifyStream(this.#memberStream(member, options.signal), descriptor, where, this.#options.hash);
  }

  #read(): Promise<Reader> {
    this.#reader ??= (async () => {
      let members: Map<string, TarMember>;
      try {
        members = await indexTar(this.path, this.description);
      } catch (error) {
        if (isErrno(error, 'ENOENT')) throw new NotFoundError(`${this.description} does not exist`, { cause: error });
        throw error;
      }
      const member = resolveMember(members, 'manifest.json');
      if (member === undefined) {
        // A tar of docker save's old layout (a `repositories` file, folders per layer) is a
        // docker-archive without manifest.json; anything else is not one at all.
        if (members.size === 0) throw new OcibuildError('ERR_INVALID_MANIFEST', `${this.description} is not a tar archive (no member could be read)`);
        if (resolveMember(members, 'repositories') !== undefined) throw new OcibuildError('ERR_UNSUPPORTED', `${this.description} has no manifest.json (pre-1.10 docker save format)`);
        throw new OcibuildError('ERR_INVALID_MANIFEST', `${this.description} is not a docker save tarball (no manifest.json among its ${members.size} members)`);
      }
      let entries: unknown;
      try {
        entries = JSON.parse(new TextDecoder().decode(await readAll(this.#memberStream(member))));
      } catch (error) {
        throw new OcibuildError('ERR_INVALID_MANIFEST', `${this.description}: manifest.json is not JSON`, { cause: error });
      }
      if (!Array.isArray(entries) || !entries.every(isArchiveEntry)) {
        throw new OcibuildError('ERR_INVALID_MANIFEST', `${this.description}: manifest.json must be a list of {Config, RepoTags, Layers}`);
      }
      return { members, entries };
    })();
    return this.#reader;
  }

  /** An image written in this session (reads see the writer's own writes). */
  #findPending(reference: string): PendingImage | undefined {
    if (reference === '') return this.#images.size === 1 ? [...this.#images.values()][0] : undefined;
    if (isDigest(reference)) return this.#images.get(reference);
    const wanted = normalizeName(reference);
    return [...this.#images.values()].find((image) => [...image.tags].some((t) => normalizeName(t) === wanted));
  }

  /** '' is the first image, `@N` the N-th (as in skopeo), else a name matched against RepoTags. */
  #findImage(entries: ArchiveEntry[], reference: string): number | undefined {
    if (reference === '') return entries.length > 0 ? 0 : undefined;
    const position = /^@(\d+)$/.exec(reference);
    if (position !== null) {
      const n = Number(position[1]);
      return n < entries.length ? n : undefined;
    }
    const wanted = normalizeName(reference);
    const found = entries.findIndex((e) => (e.RepoTags ?? []).some((t) => normalizeName(t) === wanted));
    return found < 0 ? undefined : found;
  }

  #synthesise(index: number): Promise<RawManifest> {
    let raw = this.#synthesised.get(index);
    if (raw === undefined) {
      raw = this.#buildManifest(index);
      this.#synthesised.set(index, raw);
    }
    return raw;
  }

  async #buildManifest(index: number): Promise<RawManifest> {
    const { members, entries } = await this.#read();
    const entry = entries[index] as ArchiveEntry;
    const config = await this.#describeMember(members, entry.Config, DOCKER_CONFIG);
    const layers: Descriptor[] = [];
    for (const layer of entry.Layers) layers.push(await this.#describeMember(members, layer, undefined));
    // A Docker v2.2 manifest has no zstd layer type: an archive holding zstd layers (written by
    // other tools) is described with an OCI manifest, which has one.
    if (layers.some(isZstdLayer)) return encodeManifest({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, mediaType: OCI_CONFIG }, layers });
    return encodeManifest({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers });
  }

  /** Hashes a member once and records it as a blob; the layer media type comes from its magic bytes. */
  async #describeMember(members: Map<string, TarMember>, name: string, mediaType: string | undefined): Promise<Descriptor> {
    const member = resolveMember(members, name);
    if (member === undefined) throw new OcibuildError('ERR_INVALID_MANIFEST', `${this.description}: manifest.json names missing file ${JSON.stringify(name)}`);
    const hash = this.#options.hash?.algorithm === 'sha256' ? this.#options.hash : nodeHash('sha256');
    const hasher = hash.create();
    let head: Uint8Array | undefined;
    for await (const chunk of this.#memberStream(member)) {
      head ??= chunk.subarray(0, 4);
      hasher.update(chunk);
    }
    const digest = hasher.digest();
    this.#archiveBlobs.set(digest, member);
    const type = mediaType ?? (startsWith(head, GZIP) ? DOCKER_LAYER_GZIP : startsWith(head, ZSTD) ? OCI_LAYER_ZSTD : DOCKER_LAYER_TAR);
    return { mediaType: type, digest, size: member.size };
  }

  async *#memberStream(member: TarMember, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    if (member.size === 0) return;
    yield* readFileStream(this.path, { start: member.offset, end: member.offset + member.size - 1, ...(signal === undefined ? {} : { signal }) });
  }

  // ---- writing ----

  async putBlob(descriptor: Descriptor, body: BlobBody, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (await this.hasBlob(descriptor)) return;
    const spill = await this.#spillDir();
    await writeVerifiedFile(await this.#spillPath(descriptor.digest), descriptor, body, {
      ...options,
      tempDir: spill,
      where: `${this.description} blob ${descriptor.digest}`,
      ...(this.#options.hash === undefined ? {} : { hash: this.#options.hash }),
    });
    this.#written.set(descriptor.digest, descriptor);
  }

  async putManifest(manifest: RawManifest, reference: string | undefined, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#assertOpen();
    const hasher = hashFactoryFor(manifest.digest, this.#options.hash).create();
    hasher.update(manifest.bytes);
    const actual = hasher.digest();
    if (actual !== manifest.digest) throw new DigestMismatchError(manifest.digest, actual, `${this.description} manifest`);
    const parsed = parseManifest(manifest);
    if (parsed.kind === 'index') {
      throw new UnsupportedError(`${this.description} holds one single-platform image; choose a platform instead of copying an index`);
    }
    const artifact = artifactTypeOf(parsed.manifest);
    if (artifact !== undefined) {
      throw new UnsupportedError(`${this.description} holds container images only; manifest ${manifest.digest} is an OCI artifact (${artifact})`);
    }
    const zstd = parsed.manifest.layers.find(isZstdLayer);
    if (zstd !== undefined) {
      throw new UnsupportedError(`${this.description}: layer ${zstd.digest} is zstd-compressed; docker load reads gzip or uncompressed layers only`);
    }
    const image = this.#images.get(manifest.digest) ?? { manifest, parsed: parsed.manifest, tags: new Set<string>() };
    if (reference !== undefined && reference !== '') {
      // A name belongs to one image: pushing it again moves it.
      const tag = repoTag(reference, this.description);
      for (const other of this.#images.values()) other.tags.delete(tag);
      image.tags.add(tag);
    }
    this.#images.set(manifest.digest, image);
  }

  async commit(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#assertOpen();
    if (this.#images.size === 0) return;
    const extra = (this.#options.tags ?? []).map((t) => repoTag(t, this.description));
    const files: { name: string; digest: string; size: number }[] = [];
    const seen = new Set<string>();
    const entries: ArchiveEntry[] = [];
    const add = (descriptor: Descriptor, name: string): string => {
      if (!this.#written.has(descriptor.digest)) {
        throw new NotFoundError(`${this.description}: blob ${descriptor.digest} was not written before its manifest`);
      }
      if (!seen.has(name)) files.push({ name, digest: descriptor.digest, size: descriptor.size });
      seen.add(name);
      return name;
    };
    for (const image of this.#images.values()) {
      const { config, layers } = image.parsed;
      const layerNames = layers.map((l) => add(l, layerFileName(l)));
      const configName = add(config, `${parseDigest(config.digest).hex}.json`);
      entries.push({ Config: configName, RepoTags: [...new Set([...image.tags, ...extra])], Layers: layerNames });
    }
    await mkdir(dirname(this.path), { recursive: true });
    await sweepStaleTempFiles(dirname(this.path), `.${basename(this.path)}`);
    const tmp = join(dirname(this.path), tempName(`.${basename(this.path)}`));
    this.#tmpTar = tmp;
    // Opened before the pipeline so that a refused open (EACCES, ENOSPC) rejects here, and the
    // feeding loop below is stopped by `stop` whenever the pipeline fails: a feed left waiting on
    // a destroyed entry would never settle and the pipeline's rejection would go unhandled.
    const handle = await open(tmp, 'wx', 0o644);
    const pack = tar.pack();
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // An abort while the file was being opened fired no listener: it must stop the write too.
    if (options.signal?.aborted) stop.abort(options.signal.reason);
    const written = pipeline(pack, handle.createWriteStream(), { signal: stop.signal });
    written.catch((error: unknown) => stop.abort(error));
    // Fixed metadata so the same image always gives the same tarball.
    const header = { mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };
    try {
      for (const file of files) {
        throwIfAborted(stop.signal);
        const entry = pack.entry({ ...header, name: file.name, size: file.size });
        // Destroying the pack (the pipeline failed or was aborted) errors the open entry after the
        // `once` waits have let go of it; the pipeline reports the failure, so this one is dropped.
        entry.on('error', () => undefined);
        const finished = once(entry, 'finish', { signal: stop.signal });
        finished.catch(() => undefined);
        for await (const chunk of readFileStream(await this.#spillPath(file.digest), { signal: stop.signal })) {
          if (!entry.write(chunk)) await once(entry, 'drain', { signal: stop.signal });
        }
        entry.end();
        await finished;
      }
      const manifestJson = new TextEncoder().encode(JSON.stringify(entries));
      pack.entry({ ...header, name: 'manifest.json', size: manifestJson.byteLength }, Buffer.from(manifestJson));
      pack.finalize();
      await written;
      await rename(tmp, this.path);
      this.#tmpTar = undefined;
    } catch (error) {
      stop.abort(error);
      pack.destroy();
      const failure = await written.then(() => undefined, (e: unknown) => e);
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true });
      this.#tmpTar = undefined;
      if (options.signal?.aborted) throw new OcibuildError('ERR_ABORTED', `writing ${this.description} aborted`, { cause: options.signal.reason });
      // The pipeline's own error says why the file could not be written; the feed's is only "aborted".
      throw failure !== undefined && !(error instanceof OcibuildError) ? failure : error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    this.#images.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tmpTar !== undefined) await rm(this.#tmpTar, { force: true });
    const spill = await this.#spill?.catch(() => undefined);
    if (spill !== undefined) await rm(spill, { recursive: true, force: true });
  }

  #assertOpen(): void {
    if (this.#closed) throw new OcibuildError('ERR_TRANSPORT', `${this.description}: transport is closed`);
  }

  #spillDir(): Promise<string> {
    this.#assertOpen();
    this.#spill ??= mkdtemp(join(this.#options.tempDir ?? tmpdir(), `ocibuild-${process.pid}-docker-archive-`));
    return this.#spill;
  }

  async #spillPath(digest: string): Promise<string> {
    const { algorithm, hex } = parseDigest(digest);
    return join(await this.#spillDir(), `${algorithm}-${hex}`);
  }
}
