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
import type { Transport } from '../transports/types.ts';
import { readAll } from './verify.ts';
import { descriptorOf, type Image, type Layer, type LayerOpenOptions, type LayerOrigin, type PlatformIndex } from './model.ts';

/** What images are read from: any transport (only its read side is used). */
export type ImageSource = Pick<Transport, 'description' | 'getManifest' | 'getBlob'> & Partial<Pick<Transport, 'origin'>>;

/** Options of {@link openImage} and {@link openIndex}. */
export interface OpenImageOptions {
  /**
   * The platform to pick from an index. Required when `reference` names an index; a single
   * manifest is used whatever its platform (as Docker does for untagged bases).
   */
  platform?: Platform | undefined;
  /** Aborts. */
  signal?: AbortSignal | undefined;
}

/** What a reference names: one image, or an index of images. */
export type OpenedReference = { kind: 'image'; image: Image } | { kind: 'index'; index: PlatformIndex };

/**
 * Reads what `reference` (tag or digest; `''` for a transport's only image) names in `source`:
 * an {@link Image} (manifest and config read and checked) or a {@link PlatformIndex}.
 */
export async function openReference(source: ImageSource, reference: string, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<OpenedReference> {
  const signal = options.signal ? { signal: options.signal } : {};
  const top = parseManifest(await source.getManifest(reference, signal));
  if (top.kind === 'index') return { kind: 'index', index: indexFrom(source, top.raw, top.index) };
  return { kind: 'image', image: await imageFrom(source, top, undefined, undefined, options.signal) };
}

/**
 * Opens the image `reference` names in `source`; from an index, the child for
 * `options.platform` (`ERR_INVALID_ARGUMENT` without one, `ERR_NOT_FOUND` when it has none).
 * The config's `diff_ids` must match the manifest's layers one to one (`ERR_INVALID_CONFIG`).
 */
export async function openImage(source: ImageSource, reference: string, options: OpenImageOptions = {}): Promise<Image> {
  const opened = await openReference(source, reference, options);
  if (opened.kind === 'image') return opened.image;
  if (options.platform === undefined) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `${source.description} is a multi-platform index: choose a platform`);
  }
  return opened.index.image(options.platform, options.signal ? { signal: options.signal } : {});
}

/** Opens the index `reference` names; a single manifest throws `ERR_INVALID_MANIFEST`. */
export async function openIndex(source: ImageSource, reference: string, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<PlatformIndex> {
  const opened = await openReference(source, reference, options);
  if (opened.kind === 'index') return opened.index;
  throw new OcibuildError('ERR_INVALID_MANIFEST', `${source.description}: ${opened.image.descriptor.digest} is a single manifest, not an index`);
}

/**
 * The platforms of what `reference` names: an index's children, or the one platform of a
 * single image's config (none when the config leaves it empty, as `crane append` onto scratch does).
 */
export async function imagePlatforms(source: ImageSource, reference: string, options: Omit<OpenImageOptions, 'platform'> = {}): Promise<Platform[]> {
  const opened = await openReference(source, reference, options);
  if (opened.kind === 'index') return [...opened.index.platforms];
  const p = configPlatform(opened.image);
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
            ...(options.signal ? { signal: options.signal } : {}),
            source: source.description,
          }),
        ),
        { diffId, limits: options.limits },
      ),
  };
}

/** A {@link Layer} of a freshly written layer (its blob spilled to disk); `origin` when a registry already holds it. */
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
  return {
    descriptor,
    rawIndex: raw,
    index,
    platforms,
    async image(platform, options = {}) {
      const child = selectManifest(index, platform);
      if (child === undefined) {
        const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
        throw new OcibuildError('ERR_NOT_FOUND', `${source.description} has no manifest for platform ${formatPlatform(platform)} (it has: ${have})`);
      }
      const parsed = parseManifest(await source.getManifest(child.digest, options.signal ? { signal: options.signal } : {}), child.mediaType);
      if (parsed.kind !== 'manifest') {
        throw new OcibuildError('ERR_INVALID_MANIFEST', `${source.description}: nested index ${child.digest} is not supported as an image`);
      }
      return imageFrom(source, parsed, child.platform, descriptor, options.signal);
    },
  };
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
