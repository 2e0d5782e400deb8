/**
 * Reading the image model from a transport: {@link openImage} walks manifest → platform →
 * config once, here, for every caller (base resolution, the cache warmer, `inspect`, the Node
 * preset's base-user lookup). Nothing but the manifest(s) and config is read: layers stay lazy.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { parseConfig } from '../oci/config.ts';
import { parseManifest, selectManifest, type ParsedManifest } from '../oci/manifest.ts';
import { formatPlatform, normalizePlatform } from '../oci/platform.ts';
import type { Descriptor, ImageIndex, ImageManifest, Platform, RawManifest } from '../oci/types.ts';
import { openLayerBlob, openLayerTar } from '../layer/decode.ts';
import type { BuiltLayer } from '../layer/types.ts';
import type { Transport } from './transport.ts';
import { artifactTypeOf } from './kinds.ts';
import { readAll } from './verify.ts';
import { descriptorOf, type Image, type Layer, type LayerOpenOptions, type LayerOrigin, type PlatformIndex } from './model.ts';

/**
 * What images are read from: any transport (only its read side is used).
 * @category Images
 */
export type ImageSource = Pick<Transport, 'description' | 'getManifest' | 'getBlob'> & Partial<Pick<Transport, 'origin'>>;

/**
 * Options of {@link openImage} and {@link openIndex}.
 * @category Images
 */
export interface OpenImageOptions {
  /**
   * The platform to pick from an index. Required when `reference` names an index; a single
   * manifest is used whatever its platform (as Docker does for untagged bases).
   */
  platform?: Platform | undefined;
  /** Aborts. */
  signal?: AbortSignal | undefined;
}

/**
 * What a reference names: one image, an index of images, or an OCI artifact (a manifest whose
 * config is not an image config: its config is not read).
 * @category Images
 */
export type OpenedReference =
  | { kind: 'image'; image: Image }
  | { kind: 'index'; index: PlatformIndex }
  | { kind: 'artifact'; artifactType: string; manifest: ImageManifest; rawManifest: RawManifest };

/**
 * Reads what `reference` (tag or digest; `''` for a transport's only image) names in `source`:
 * an {@link Image} (manifest and config read and checked) or a {@link PlatformIndex}.
 * @example
 * ```ts
 * import { ociLayout, openReference } from 'ocibuild';
 *
 * const opened = await openReference(ociLayout('./out'), 'v1');
 * if (opened.kind === 'index') console.log('platforms:', opened.index.platforms.length);
 * else if (opened.kind === 'image') console.log('layers:', opened.image.layers.length);
 * else console.log('artifact of type', opened.artifactType);
 * ```
 * @category Images
 */
export async function openReference(source: ImageSource, reference: string, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<OpenedReference> {
  const signal = options.signal ? { signal: options.signal } : {};
  return openManifest(source, await source.getManifest(reference, signal), options);
}

/** Like {@link openReference}, for a manifest or index already read from `source` (its exact bytes). */
export async function openManifest(source: ImageSource, raw: RawManifest, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<OpenedReference> {
  return opened(source, parseManifest(raw), undefined, undefined, options.signal);
}

/**
 * Opens the image `reference` names in `source`; from an index, the child for
 * `options.platform` (`ERR_INVALID_ARGUMENT` without one, `ERR_NOT_FOUND` when it has none).
 * The config's `diff_ids` must match the manifest's layers one to one (`ERR_INVALID_CONFIG`).
 * @example
 * ```ts
 * import { ociLayout, openImage } from 'ocibuild';
 *
 * const layout = ociLayout('./base');
 * const image = await openImage(layout, 'latest', { platform: { os: 'linux', architecture: 'amd64' } });
 * console.log(image.descriptor.digest, image.config.config?.Entrypoint, image.layers.length);
 * ```
 * @category Images
 */
export async function openImage(source: ImageSource, reference: string, options: OpenImageOptions = {}): Promise<Image> {
  const found = await openReference(source, reference, options);
  if (found.kind === 'image') return found.image;
  if (found.kind === 'artifact') throw notAnImage(source, found.rawManifest.digest, found.artifactType);
  if (options.platform === undefined) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `${source.description} is a multi-platform index: choose a platform`);
  }
  return found.index.image(options.platform, options.signal ? { signal: options.signal } : {});
}

/**
 * Opens the index `reference` names; a single manifest throws `ERR_INVALID_MANIFEST`.
 * @example
 * ```ts
 * import { formatPlatform, ociLayout, openIndex } from 'ocibuild';
 *
 * const index = await openIndex(ociLayout('./multi'), 'latest');
 * for (const platform of index.platforms) {
 *   const image = await index.image(platform);
 *   console.log(formatPlatform(platform), image.descriptor.digest);
 * }
 * ```
 * @category Images
 */
export async function openIndex(source: ImageSource, reference: string, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<PlatformIndex> {
  const found = await openReference(source, reference, options);
  if (found.kind === 'index') return found.index;
  const digest = found.kind === 'image' ? found.image.descriptor.digest : found.rawManifest.digest;
  throw new OcibuildError('ERR_INVALID_MANIFEST', `${source.description}: ${digest} is a single manifest, not an index`);
}

/**
 * The platforms of what `reference` names: an index's children, or the one platform of a
 * single image's config (none when the config leaves it empty, as `crane append` onto scratch does).
 * @example
 * ```ts
 * import { formatPlatform, imagePlatforms, ociLayout } from 'ocibuild';
 *
 * const platforms = await imagePlatforms(ociLayout('./base'), 'latest');
 * console.log(platforms.map(formatPlatform).join(', '));
 * ```
 * @category Images
 */
export async function imagePlatforms(source: ImageSource, reference: string, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<Platform[]> {
  const found = await openReference(source, reference, options);
  if (found.kind === 'index') return [...found.index.platforms];
  if (found.kind === 'artifact') return [];
  const p = configPlatform(found.image);
  return p === undefined ? [] : [p];
}

/** The normalised platform an image's config names; undefined when its os or architecture is empty. */
export function configPlatform(image: Pick<Image, 'config'>): Platform | undefined {
  const { os, architecture, variant } = image.config;
  if (os === '' || architecture === '') return undefined;
  const p: Platform = { os, architecture };
  if (variant !== undefined) p.variant = variant;
  return normalizePlatform(p);
}

/**
 * A lazy {@link Layer} whose blob is read from `source`. `openUncompressed()` falls back to the
 * descriptor's `urls` for foreign layers the source does not hold.
 */
export function sourceLayer(source: ImageSource, descriptor: Descriptor, diffId: string): Layer {
  const origin: LayerOrigin = { transport: source as Transport, ...(source.origin ?? {}) };
  return {
    descriptor,
    diffId,
    origin,
    open: (options = {}) => lazy(() => source.getBlob(descriptor, options.signal ? { signal: options.signal } : {})),
    openUncompressed: (options = {}) =>
      openLayerTar(
        descriptor,
        lazy(() =>
          openLayerBlob(descriptor, () => source.getBlob(descriptor, options.signal ? { signal: options.signal } : {}), {
            signal: options.signal,
            source: source.description,
          }),
        ),
        { diffId, limits: options.limits },
      ),
  };
}

/**
 * A {@link Layer} of a freshly written layer (its blob spilled to disk); `origin` when a registry already holds it.
 * @example
 * ```ts
 * import { appendLayers, builtLayer, emptyImage, writeLayer } from 'ocibuild';
 *
 * const written = await writeLayer({ entries: [{ type: 'file', path: '/hello.txt', source: 'hello\n' }] });
 * const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), [builtLayer(written)]);
 * ```
 * @category Images
 */
export function builtLayer(layer: BuiltLayer, origin?: LayerOrigin): Layer {
  const model: Layer = {
    descriptor: layer.descriptor,
    diffId: layer.diffId,
    open: () => layer.open(),
    openUncompressed: (options: LayerOpenOptions = {}) => openLayerTar(layer.descriptor, layer.open(), { diffId: layer.diffId, limits: options.limits }),
  };
  return origin === undefined ? model : { ...model, origin };
}

function indexFrom(source: ImageSource, raw: RawManifest, index: ImageIndex): PlatformIndex {
  const platforms = index.manifests
    .filter((d) => d.platform !== undefined && d.platform.os !== 'unknown')
    .map((d) => normalizePlatform(d.platform as Platform));
  const descriptor = descriptorOf(raw);
  const open = async (child: Descriptor, options: { signal?: AbortSignal } = {}): Promise<OpenedReference> => {
    const parsed = parseManifest(await source.getManifest(child.digest, options.signal ? { signal: options.signal } : {}), child.mediaType);
    return opened(source, parsed, child.platform, descriptor, options.signal);
  };
  const child = async (platform: Platform, options: { signal?: AbortSignal } = {}): Promise<OpenedReference> => {
    const found = selectManifest(index, platform);
    if (found === undefined) {
      const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
      throw new OcibuildError('ERR_NOT_FOUND', `${source.description} has no manifest for platform ${formatPlatform(platform)} (it has: ${have})`);
    }
    return open(found, options);
  };
  return {
    descriptor,
    rawIndex: raw,
    index,
    platforms,
    open,
    child,
    async image(platform, options = {}) {
      const found = await child(platform, options);
      if (found.kind === 'image') return found.image;
      const digest = found.kind === 'index' ? found.index.descriptor.digest : found.rawManifest.digest;
      if (found.kind === 'artifact') throw notAnImage(source, digest, found.artifactType);
      throw new OcibuildError('ERR_INVALID_MANIFEST', `${source.description}: nested index ${digest} is not supported as an image`);
    },
  };
}

async function opened(source: ImageSource, parsed: ParsedManifest, platform: Platform | undefined, index: Descriptor | undefined, signal: AbortSignal | undefined): Promise<OpenedReference> {
  if (parsed.kind === 'index') return { kind: 'index', index: indexFrom(source, parsed.raw, parsed.index) };
  const artifactType = artifactTypeOf(parsed.manifest);
  if (artifactType !== undefined) return { kind: 'artifact', artifactType, manifest: parsed.manifest, rawManifest: parsed.raw };
  return { kind: 'image', image: await imageFrom(source, parsed, platform, index, signal) };
}

function notAnImage(source: ImageSource, digest: string, artifactType: string): OcibuildError {
  return new OcibuildError('ERR_UNSUPPORTED', `${source.description}: ${digest} is an OCI artifact (${artifactType}), not an image: it has no image config`);
}

async function imageFrom(
  source: ImageSource,
  parsed: Extract<ParsedManifest, { kind: 'manifest' }>,
  platform: Platform | undefined,
  index: Descriptor | undefined,
  signal: AbortSignal | undefined,
): Promise<Image> {
  const manifest: ImageManifest = parsed.manifest;
  const rawConfig = await readAll(await source.getBlob(manifest.config, signal ? { signal } : {}));
  const config = parseConfig(rawConfig);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new OcibuildError(
      'ERR_INVALID_CONFIG',
      `${source.description}: config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  const layers = manifest.layers.map((d, i) => sourceLayer(source, d, config.rootfs.diff_ids[i] as string));
  const image: Image = { descriptor: descriptorOf(parsed.raw, platform), rawManifest: parsed.raw, manifest, config, rawConfig, layers };
  return index === undefined ? image : { ...image, index };
}

/** Turns a promised stream into a stream, so nothing is opened before it is iterated. */
async function* lazy(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  yield* await open();
}
