/**
 * An in-memory transport: the copy source `buildImage` assembles a result in. Blobs are
 * backed by bytes, by a file (a built layer), or by another transport (a lazy base layer,
 * which the copier can mount from its registry instead of moving the bytes).
 * @module
 */
import { DigestMismatchError, OcibuildError, throwIfAborted } from '../errors.ts';
import { isDigest } from '../oci/digest.ts';
import { isIndexMediaType } from '../oci/mediatypes.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import type { BlobBody, BlobOrigin, OperationOptions } from '../blob/types.ts';
import type { Transport } from './transport.ts';
import { outlineManifest } from './sniff.ts';
import { hashFactoryFor, readVerified, verifyStream } from '../blob/verify.ts';

/**
 * Where a blob of the memory source really lives: another transport to read it from,
 * a registry repository to mount it from, or both.
 * @category Images
 */
export type MemoryBlobOrigin = { transport: Transport } | BlobOrigin | (BlobOrigin & { transport: Transport });

/**
 * An in-memory transport that images are assembled in; also writable like any transport.
 * @category Images
 */
export interface MemorySource extends Transport {
  /**
   * Adds a blob. `body` is its bytes or a restartable factory (e.g. reading a built layer's
   * file); it may be omitted when `origin.transport` holds the blob. `origin` lets the copier
   * mount the blob from the same registry instead of uploading it.
   */
  addBlob(descriptor: Descriptor, body: BlobBody | Uint8Array | undefined, origin?: MemoryBlobOrigin): void;
  /** Adds a manifest or index (its digest is checked), optionally under `tag`. */
  addManifest(manifest: RawManifest, tag?: string): void;
  /** The registry repository a blob can be mounted from, when known. */
  blobOrigin(descriptor: Descriptor): BlobOrigin | undefined;
}

/**
 * Options of {@link memorySource}.
 * @category Images
 */
export interface MemorySourceOptions {
  /** Name used in messages (default `memory`). */
  description?: string;
  /** Hash implementation for verification. */
  hash?: HashFactory;
}

interface BlobEntry {
  descriptor: Descriptor;
  open: () => Promise<AsyncIterable<Uint8Array>>;
  mount: BlobOrigin | undefined;
  /** True when `open` already verifies (a transport's getBlob does, by contract). */
  verified: boolean;
}

/**
 * Creates an empty {@link MemorySource}.
 * @example
 * ```ts
 * import { builtLayer, copyImage, emptyImage, appendLayers, memorySource, ociLayout, writeLayer } from 'ocibuild';
 *
 * const layer = builtLayer(await writeLayer({ entries: [{ type: 'file', path: '/hello', source: 'hello\n' }] }));
 * const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), [layer]);
 * const memory = memorySource();
 * for (const l of image.layers) memory.addBlob(l.descriptor, () => l.open(), l.origin);
 * memory.addBlob(image.manifest.config, image.rawConfig);
 * memory.addManifest(image.rawManifest);
 * await copyImage(memory, image.descriptor.digest, ociLayout('./out'), ['hello']);
 * ```
 * @category Images
 */
export function memorySource(options: MemorySourceOptions = {}): MemorySource {
  const description = options.description ?? 'memory';
  const hash = options.hash;
  const blobs = new Map<string, BlobEntry>();
  const manifests = new Map<string, RawManifest>();
  const tags = new Map<string, string>();
  /** Manifests added without a tag that are not an index's children, in order. */
  const untagged: string[] = [];
  const children = new Set<string>();

  function checkDigest(manifest: RawManifest): void {
    const hasher = hashFactoryFor(manifest.digest, hash).create();
    hasher.update(manifest.bytes);
    const actual = hasher.digest();
    if (actual !== manifest.digest) throw new DigestMismatchError(manifest.digest, actual, `${description} manifest`);
  }

  function addManifest(manifest: RawManifest, tag?: string): void {
    checkDigest(manifest);
    manifests.set(manifest.digest, manifest);
    if (isIndexMediaType(manifest.mediaType)) {
      for (const child of outlineManifest(manifest.bytes, `${description} manifest ${manifest.digest}`, manifest.mediaType).manifests) {
        children.add(child.digest);
      }
    }
    if (tag !== undefined && tag !== '') tags.set(tag, manifest.digest);
    else if (!untagged.includes(manifest.digest)) untagged.push(manifest.digest);
  }

  function addBlob(descriptor: Descriptor, body: BlobBody | Uint8Array | undefined, origin?: MemoryBlobOrigin): void {
    const source = origin !== undefined && 'transport' in origin ? origin.transport : undefined;
    const mount =
      origin !== undefined && 'registry' in origin ? { registry: origin.registry, repository: origin.repository } : source?.origin;
    let open: BlobEntry['open'];
    let verified = false;
    if (body instanceof Uint8Array) {
      const bytes = body;
      open = async () => (async function* () {
        yield bytes;
      })();
    } else if (body !== undefined) {
      const factory = body;
      open = async () => factory();
    } else if (source !== undefined) {
      open = () => source.getBlob(descriptor);
      verified = true;
    } else {
      throw new OcibuildError('ERR_INVALID_ARGUMENT', `${description}: blob ${descriptor.digest} has neither a body nor a source transport`);
    }
    blobs.set(descriptor.digest, { descriptor, open, mount, verified });
  }

  return {
    description,
    addBlob,
    addManifest,
    blobOrigin(descriptor) {
      return blobs.get(descriptor.digest)?.mount;
    },
    async getManifest(reference, opts: OperationOptions = {}) {
      throwIfAborted(opts.signal);
      let digest: string | undefined;
      if (reference === undefined || reference === '') {
        const top = [...new Set([...tags.values(), ...untagged])].filter((d) => !children.has(d));
        if (top.length !== 1) {
          throw new OcibuildError(
            top.length === 0 ? 'ERR_NOT_FOUND' : 'ERR_INVALID_ARGUMENT',
            `${description} holds ${top.length} images; name one by tag or digest`,
          );
        }
        digest = top[0];
      } else {
        digest = isDigest(reference) ? reference : tags.get(reference);
      }
      const manifest = digest === undefined ? undefined : manifests.get(digest);
      if (manifest === undefined) throw new OcibuildError('ERR_NOT_FOUND', `${description}: manifest ${JSON.stringify(reference)} not found`);
      return manifest;
    },
    async putManifest(manifest, reference, opts: OperationOptions = {}) {
      throwIfAborted(opts.signal);
      addManifest({ ...manifest, bytes: manifest.bytes.slice() }, reference);
    },
    async hasBlob(descriptor, opts: OperationOptions = {}) {
      throwIfAborted(opts.signal);
      return blobs.get(descriptor.digest)?.descriptor.size === descriptor.size;
    },
    async getBlob(descriptor, opts: OperationOptions = {}) {
      throwIfAborted(opts.signal);
      const entry = blobs.get(descriptor.digest);
      if (entry === undefined) throw new OcibuildError('ERR_NOT_FOUND', `${description}: blob ${descriptor.digest} not found`);
      const stream = await entry.open();
      // Verify against the caller's descriptor even for a transport-backed blob whose
      // transport verified against the stored one: the two may differ in size.
      if (entry.verified && entry.descriptor.size === descriptor.size) return stream;
      return verifyStream(stream, descriptor, `${description} blob ${descriptor.digest}`, hash);
    },
    async putBlob(descriptor, body, opts: OperationOptions = {}) {
      throwIfAborted(opts.signal);
      if (blobs.has(descriptor.digest)) return;
      const bytes = await readVerified(body(), descriptor, `${description} blob ${descriptor.digest}`, hash);
      opts.onProgress?.(bytes.byteLength);
      addBlob(descriptor, bytes);
    },
  };
}
