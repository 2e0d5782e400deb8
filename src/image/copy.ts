/**
 * `copyImage`: the one copier behind pull, push and copy. It moves an image or index from one
 * transport to another: blobs before manifests, index children before the index, each blob
 * once (also when requested concurrently), skipping blobs the destination has and mounting
 * blobs that live in another repository of the same registry.
 * @module
 */
import { DigestMismatchError, isNotFound, LimitExceededError, OcibuildError, UnsupportedError, throwIfAborted } from '../errors.ts';
import { encodeManifest, parseManifest, type ParsedManifest } from '../oci/manifest.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, Platform, RawManifest } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import type { BlobOrigin } from '../blob/types.ts';
import type { Transport, TransportCapabilities } from './transport.ts';
import { hashFactoryFor, VerifiedStream } from '../blob/verify.ts';
import { describeFsError } from '../blob/files.ts';
import { fetchForeignLayer } from './foreign.ts';
import { artifactTypeOf, dockerLayersProblem, isDockerManifest, isForeignLayer, isZstdLayer } from './kinds.ts';

/**
 * Kinds of {@link CopyEvent}.
 * @category Images
 */
export type CopyEventType = 'blob-skipped' | 'blob-mounted' | 'blob-progress' | 'blob-done' | 'manifest-pushed';

/**
 * Progress of a copy.
 * @category Images
 */
export interface CopyEvent {
  /** What happened. */
  type: CopyEventType;
  /** The blob or manifest concerned. */
  digest: string;
  /** Bytes transferred so far (`blob-progress`) or in total (`blob-done`). */
  bytes?: number;
  /** Size of the blob. */
  total?: number;
  /** The tag a manifest was pushed under (`manifest-pushed`), when it has one. */
  reference?: string;
}

/**
 * Options of {@link copyImage}.
 * @category Images
 */
export interface CopyOptions {
  /** Which platforms of an index to copy (default `'all'`). A subset re-encodes the index. */
  platforms?: 'all' | readonly Platform[];
  /** Blob transfers at the same time (default 4). */
  concurrency?: number;
  /** Aborts the copy; the destination is then left without the image. */
  signal?: AbortSignal;
  /** Receives progress events. */
  onEvent?: (event: CopyEvent) => void;
  /** Hash implementation for digest checks. */
  hash?: HashFactory;
  /**
   * Also copy the referrers (signatures, SBOMs, attestations) of the image and of each platform
   * manifest copied, and theirs in turn (signatures of SBOMs), up to `MAX_REFERRER_DEPTH`
   * levels and `MAX_REFERRERS_COPIED` manifests. The hooks list and link referrers (the
   * supply module's `referrerCopyHooks()` handle the referrers API and the fallback tag scheme).
   */
  referrers?: ReferrerHooks;
  /**
   * Started with the copy and run beside its transfers, with a signal that aborts with the copy
   * (a build's attachments write their blobs here); awaited before `beforeCommit`, and its
   * failure fails the copy.
   */
  alongside?: (dst: Transport, signal: AbortSignal) => Promise<void>;
  /** Runs after every manifest is written and before the destination commits (attachments of a build go here). */
  beforeCommit?: (dst: Transport, signal: AbortSignal) => Promise<void>;
}

/**
 * How {@link copyImage} finds referrers in the source and makes them discoverable in the destination.
 * @category Images
 */
export interface ReferrerHooks {
  /** The referrers of `digest` in `transport` (descriptors of manifests whose `subject` it is). */
  list(transport: Transport, digest: string, options: { signal: AbortSignal }): Promise<Descriptor[]>;
  /** Makes the referrer `entry`, already written to `transport`, discoverable from `subjectDigest` (a registry's fallback tag). */
  link(transport: Transport, subjectDigest: string, entry: Descriptor, options: { signal: AbortSignal }): Promise<unknown>;
}

/** Levels of referrers followed by a copy with `referrers` (image → signature → its signature...). */
export const MAX_REFERRER_DEPTH = 4;

/** Most referrer manifests one copy carries; past it `ERR_LIMIT_EXCEEDED`. */
export const MAX_REFERRERS_COPIED = 1000;

/**
 * What was written: the top-level manifest or index.
 * @category Images
 */
export interface CopyResult {
  /** Digest of the manifest or index pushed under the destination references. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Its size in bytes. */
  size: number;
}

/** A source that knows per blob where it can be mounted from (the memory source does). */
export interface BlobOriginLookup {
  /** The repository the blob can be mounted from, when known. */
  blobOrigin(descriptor: Descriptor): BlobOrigin | undefined;
}

/** What a destination can hold: the {@link TransportCapabilities} every transport may declare. */
export type IndexCapability = TransportCapabilities;

/**
 * Copies the manifest or index `srcRef` of `src` (a tag, a digest, or undefined for the
 * source's only image) to `dst`, pushing it under every reference in `dstRefs` (undefined
 * means by digest only), and commits `dst`. `dst.close()` is always called; `src` stays open.
 * On failure nothing is committed, so no tag, layout or tarball is left behind.
 */
export async function copyImage(
  src: Transport,
  srcRef: string | undefined,
  dst: Transport,
  dstRefs: readonly (string | undefined)[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const copier = new Copier(src, dst, options, controller.signal);
  try {
    throwIfAborted(options.signal);
    if (options.referrers !== undefined && dst.acceptsArtifacts === false) {
      throw new UnsupportedError(`${dst.description} holds container images only: it cannot hold referrers (signatures, SBOMs); copy to a registry or an oci: layout`);
    }
    const alongside = options.alongside;
    // Tracked, so a failed copy waits for it too; observed here, awaited below.
    const beside = alongside !== undefined ? copier.track(copier.scoped((signal) => alongside(dst, signal))) : undefined;
    beside?.catch(() => undefined);
    const root = await copier.resolveRoot(srcRef);
    await copier.track(copier.copyTree(root, dstRefs.length === 0 ? [undefined] : dstRefs));
    if (options.referrers !== undefined) await copier.copyReferrers(root, options.referrers);
    if (beside !== undefined) await beside;
    if (options.beforeCommit !== undefined) await copier.scoped((signal) => (options.beforeCommit as NonNullable<CopyOptions['beforeCommit']>)(dst, signal));
    await copier.scoped((signal) => dst.commit?.({ signal }) ?? Promise.resolve());
    return { digest: root.raw.digest, mediaType: root.raw.mediaType, size: root.raw.bytes.byteLength };
  } catch (error) {
    controller.abort(error);
    await copier.settle();
    if (options.signal?.aborted && !(error instanceof OcibuildError)) {
      throw new OcibuildError('ERR_ABORTED', `copy to ${dst.description} aborted`, { cause: error });
    }
    // A file-system error's message names a temp or staging path; say which copy failed instead.
    if (!(error instanceof OcibuildError)) throw new OcibuildError('ERR_TRANSPORT', `copy to ${dst.description} failed: ${describeFsError(error)}`, { cause: error });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await dst.close?.();
  }
}

class Copier {
  readonly #src: Transport;
  readonly #dst: Transport;
  readonly #options: CopyOptions;
  readonly #signal: AbortSignal;
  readonly #blobs = new Map<string, Promise<void>>();
  /** Signals of running operations; the copy's signal has one listener that aborts them all. */
  readonly #scopes = new Set<AbortController>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #queue: (() => void)[] = [];
  #active = 0;

  constructor(src: Transport, dst: Transport, options: CopyOptions, signal: AbortSignal) {
    this.#src = src;
    this.#dst = dst;
    this.#options = options;
    this.#signal = signal;
    // One listener however many operations run: every transport call and request adds its own
    // abort listener to the signal it gets, and a shared signal would collect one per transfer
    // (MaxListenersExceededWarning past 10).
    signal.addEventListener('abort', () => {
      for (const scope of this.#scopes) scope.abort(signal.reason);
    }, { once: true });
  }

  /** Runs `fn` with a signal of its own that aborts with the copy's. */
  async scoped<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    throwIfAborted(this.#signal);
    const scope = new AbortController();
    this.#scopes.add(scope);
    try {
      return await fn(scope.signal);
    } finally {
      this.#scopes.delete(scope);
    }
  }

  /** Reads the source manifest and applies the platform selection. */
  async resolveRoot(srcRef: string | undefined): Promise<ParsedManifest> {
    const top = parseManifest(await this.scoped((signal) => this.#src.getManifest(srcRef ?? '', { signal })));
    if (top.kind !== 'index') return top;
    const wanted = this.#options.platforms ?? 'all';
    const selected =
      wanted === 'all'
        ? top.index.manifests
        : top.index.manifests.filter((d) => d.platform !== undefined && wanted.some((p) => platformMatches(p, d.platform as Platform)));
    // A child whose platform is empty (crane writes "" for unknown) cannot match a filter: say so.
    const available = top.index.manifests.flatMap((d) =>
      d.platform === undefined ? [] : [d.platform.os === '' || d.platform.architecture === '' ? 'a manifest of unknown platform (empty os/architecture)' : formatPlatform(d.platform)],
    );
    if (selected.length === 0) {
      throw new OcibuildError(
        'ERR_NOT_FOUND',
        `${this.#src.description}: no manifest for the requested platforms (index has ${available.join(', ') || 'none'})`,
      );
    }
    if (this.#dst.acceptsIndex === false) {
      const images = selected.filter((d) => d.platform !== undefined);
      if (images.length !== 1 || images[0] === undefined) {
        throw new UnsupportedError(
          `${this.#dst.description} holds one platform but the source has ${available.join(', ')}; choose one platform`,
        );
      }
      const child = await this.#fetchChild(images[0]);
      if (child.kind !== 'manifest') throw new UnsupportedError(`${this.#dst.description} cannot hold a nested index`);
      return child;
    }
    if (selected.length === top.index.manifests.length) return top;
    // A subset is a different index: re-encoded, so it gets a new digest.
    return parseManifest(encodeManifest({ ...top.index, mediaType: top.index.mediaType ?? top.raw.mediaType, manifests: selected }));
  }

  /** Copies a manifest's blobs (or an index's children) and then the manifest under `refs`. */
  async copyTree(node: ParsedManifest, refs: readonly (string | undefined)[]): Promise<void> {
    throwIfAborted(this.#signal);
    if (node.kind === 'index') {
      await Promise.all(
        node.index.manifests.map((d) => this.track((async () => this.copyTree(await this.#fetchChild(d), [undefined]))())),
      );
    } else {
      this.#checkManifest(node);
      // Foreign layers stay where their URLs say, unless the destination must hold them.
      const keepForeign = this.#dst.needsForeignLayers === true;
      const blobs = [node.manifest.config, ...node.manifest.layers].filter((d) => keepForeign || !isForeignLayer(d));
      await Promise.all(blobs.map((d) => this.#copyBlob(d)));
    }
    for (const ref of refs) {
      throwIfAborted(this.#signal);
      await this.scoped((signal) => this.#dst.putManifest(node.raw, ref, { signal }));
      this.#emit({ type: 'manifest-pushed', digest: node.raw.digest, ...(ref === undefined ? {} : { reference: ref }) });
    }
  }

  /**
   * Copies the referrers of `root` (and of its children when it is an index) breadth first,
   * each referrer's own referrers one level further, written by digest and linked to their subject.
   */
  async copyReferrers(root: ParsedManifest, hooks: ReferrerHooks): Promise<void> {
    let level: string[] = [root.raw.digest, ...(root.kind === 'index' ? root.index.manifests.map((d) => d.digest) : [])];
    const seen = new Set<string>(level);
    let copied = 0;
    for (let depth = 1; depth <= MAX_REFERRER_DEPTH && level.length > 0; depth++) {
      const next: string[] = [];
      for (const subject of level) {
        const referrers = await this.scoped((signal) => hooks.list(this.#src, subject, { signal }));
        for (const entry of referrers) {
          if (seen.has(entry.digest)) continue;
          seen.add(entry.digest);
          if (++copied > MAX_REFERRERS_COPIED) {
            throw new LimitExceededError('maxReferrersCopied', MAX_REFERRERS_COPIED, `${this.#src.description}: more than ${MAX_REFERRERS_COPIED} referrers to copy`);
          }
          // A listing may name a manifest deleted since (a stale fallback index): nothing to copy.
          const node = await this.#fetchChild(entry).catch((error: unknown) => {
            if (isNotFound(error)) return undefined;
            throw error;
          });
          if (node === undefined) continue;
          await this.track(this.copyTree(node, [undefined]));
          await this.scoped((signal) => hooks.link(this.#dst, subject, entry, { signal }));
          next.push(entry.digest);
        }
      }
      level = next;
    }
  }

  /** Refuses, before any of its blobs moves, a manifest the destination cannot hold or that is malformed for its type. */
  #checkManifest(node: Extract<ParsedManifest, { kind: 'manifest' }>): void {
    const where = `${this.#src.description} manifest ${node.raw.digest}`;
    const { layers } = node.manifest;
    if (isDockerManifest(node.raw.mediaType)) {
      const problem = dockerLayersProblem(layers);
      if (problem !== undefined) throw new UnsupportedError(`${where} is a Docker v2.2 manifest but its ${problem}`);
    }
    const dst = this.#dst;
    const artifact = artifactTypeOf(node.manifest);
    if (artifact !== undefined && dst.acceptsArtifacts === false) {
      throw new UnsupportedError(`${where} is an OCI artifact (${artifact}), not a container image; ${this.#dst.description} holds container images only`);
    }
    const zstd = layers.find(isZstdLayer);
    if (zstd !== undefined && dst.acceptsZstd === false) {
      throw new UnsupportedError(`${where}: layer ${zstd.digest} is zstd-compressed, which ${this.#dst.description} cannot hold (docker load reads gzip or uncompressed layers); copy it to a registry or an oci: layout instead`);
    }
  }

  /** Registers a task so that a failed copy can wait for it before closing the destination. */
  track<T>(task: Promise<T>): Promise<T> {
    this.#inflight.add(task);
    const forget = (): void => {
      this.#inflight.delete(task);
    };
    task.then(forget, forget);
    return task;
  }

  /** Waits until no task is running (after an abort they stop at their next check). */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async #fetchChild(descriptor: Descriptor): Promise<ParsedManifest> {
    const raw = await this.scoped((signal) => this.#src.getManifest(descriptor.digest, { signal }));
    const hasher = hashFactoryFor(descriptor.digest, this.#options.hash).create();
    hasher.update(raw.bytes);
    const actual = hasher.digest();
    if (actual !== descriptor.digest || raw.bytes.byteLength !== descriptor.size) {
      throw new DigestMismatchError(descriptor.digest, actual, `${this.#src.description} manifest ${descriptor.digest}`);
    }
    return parseManifest({ ...raw, digest: descriptor.digest } satisfies RawManifest, descriptor.mediaType);
  }

  #copyBlob(descriptor: Descriptor): Promise<void> {
    let task = this.#blobs.get(descriptor.digest);
    if (task === undefined) {
      task = this.track(this.#limited(() => this.scoped((signal) => this.#transfer(descriptor, signal))));
      this.#blobs.set(descriptor.digest, task);
    }
    return task;
  }

  async #limited<T>(fn: () => Promise<T>): Promise<T> {
    const limit = Math.max(1, this.#options.concurrency ?? 4);
    if (this.#active >= limit) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
    }
  }

  async #transfer(descriptor: Descriptor, signal: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const { digest, size } = descriptor;
    if (await this.#dst.hasBlob(descriptor, { signal })) {
      this.#emit({ type: 'blob-skipped', digest, total: size });
      return;
    }
    const origin = (this.#src as Partial<BlobOriginLookup>).blobOrigin?.(descriptor) ?? this.#src.origin;
    const target = this.#dst.origin;
    if (
      this.#dst.mountBlob !== undefined &&
      origin !== undefined &&
      target !== undefined &&
      origin.registry === target.registry &&
      origin.repository !== target.repository
    ) {
      let mounted = false;
      try {
        mounted = await this.#dst.mountBlob(descriptor, origin, { signal });
      } catch (error) {
        // A refused mount (no pull access to the origin, say) is not fatal: upload instead.
        if (signal.aborted) throw error;
      }
      if (mounted) {
        this.#emit({ type: 'blob-mounted', digest, total: size });
        return;
      }
    }
    const src = this.#src;
    const hash = this.#options.hash;
    // A foreign layer comes from its URLs (a registry does not serve it); a source that stores it
    // (an OCI layout holding the blob) is the fallback.
    const open = isForeignLayer(descriptor)
      ? () =>
          fetchForeignLayer(descriptor, { signal, hash }).catch(async (error: unknown) => {
            if (signal.aborted) throw error;
            return src.getBlob(descriptor, { signal }).catch(() => {
              throw error;
            });
          })
      : () => src.getBlob(descriptor, { signal });
    await this.#dst.putBlob(
      descriptor,
      () => openLater(open),
      { signal, onProgress: (bytes) => this.#emit({ type: 'blob-progress', digest, bytes, total: size }) },
    );
    this.#emit({ type: 'blob-done', digest, bytes: size, total: size });
  }

  #emit(event: CopyEvent): void {
    this.#options.onEvent?.(event);
  }
}

/**
 * A stream that opens `open()`'s stream on the first read, and is as verified as that stream
 * (the destination then need not hash it again, see `verifyStream`).
 */
function openLater(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncIterable<Uint8Array> {
  let inner: AsyncIterable<Uint8Array> | undefined;
  const stream: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      let iterator: AsyncIterator<Uint8Array> | undefined;
      return {
        async next() {
          if (iterator === undefined) {
            inner = await open();
            iterator = inner[Symbol.asyncIterator]();
          }
          return await iterator.next();
        },
        async return() {
          await iterator?.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
  return new VerifiedStream(stream, () => VerifiedStream.targetOf(inner));
}
