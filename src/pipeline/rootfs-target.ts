/**
 * The root filesystem outputs: `local:DIR` writes the image's flattened layers as files (as
 * buildx's `--output type=local`), `tar:FILE` the same tree as one tar (`type=tar`). Layers are
 * unpacked bottom first with the sandbox's extractor (`run/extract.ts`): whiteouts and opaque
 * folders applied, nothing written outside the root, device nodes and fifos skipped with a
 * warning. As root, owners are set with lchown; otherwise every entry not owned by 0:0 is
 * listed in `.ocibuild-ownership.json` at the top of the tree.
 *
 * The transport takes blobs and manifests like any other (so `copyImage` writes it) and does the
 * work in `commit()`: into a staging folder next to DIR (or a temporary tar next to FILE) that is
 * renamed into place when complete. A multi-platform image gives one sub-folder per platform
 * (`linux_amd64/`, `linux_arm64/`), as buildx does; an index of one platform is written flat.
 * @module
 */
import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, OcibuildError, throwIfAborted, UnsupportedError } from '../errors.ts';
import { parseDigest } from '../oci/digest.ts';
import { parseManifest, type ParsedManifest } from '../oci/manifest.ts';
import type { Descriptor, ImageManifest, Platform, RawManifest } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import { readFileStream, sweepStaleTempFiles, tempName, writeVerifiedFile } from '../blob/files.ts';
import { readAll } from '../blob/verify.ts';
import { openLayerTar } from '../layer/decode.ts';
import type { TarLimits } from '../layer/tar-guard.ts';
import { tarStream } from '../layer/write.ts';
import type { ResolvedLayerEntry } from '../layer/types.ts';
import { extractLayer, type RecordedOwner } from '../run/extract.ts';
import { removeRootfs } from '../run/owners.ts';
import type { BlobBody, OperationOptions, Transport } from '../transports/types.ts';
import type { TransportCapabilities } from '../image/transport.ts';
import { OWNERSHIP_FILE, rootfsEntries } from './rootfs-tar.ts';

export { OWNERSHIP_FILE };

/**
 * Options of {@link rootfsTransport}.
 * @category Images
 */
export interface RootfsOptions {
  /** `chown` sets owners (needs root), `record` lists them in `.ocibuild-ownership.json`. Default: `chown` as root, else `record`. */
  ownership?: 'chown' | 'record';
  /** Folder for spilled blobs (and, for `tar:`, the unpacked tree). Default the OS temp folder. */
  tempDir?: string;
  /** Bounds on each layer's tar (docs/limits.md). */
  limits?: Partial<TarLimits>;
  /** Hears entries skipped on purpose (device nodes, fifos). */
  onWarning?: (message: string) => void;
  /** Hash implementation for verification. */
  hash?: HashFactory;
}

/**
 * A `local:DIR` or `tar:FILE` output.
 * @category Images
 */
export interface RootfsTransport extends Transport, TransportCapabilities {
  /** Which output. */
  readonly kind: 'local' | 'tar';
  /** Absolute path of DIR or FILE. */
  readonly path: string;
  /** Always false: the output holds files, not image metadata. */
  readonly acceptsArtifacts: false;
  /** Always true: every layer is unpacked, foreign ones included. */
  readonly needsForeignLayers: true;
  /**
   * Adds a file to write at the top of the tree of the image `subject` (its platform's folder in
   * a multi-platform output): a build's SBOM and provenance, as buildx writes attestations with
   * `--output type=local|tar`. `name` is one path segment. The commit fails, writing nothing,
   * when the image itself holds that path.
   */
  addFile(subject: string, name: string, bytes: Uint8Array): void;
  /** Unpacks the image and moves the result into place. */
  commit(options?: OperationOptions): Promise<void>;
  /** Removes spilled blobs and any unfinished output. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The ownership file's contents: owners of the entries not owned by 0:0, by path relative to the tree.
 * @category Images
 */
export interface OwnershipManifest {
  /** Format version (1). */
  version: 1;
  /** Path → owner; `mode` when the entry has setuid/setgid bits a chown would clear. */
  owners: Record<string, RecordedOwner>;
}

/**
 * Opens a `local:` or `tar:` output at `target` (written on `commit()`; it cannot be read).
 * @category Images
 * @example
 * ```ts
 * import { copyImage, ociLayout, rootfsTransport } from 'ocibuild';
 *
 * // Write the image's root filesystem as files, as `buildx --output type=local` does.
 * await copyImage(ociLayout('./out'), 'app', rootfsTransport('local', './rootfs'), []);
 * ```
 */
export function rootfsTransport(kind: 'local' | 'tar', target: string, options: RootfsOptions = {}): RootfsTransport {
  return new RootfsOutput(kind, path.resolve(target), options);
}

/** buildx's folder name for a platform: `linux_amd64`, `linux_arm_v7`. */
export function platformFolder(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant ? [platform.variant] : [])].join('_');
}

class RootfsOutput implements RootfsTransport {
  readonly kind: 'local' | 'tar';
  readonly path: string;
  readonly description: string;
  readonly acceptsArtifacts = false as const;
  readonly needsForeignLayers = true as const;
  readonly #options: RootfsOptions;
  #spill: Promise<string> | undefined;
  readonly #written = new Set<string>();
  readonly #manifests = new Map<string, ParsedManifest>();
  #top: string | undefined;
  /** Files to write next to each image's tree, by the image's manifest digest. */
  readonly #files = new Map<string, { name: string; bytes: Uint8Array }[]>();
  readonly #leftovers = new Set<string>();
  #closed = false;

  constructor(kind: 'local' | 'tar', target: string, options: RootfsOptions) {
    this.kind = kind;
    this.path = target;
    this.description = `${kind}:${target}`;
    this.#options = options;
  }

  async getManifest(reference: string): Promise<RawManifest> {
    throw new UnsupportedError(`${this.description} is an output only; it cannot be read as an image (${reference})`);
  }

  async getBlob(descriptor: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    throw new UnsupportedError(`${this.description} is an output only; blob ${descriptor.digest} cannot be read`);
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.#written.has(descriptor.digest);
  }

  async putBlob(descriptor: Descriptor, body: BlobBody, options: OperationOptions = {}): Promise<void> {
    if (this.#written.has(descriptor.digest)) return;
    const spill = await this.#spillDir();
    await writeVerifiedFile(this.#blobPath(spill, descriptor.digest), descriptor, body, {
      ...options,
      tempDir: spill,
      where: `${this.description} blob ${descriptor.digest}`,
      ...(this.#options.hash === undefined ? {} : { hash: this.#options.hash }),
    });
    this.#written.add(descriptor.digest);
  }

  async putManifest(manifest: RawManifest, _reference: string | undefined, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#assertOpen();
    const parsed = parseManifest(manifest);
    this.#manifests.set(manifest.digest, parsed);
    // Children come before their index: the last manifest put is the image or index to write.
    this.#top = manifest.digest;
  }

  addFile(subject: string, name: string, bytes: Uint8Array): void {
    this.#assertOpen();
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new InvalidArgumentError(`${this.description}: a file added next to the tree needs a plain name, got ${JSON.stringify(name)}`);
    }
    const list = this.#files.get(subject) ?? [];
    list.push({ name, bytes });
    this.#files.set(subject, list);
  }

  async commit(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#assertOpen();
    if (this.#top === undefined) return;
    const top = this.#manifests.get(this.#top) as ParsedManifest;
    const parent = path.dirname(this.path);
    await fsp.mkdir(parent, { recursive: true });
    const prefix = `.${path.basename(this.path)}`;
    await sweepStaleTempFiles(parent, prefix);
    if (this.kind === 'local') await this.#commitLocal(top, parent, prefix, options.signal);
    else await this.#commitTar(top, parent, prefix, options.signal);
    this.#top = undefined;
  }

  /** Unpacks into a staging folder next to DIR, then renames it to DIR. */
  async #commitLocal(top: ParsedManifest, parent: string, prefix: string, signal: AbortSignal | undefined): Promise<void> {
    await this.#assertReplaceable();
    const stage = path.join(parent, tempName(prefix));
    this.#leftovers.add(stage);
    await fsp.mkdir(stage, { mode: 0o755 });
    await this.#unpackAll(top, stage, signal, async (root, owners) => {
      if (owners !== undefined) await writeOwnership(root, owners);
    });
    // Checked again: another writer may have filled DIR meanwhile. An empty DIR is replaced.
    await this.#assertReplaceable();
    await fsp.rmdir(this.path).catch(() => undefined);
    await fsp.rename(stage, this.path);
    this.#leftovers.delete(stage);
  }

  /** Unpacks into a temporary folder, tars it to a temporary file next to FILE, renames that to FILE. */
  async #commitTar(top: ParsedManifest, parent: string, prefix: string, signal: AbortSignal | undefined): Promise<void> {
    const stage = await fsp.mkdtemp(path.join(this.#options.tempDir ?? tmpdir(), `ocibuild-${process.pid}-rootfs-`));
    this.#leftovers.add(stage);
    const trees: { root: string; prefix: string; owners: Map<string, RecordedOwner> | undefined }[] = [];
    await this.#unpackAll(top, stage, signal, async (root, owners, folder) => {
      trees.push({ root, prefix: folder === undefined ? '' : `${folder}/`, owners });
    });
    const tmp = path.join(parent, tempName(prefix));
    this.#leftovers.add(tmp);
    const links = new Map<string, string>();
    async function* all(): AsyncGenerator<ResolvedLayerEntry> {
      for (const tree of trees) {
        if (tree.prefix !== '') {
          yield { path: tree.prefix.slice(0, -1), type: 'directory', mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: 0 };
        }
        yield* rootfsEntries(tree.root, { prefix: tree.prefix, links, ...(tree.owners === undefined ? {} : { owners: tree.owners }) });
      }
    }
    await pipeline(Readable.from(tarStream(all(), undefined, signal)), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await fsp.rename(tmp, this.path);
    this.#leftovers.delete(tmp);
    // The unpacked tree is not needed any more (removeRootfs also clears read-only folders).
    if (await removeTree(stage).then(() => true, () => false)) this.#leftovers.delete(stage);
  }

  /** Unpacks an image, or each platform of an index into its own folder; `done` sees each tree. */
  async #unpackAll(
    top: ParsedManifest,
    stage: string,
    signal: AbortSignal | undefined,
    done: (root: string, owners: Map<string, RecordedOwner> | undefined, folder?: string) => Promise<void>,
  ): Promise<void> {
    // An image's layers, then the files added for it (its SBOM and provenance).
    const unpack = async (manifest: ImageManifest, subject: string, root: string): Promise<Map<string, RecordedOwner> | undefined> => {
      const owners = await this.#unpack(manifest, root, signal);
      await this.#writeFiles(subject, root);
      return owners;
    };
    if (top.kind === 'manifest') {
      await done(stage, await unpack(top.manifest, this.#top as string, stage));
      return;
    }
    // Attestation manifests (`unknown/unknown`) are not root filesystems.
    const children = top.index.manifests.filter((child) => child.platform !== undefined && child.platform.os !== 'unknown');
    for (const child of children) {
      const image = this.#manifests.get(child.digest);
      if (image?.kind !== 'manifest') throw new UnsupportedError(`${this.description}: index child ${child.digest} is not an image manifest`);
      if (children.length === 1) {
        // One platform (`copy --platform P` of an index) is written flat, as buildx writes a one-platform build.
        await done(stage, await unpack(image.manifest, child.digest, stage));
        return;
      }
      const folder = platformFolder(child.platform as Platform);
      const root = path.join(stage, folder);
      await fsp.mkdir(root, { mode: 0o755 });
      await done(root, await unpack(image.manifest, child.digest, root), folder);
    }
  }

  /** Unpacks one image's layers into `root`; returns the recorded owners in `record` mode. */
  async #unpack(manifest: ImageManifest, root: string, signal: AbortSignal | undefined): Promise<Map<string, RecordedOwner> | undefined> {
    const spill = await this.#spillDir();
    const config = JSON.parse(new TextDecoder().decode(await readAll(readFileStream(this.#blobPath(spill, manifest.config.digest))))) as { rootfs?: { diff_ids?: unknown } };
    const diffIds = Array.isArray(config.rootfs?.diff_ids) ? (config.rootfs.diff_ids as unknown[]) : [];
    const ownership = this.#options.ownership ?? (process.getuid?.() === 0 ? 'chown' : 'record');
    const owners = ownership === 'record' ? new Map<string, RecordedOwner>() : undefined;
    for (const [i, layer] of manifest.layers.entries()) {
      throwIfAborted(signal);
      const diffId = diffIds[i];
      const blob = readFileStream(this.#blobPath(spill, layer.digest), signal === undefined ? {} : { signal });
      await extractLayer(root, openLayerTar(layer, blob, { limits: this.#options.limits }), {
        ownership,
        owners,
        diffId: typeof diffId === 'string' ? diffId : undefined,
        limits: this.#options.limits,
        onWarning: this.#options.onWarning,
      }).catch((error: unknown) => {
        if (error instanceof OcibuildError) throw error;
        throw new OcibuildError('ERR_IO', `${this.description}: cannot unpack layer ${layer.digest}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
    }
    return owners;
  }

  /** Writes the files added for `subject` at the top of `root`; never over a path the image holds. */
  async #writeFiles(subject: string, root: string): Promise<void> {
    for (const { name, bytes } of this.#files.get(subject) ?? []) {
      await fsp.writeFile(path.join(root, name), bytes, { flag: 'wx', mode: 0o644 }).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new OcibuildError('ERR_TRANSPORT', `${this.description}: the image holds /${name}, where the build's ${name} goes (as buildx writes it); nothing was written: build without that document or move the file in the image`);
        }
        throw new OcibuildError('ERR_IO', `${this.description}: cannot write ${name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
    }
  }

  /** DIR may be absent or an empty folder: ocibuild never overwrites files it did not write. */
  async #assertReplaceable(): Promise<void> {
    const info = await fsp.lstat(this.path).catch(() => undefined);
    if (info === undefined) return;
    if (!info.isDirectory()) throw new OcibuildError('ERR_TRANSPORT', `${this.description}: the path exists and is not a folder`);
    if ((await fsp.readdir(this.path)).length > 0) {
      throw new OcibuildError('ERR_TRANSPORT', `${this.description}: the folder is not empty; remove it or name a new folder (nothing is overwritten)`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Best effort: a tree that cannot be removed is swept by a later run (its name says whose it is).
    for (const leftover of this.#leftovers) await removeTree(leftover).catch(() => undefined);
    const spill = await this.#spill?.catch(() => undefined);
    if (spill !== undefined) await fsp.rm(spill, { recursive: true, force: true });
  }

  #assertOpen(): void {
    if (this.#closed) throw new OcibuildError('ERR_TRANSPORT', `${this.description}: transport is closed`);
  }

  #spillDir(): Promise<string> {
    this.#assertOpen();
    this.#spill ??= fsp.mkdtemp(path.join(this.#options.tempDir ?? tmpdir(), `ocibuild-${process.pid}-rootfs-blobs-`));
    return this.#spill;
  }

  #blobPath(spill: string, digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(spill, `${algorithm}-${hex}`);
  }
}

/** Writes `.ocibuild-ownership.json` at the top of `root` (sorted, so the same image gives the same file). */
async function writeOwnership(root: string, owners: Map<string, RecordedOwner>): Promise<void> {
  const sorted = [...owners.keys()].sort().map((key) => [key, owners.get(key) as RecordedOwner] as const);
  const manifest: OwnershipManifest = { version: 1, owners: Object.fromEntries(sorted) };
  await fsp.writeFile(path.join(root, OWNERSHIP_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
}

/**
 * Removes an unpacked tree. Without root, a read-only folder of the image (0555) stops `rm`:
 * folders are made writable first (they are the caller's own); then the sandbox's remover,
 * which also copes with subordinate-owned files.
 */
async function removeTree(dir: string): Promise<void> {
  if (await fsp.rm(dir, { recursive: true, force: true }).then(() => true, () => false)) return;
  const open = async (folder: string): Promise<void> => {
    await fsp.chmod(folder, 0o700).catch(() => undefined);
    for (const entry of await fsp.readdir(folder, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await open(path.join(folder, entry.name));
    }
  };
  await open(dir);
  await removeRootfs(dir);
}
