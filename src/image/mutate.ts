/**
 * Pure functions over the image model (ggcr's `mutate`, absorbed): each takes an
 * {@link Image} and returns a new one whose config and manifest are re-encoded as canonical
 * JSON, so its digest follows from its content. Layers are never read here.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { encodeConfig } from '../oci/config.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, FORMATS, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD } from '../oci/mediatypes.ts';
import { normalizePlatform } from '../oci/platform.ts';
import type { Descriptor, History, ImageConfig, ImageManifest, Platform } from '../oci/types.ts';
import { hashBytes } from '../hash/index.ts';
import type { BuiltLayer } from '../layer/types.ts';
import type { BlobOrigin } from '../blob/types.ts';
import { descriptorOf, type Image, type Layer } from './model.ts';
import { builtLayer } from './open.ts';

/** A build step that adds a layer: the written layer and the history entry's text. */
export interface LayerStep {
  /** The written layer. */
  layer: BuiltLayer;
  /** History entry text (`created_by`). */
  createdBy: string;
  /** History comment. */
  comment?: string;
  /** True when the layer came from a cache instead of being written. */
  cached?: boolean;
  /** A registry repository that holds the blob (a cache repo): a push mounts it from there. */
  origin?: BlobOrigin;
}

/** A config-only build step (a Dockerfile ENV, LABEL…): an `empty_layer` history entry. */
export interface ConfigStep {
  /** History entry text (`created_by`). */
  createdBy: string;
}

/** One history step of a build, in order: what the planners and the Dockerfile interpreter produce. */
export type BuildStep = LayerStep | ConfigStep;

/** Output formats: OCI, or Docker image manifest v2 schema 2. */
export type ImageFormat = 'oci' | 'docker';

/** A layer to append with the history entry that records it (ggcr's `Addendum`). */
export interface AddendumLayer {
  /** The layer. */
  layer: Layer;
  /** Its history entry; none is added when undefined. */
  history?: History;
}

const OCI_TO_DOCKER: Record<string, string> = { [OCI_LAYER_GZIP]: DOCKER_LAYER_GZIP, [OCI_LAYER_TAR]: DOCKER_LAYER_TAR };
const DOCKER_TO_OCI: Record<string, string> = { [DOCKER_LAYER_GZIP]: OCI_LAYER_GZIP, [DOCKER_LAYER_TAR]: OCI_LAYER_TAR };

/**
 * Re-labels a layer media type for `format` (the bytes and digest are unchanged). A zstd layer
 * has no Docker v2.2 type: `ERR_UNSUPPORTED`.
 */
export function layerMediaTypeFor(format: ImageFormat, mediaType: string): string {
  if (format === 'docker') {
    if (mediaType === OCI_LAYER_ZSTD) {
      throw new OcibuildError('ERR_UNSUPPORTED', `a zstd layer cannot be stored in a Docker v2.2 image: use format "oci"`);
    }
    return OCI_TO_DOCKER[mediaType] ?? mediaType;
  }
  return DOCKER_TO_OCI[mediaType] ?? mediaType;
}

/** A fresh config for an image with no layers on `platform` (`FROM scratch`). */
export function emptyConfig(platform: Platform): ImageConfig {
  const p = normalizePlatform(platform);
  const config: ImageConfig = {
    architecture: p.architecture,
    os: p.os,
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (p.variant !== undefined) config.variant = p.variant;
  return config;
}

/**
 * Makes an image from its parts: a new manifest of `format` over `layers` and `config`
 * (whose `rootfs.diff_ids` MUST list the layers' diffIDs in order: `ERR_INVALID_CONFIG`
 * otherwise). Layer media types are re-labelled for `format`.
 */
export function newImage(config: ImageConfig, layers: readonly Layer[], format: ImageFormat = 'oci', annotations?: Record<string, string>): Image {
  const types = FORMATS[format];
  const relabelled = layers.map((l) => relabel(l, format));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: types.manifest, config: { mediaType: types.config, digest: '', size: 0 }, layers: [] };
  if (annotations !== undefined && Object.keys(annotations).length > 0) manifest.annotations = { ...annotations };
  return encodeImage(manifest, config, relabelled);
}

/** The image of `FROM scratch`: no layers, a fresh config for `platform`. */
export function emptyImage(platform: Platform, format: ImageFormat = 'oci'): Image {
  return newImage(emptyConfig(platform), [], format);
}

/**
 * Appends layers on top of `image`, their diffIDs to `rootfs.diff_ids` and, for an
 * {@link AddendumLayer} with `history`, its history entry. Media types are re-labelled to the
 * image's format.
 */
export function appendLayers(image: Image, layers: readonly (Layer | AddendumLayer)[]): Image {
  const format: ImageFormat = image.manifest.mediaType === FORMATS.docker.manifest ? 'docker' : 'oci';
  const added = layers.map((l) => ('layer' in l ? l : { layer: l }));
  const history = [...(image.config.history ?? [])];
  for (const a of added) if (a.history !== undefined) history.push(a.history);
  const config: ImageConfig = {
    ...image.config,
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, ...added.map((a) => a.layer.diffId)] },
  };
  if (image.config.history !== undefined || history.length > 0) config.history = history;
  return encodeImage(image.manifest, config, [...image.layers, ...added.map((a) => relabel(a.layer, format))]);
}

/**
 * Appends build steps to `image`: each {@link LayerStep}'s layer (with its `origin`) and a
 * history entry dated `created` (an RFC 3339 time), and for each {@link ConfigStep} an
 * `empty_layer` history entry. The config always ends up with a `history` list.
 */
export function appendSteps(image: Image, steps: readonly BuildStep[], created: string): Image {
  const layers: AddendumLayer[] = [];
  const history: History[] = [...(image.config.history ?? [])];
  for (const step of steps) {
    if ('layer' in step) {
      const entry: History = { created, created_by: step.createdBy };
      if (step.comment !== undefined) entry.comment = step.comment;
      layers.push({ layer: builtLayer(step.layer, step.origin), history: entry });
      history.push(entry);
    } else {
      history.push({ created, created_by: step.createdBy, empty_layer: true });
    }
  }
  const appended = appendLayers(image, layers.map((a) => a.layer));
  return withConfig(appended, { ...appended.config, history });
}

/** Replaces the config. Its `rootfs.diff_ids` MUST still match the layers (`ERR_INVALID_CONFIG`). */
export function withConfig(image: Image, config: ImageConfig): Image {
  return encodeImage(image.manifest, config, image.layers);
}

/** Merges `annotations` into the manifest's annotations (later keys win). */
export function withAnnotations(image: Image, annotations: Record<string, string>): Image {
  const merged = { ...(image.manifest.annotations ?? {}), ...annotations };
  const manifest: ImageManifest = { ...image.manifest };
  if (Object.keys(merged).length > 0) manifest.annotations = merged;
  return encodeImage(manifest, image.config, image.layers);
}

/** Sets the config's platform (os, architecture, variant) and the descriptor's. */
export function withPlatform(image: Image, platform: Platform): Image {
  const p = normalizePlatform(platform);
  const config: ImageConfig = { ...image.config, os: p.os, architecture: p.architecture };
  delete config.variant;
  if (p.variant !== undefined) config.variant = p.variant;
  if (p['os.version'] !== undefined) config['os.version'] = p['os.version'];
  const next = encodeImage(image.manifest, config, image.layers);
  return { ...next, descriptor: { ...next.descriptor, platform: p } };
}

/** Re-encodes config and manifest around `layers`; the manifest keeps its other fields. */
function encodeImage(manifest: ImageManifest, config: ImageConfig, layers: readonly Layer[]): Image {
  if (config.rootfs.diff_ids.length !== layers.length || layers.some((l, i) => l.diffId !== config.rootfs.diff_ids[i])) {
    throw new OcibuildError('ERR_INVALID_CONFIG', `config lists ${config.rootfs.diff_ids.length} diff_ids that do not match the image's ${layers.length} layers`);
  }
  const rawConfig = encodeConfig(config);
  const configDescriptor: Descriptor = { mediaType: manifest.config.mediaType, digest: hashBytes(rawConfig), size: rawConfig.length };
  const next: ImageManifest = { ...manifest, config: configDescriptor, layers: layers.map((l) => l.descriptor) };
  const rawManifest = encodeManifest(next);
  return { descriptor: descriptorOf(rawManifest), rawManifest, manifest: next, config, rawConfig, layers };
}

function relabel(layer: Layer, format: ImageFormat): Layer {
  const mediaType = layerMediaTypeFor(format, layer.descriptor.mediaType);
  return mediaType === layer.descriptor.mediaType ? layer : { ...layer, descriptor: { ...layer.descriptor, mediaType } };
}
