/**
 * Assembling one platform's image: base layers (lazy) + new layers + edited config, into a
 * memory source that the copier pushes to every target.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { encodeConfig, formatCreated } from '../oci/config.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { FORMATS, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP } from '../oci/mediatypes.ts';
import type { Descriptor, History, ImageConfig, ImageManifest, RawManifest } from '../oci/types.ts';
import { hashBytes } from '../hash/index.ts';
import type { MemorySource } from '../image/memory.ts';
import type { BuiltLayer } from '../layer/types.ts';
import type { BlobOrigin } from '../transports/types.ts';
import type { ResolvedBase } from './base.ts';

/** A layer the build adds on top of the base. */
export interface AddedLayer {
  /** The written layer. */
  layer: BuiltLayer;
  /** History entry text. */
  createdBy: string;
  /** History comment. */
  comment?: string;
  /** True when the layer came from a cache instead of being written. */
  cached?: boolean;
  /** A registry repository that holds the blob (the step cache repo): the push mounts it from there. */
  origin?: BlobOrigin;
}

/** A config-only history step (no layer), such as a Dockerfile ENV. */
export interface EmptyStep {
  /** History entry text. */
  createdBy: string;
}

/** Inputs of {@link assembleImage}. */
export interface AssembleInput {
  /** The resolved base. */
  base: ResolvedBase;
  /** Human name of the base for the annotation (`docker.io/library/busybox:1.36`); undefined for scratch. */
  baseName: string | undefined;
  /** The config after all edits, before rootfs/history are extended. */
  config: ImageConfig;
  /** History steps in order: layers and empty steps. */
  steps: (AddedLayer | EmptyStep)[];
  /** Output format. */
  format: 'oci' | 'docker';
  /** Creation time in seconds since the epoch. */
  created: number;
  /** Extra manifest annotations (OCI format only). */
  annotations?: Record<string, string>;
}

/** The assembled image. */
export interface AssembledImage {
  /** The manifest bytes. */
  raw: RawManifest;
  /** The manifest. */
  manifest: ImageManifest;
  /** The final config. */
  config: ImageConfig;
  /** Descriptor of the config blob. */
  configDescriptor: Descriptor;
}

const OCI_TO_DOCKER: Record<string, string> = { [OCI_LAYER_GZIP]: DOCKER_LAYER_GZIP };
const DOCKER_TO_OCI: Record<string, string> = { [DOCKER_LAYER_GZIP]: OCI_LAYER_GZIP };

/** Re-labels a base layer's media type for the output format (the bytes and digest are unchanged). */
export function layerMediaTypeFor(format: 'oci' | 'docker', mediaType: string): string {
  if (format === 'docker') {
    if (mediaType === OCI_LAYER_ZSTD) {
      throw new OcibuildError('ERR_UNSUPPORTED', `a zstd layer cannot be stored in a Docker v2.2 image: use format "oci"`);
    }
    if (mediaType === OCI_LAYER_TAR) return 'application/vnd.docker.image.rootfs.diff.tar';
    return OCI_TO_DOCKER[mediaType] ?? mediaType;
  }
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return OCI_LAYER_TAR;
  return DOCKER_TO_OCI[mediaType] ?? mediaType;
}

/** Builds the config and manifest and registers every blob with `source`. */
export function assembleImage(input: AssembleInput, source: MemorySource): AssembledImage {
  const { base, format } = input;
  const types = FORMATS[format];
  const created = formatCreated(input.created);
  const layers: Descriptor[] = base.layers.map((d) => ({ ...d, mediaType: layerMediaTypeFor(format, d.mediaType) }));
  for (const [i, d] of layers.entries()) {
    const original = base.layers[i] as Descriptor;
    const transport = base.transport;
    if (transport === undefined) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'base layers without a source');
    source.addBlob(d, () => lazy(() => transport.getBlob(original)), { transport, ...(transport.origin ?? {}) });
  }
  const diffIds = [...input.config.rootfs.diff_ids];
  const history: History[] = [...(input.config.history ?? [])];
  for (const step of input.steps) {
    if ('layer' in step) {
      const { layer } = step;
      const descriptor: Descriptor = { ...layer.descriptor, mediaType: layerMediaTypeFor(format, layer.descriptor.mediaType) };
      layers.push(descriptor);
      diffIds.push(layer.diffId);
      source.addBlob(descriptor, () => layer.open(), step.origin);
      const entry: History = { created, created_by: step.createdBy };
      if (step.comment !== undefined) entry.comment = step.comment;
      history.push(entry);
    } else {
      history.push({ created, created_by: step.createdBy, empty_layer: true });
    }
  }
  const config: ImageConfig = { ...input.config, created, rootfs: { type: 'layers', diff_ids: diffIds }, history };
  const configBytes = encodeConfig(config);
  const configDescriptor: Descriptor = { mediaType: types.config, digest: hashBytes(configBytes), size: configBytes.length };
  source.addBlob(configDescriptor, configBytes);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: types.manifest, config: configDescriptor, layers };
  if (format === 'oci') {
    const annotations: Record<string, string> = { ...(input.annotations ?? {}) };
    if (base.digest !== undefined) {
      // The planners leave the name out for a local (oci:, docker-archive:) base: a host path.
      if (input.baseName !== undefined) annotations['org.opencontainers.image.base.name'] = input.baseName;
      annotations['org.opencontainers.image.base.digest'] = base.digest;
    }
    if (Object.keys(annotations).length > 0) manifest.annotations = annotations;
  }
  const raw = encodeManifest(manifest);
  source.addManifest(raw);
  return { raw, manifest, config, configDescriptor };
}

/** Turns a promised stream into a stream, so a body factory can open lazily. */
async function* lazy(open: () => Promise<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  yield* await open();
}
