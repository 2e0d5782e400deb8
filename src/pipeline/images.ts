/**
 * `copyImage`, `inspectImage` and `listTags`: skopeo's copy, inspect and list-tags as library
 * calls over target strings (`oci:PATH[:TAG]`, `docker-archive:PATH[:REF]`, a registry
 * reference). Each runs in `options.session` or in a session of its own closed before it returns.
 * The CLI's `copy`, `inspect` and `tags` commands are these functions plus printing.
 * @module
 */
import { InvalidReferenceError } from '../errors.ts';
import { copyImage as copyBetween, type CopyEvent, type CopyOptions, type CopyResult } from '../image/copy.ts';
import { openManifest, type OpenedReference } from '../image/open.ts';
import { formatPlatform, hostPlatform, parsePlatform } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.ts';
import type { HashFactory } from '../hash/types.ts';
import { parseTarget } from '../transports/target.ts';
import type { Transport } from '../transports/types.ts';
import { referrerCopyHooks } from '../supply/attach.ts';
import { withSession } from './session.ts';
import type { SourceEvent } from './source-events.ts';
import type { TransportOptions } from './targets.ts';

/**
 * Options of {@link copyImage} when it is given target strings.
 * @category Images
 */
export interface CopyImageOptions extends TransportOptions {
  /**
   * Which platforms of an index to copy: `'all'` (the default) or a list of platforms
   * (`'linux/arm64'` strings or {@link Platform} objects). A subset re-encodes the index.
   */
  platforms?: 'all' | readonly (Platform | string)[];
  /** Tags the image also gets in the destination besides its own (registries and OCI layouts). */
  tags?: readonly string[];
  /** Blob transfers at the same time (default 6, as `skopeo copy`). */
  concurrency?: number;
  /** Aborts the copy; the destination is then left without the image. */
  signal?: AbortSignal;
  /** Receives the copy's progress: blobs skipped, mounted, sent; manifests pushed. */
  onEvent?: (event: CopyEvent) => void;
  /** Receives the source's events: blob downloads from a registry, mirrors that failed. */
  onSourceEvent?: (event: SourceEvent) => void;
  /**
   * Receives what the user should know about the copy: which platform a single-platform
   * destination (`docker-daemon:`, `podman:`) took from an index, and which it left out.
   */
  onWarning?: (message: string) => void;
  /**
   * Also copy what is attached to the image and its platform images as OCI referrers (SBOMs,
   * provenance, signatures, and what is attached to those), as `regctl image copy --referrers`
   * and `oras copy -r` do; they are made discoverable in the destination (referrers API or
   * fallback tag, `oci:` index.json).
   */
  referrers?: boolean;
  /** Hash implementation for digest checks (default: Node's SHA-256). */
  hash?: HashFactory;
}

/**
 * Copies the image or index `from` names to `to`, as `skopeo copy` does: every platform of an
 * index by default, blobs the destination has are skipped, blobs in another repository of the
 * same registry are mounted. `to` is committed only when everything was written: on failure no
 * tag, layout entry or tarball is left behind. Resolves the digest of what was written.
 * @param from The source: a registry reference (`docker://` accepted), `oci:PATH[:TAG]` or `docker-archive:PATH[:REF]`.
 * @param to The destination, in the same forms.
 * @category Images
 * @example
 * ```ts
 * import { copyImage } from 'ocibuild';
 *
 * const { digest } = await copyImage('registry.example/app:1', 'oci:./out:app-1', { platforms: ['linux/amd64'] });
 * ```
 */
export function copyImage(from: string, to: string, options?: CopyImageOptions): Promise<CopyResult>;
/**
 * Copies the manifest or index `srcRef` of the transport `src` (a tag, a digest, or undefined
 * for the source's only image) to the transport `dst`, pushing it under every reference in
 * `dstRefs` (`[]` or `[undefined]`: by digest only), and commits `dst`: the copier behind every
 * build's push. `dst.close()` is always called; `src` stays open. Use it to write an image made
 * in memory ({@link memorySource}) or read from a transport you opened yourself.
 * @category Images
 * @example
 * ```ts
 * import { copyImage, ociLayout } from 'ocibuild';
 *
 * const source = ociLayout('./base');
 * await copyImage(source, 'latest', ociLayout('./copy'), ['v1']);
 * ```
 */
export function copyImage(src: Transport, srcRef: string | undefined, dst: Transport, dstRefs: readonly (string | undefined)[], options?: CopyOptions): Promise<CopyResult>;
export async function copyImage(
  from: string | Transport,
  second: string | undefined,
  third?: CopyImageOptions | Transport,
  dstRefs?: readonly (string | undefined)[],
  copyOptions?: CopyOptions,
): Promise<CopyResult> {
  if (typeof from !== 'string') return copyBetween(from, second, third as Transport, dstRefs ?? [], copyOptions);
  const to = second as string;
  const options = (third ?? {}) as CopyImageOptions;
  return withSession(options, async (session) => {
    const dst = session.openDestination(to);
    const src = session.openSource(from, options.onSourceEvent ? { onEvent: options.onSourceEvent } : {});
    let platforms = options.platforms === undefined || options.platforms === 'all' ? ('all' as const) : options.platforms.map((p) => (typeof p === 'string' ? parsePlatform(p) : p));
    try {
      // A daemon holds one platform: the one asked for, else the host's (ERR_NOT_FOUND when absent).
      if (platforms === 'all' || platforms.length === 1) {
        const wanted = platforms === 'all' ? undefined : formatPlatform(platforms[0] as Platform);
        const choice = await dst.choosePlatform(src.transport, src.reference ?? '', wanted, options.signal);
        if (choice !== undefined) {
          platforms = [choice.platform];
          options.onWarning?.(choice.message);
        }
      }
      return await copyBetween(src.transport, src.reference, dst.open(), dst.references(options.tags ?? []), {
        platforms,
        concurrency: options.concurrency ?? 6,
        signal: options.signal,
        onEvent: options.onEvent,
        hash: options.hash,
        referrers: options.referrers ? referrerCopyHooks() : undefined,
      });
    } finally {
      await src.transport.close?.();
    }
  });
}

/**
 * Options of {@link inspectImage}.
 * @category Images
 */
export interface InspectImageOptions extends TransportOptions {
  /**
   * For an index: describe the image of this platform instead of the index (`'linux/arm64'`, a
   * {@link Platform}, or `'host'` for this machine's). Ignored for a single image or an artifact.
   */
  platform?: Platform | string;
  /** Aborts the reads. */
  signal?: AbortSignal;
}

/**
 * What {@link inspectImage} returns for every kind: the manifest read, exactly as stored.
 * @category Images
 */
export interface InspectionBase {
  /** Digest of the manifest or index described. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Its size in bytes. */
  size: number;
  /** Its exact bytes (their SHA-256 is `digest`). */
  raw: Uint8Array;
  /** Its annotations, when it has any. */
  annotations?: Record<string, string>;
}

/**
 * An image index (or Docker manifest list): its children, not read.
 * @category Images
 */
export interface IndexInspection extends InspectionBase {
  /** The kind. */
  kind: 'index';
  /** The children's descriptors, in index order. */
  manifests: readonly Descriptor[];
}

/**
 * An image: its config read and checked; its layers not read.
 * @category Images
 */
export interface ImageInspection extends InspectionBase {
  /** The kind. */
  kind: 'image';
  /** The image config. */
  config: ImageConfig;
  /** The layers' descriptors, base first. */
  layers: readonly Descriptor[];
  /** The index the image was chosen from (with `options.platform`), when it was. */
  index?: Descriptor;
}

/**
 * An OCI artifact: a manifest whose config is not an image config (an SBOM, a signature).
 * @category Images
 */
export interface ArtifactInspection extends InspectionBase {
  /** The kind. */
  kind: 'artifact';
  /** The artifact type (`artifactType`, else the config's media type). */
  artifactType: string;
  /** The config descriptor (not read). */
  config: Descriptor;
  /** The blobs' descriptors. */
  layers: readonly Descriptor[];
}

/**
 * What a reference names, as {@link inspectImage} describes it.
 * @category Images
 */
export type Inspection = IndexInspection | ImageInspection | ArtifactInspection;

/**
 * Describes the image, index or artifact `ref` names, as `skopeo inspect` does: the manifest
 * exactly as stored, and for an image its config. Layers are never read. With
 * `options.platform`, an index is resolved to that platform's image (`ERR_NOT_FOUND`, naming the
 * platforms there are, when it has none).
 * @param ref A registry reference (`docker://` accepted), `oci:PATH[:TAG]` or `docker-archive:PATH[:REF]`.
 * @category Images
 * @example
 * ```ts
 * import { inspectImage } from 'ocibuild';
 *
 * const seen = await inspectImage('oci:./out:app-1');
 * if (seen.kind === 'image') console.log(seen.digest, seen.config.config?.Entrypoint);
 * ```
 */
export async function inspectImage(ref: string, options: InspectImageOptions = {}): Promise<Inspection> {
  const signal = options.signal ? { signal: options.signal } : {};
  return withSession(options, async (session) => {
    const src = session.openSource(ref);
    try {
      const raw = await src.transport.getManifest(src.reference ?? '', signal);
      let opened: OpenedReference = await openManifest(src.transport, raw, signal);
      if (opened.kind === 'index' && options.platform !== undefined) {
        const platform = typeof options.platform !== 'string' ? options.platform : options.platform === 'host' ? hostPlatform() : parsePlatform(options.platform);
        opened = await opened.index.child(platform, signal);
      }
      return describe(opened);
    } finally {
      await src.transport.close?.();
    }
  });
}

function describe(opened: OpenedReference): Inspection {
  const of = (raw: { digest: string; mediaType: string; bytes: Uint8Array }, annotations: Record<string, string> | undefined): InspectionBase => ({
    digest: raw.digest,
    mediaType: raw.mediaType,
    size: raw.bytes.byteLength,
    raw: raw.bytes,
    ...(annotations ? { annotations } : {}),
  });
  switch (opened.kind) {
    case 'index':
      return { kind: 'index', ...of(opened.index.rawIndex, opened.index.index.annotations), manifests: opened.index.index.manifests };
    case 'artifact':
      return { kind: 'artifact', ...of(opened.rawManifest, opened.manifest.annotations), artifactType: opened.artifactType, config: opened.manifest.config, layers: opened.manifest.layers };
    case 'image': {
      const { image } = opened;
      return {
        kind: 'image',
        ...of(image.rawManifest, image.manifest.annotations),
        config: image.config,
        layers: image.layers.map((l) => l.descriptor),
        ...(image.index ? { index: image.index } : {}),
      };
    }
  }
}

/**
 * Options of {@link listTags}.
 * @category Registry
 */
export interface ListRepositoryTagsOptions extends TransportOptions {
  /** Page size asked of the registry (it may send fewer per page; every page is read). */
  pageSize?: number;
  /** Aborts the listing. */
  signal?: AbortSignal;
}

/**
 * Lists every tag of a registry repository, as `skopeo list-tags` does, following the
 * registry's pages (bounded by the client's limits). A tag or digest in `repository` is ignored.
 * @param repository `host/name` (`docker://` accepted; a Docker Hub name without host means `docker.io`).
 * @category Registry
 * @example
 * ```ts
 * import { listTags } from 'ocibuild';
 *
 * for (const tag of await listTags('registry.example/app')) console.log(tag);
 * ```
 */
export async function listTags(repository: string, options: ListRepositoryTagsOptions = {}): Promise<string[]> {
  const ref = parseTarget(repository, { kinds: ['registry'] }).ref;
  if (ref === undefined) throw new InvalidReferenceError(repository, 'expected a registry repository (host/name)');
  return withSession(options, (session) =>
    session.registryClient().listTags(
      { registry: ref.registry, repository: ref.repository },
      { signal: options.signal, pageSize: options.pageSize },
    ),
  );
}
