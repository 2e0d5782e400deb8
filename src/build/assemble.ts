/**
 * Assembling one platform's {@link Image}: base layers (lazy) + new layers + edited config, into a
 * memory source that the copier pushes to every target.
 * @module
 */
import { formatCreated } from '../oci/config.ts';
import type { History, ImageConfig } from '../oci/types.ts';
import type { MemorySource } from '../image/memory.ts';
import type { Image, Layer } from '../image/model.ts';
import { newImage, type ImageFormat } from '../image/mutate.ts';
import { builtLayer } from '../image/open.ts';
import type { BuiltLayer } from '../layer/types.ts';
import type { BlobOrigin } from '../transports/types.ts';

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
  /** The base image (the empty image for scratch). */
  base: Image;
  /** Human name of the base for the annotation (`docker.io/library/busybox:1.36`); undefined for scratch. */
  baseName: string | undefined;
  /** What the base's name resolved to (see `baseDigest`); undefined when it has no name (scratch, a directory context). */
  baseDigest: string | undefined;
  /** The config after all edits, before rootfs/history are extended. */
  config: ImageConfig;
  /** History steps in order: layers and empty steps. */
  steps: (AddedLayer | EmptyStep)[];
  /** Output format. */
  format: ImageFormat;
  /** Creation time in seconds since the epoch. */
  created: number;
  /** Extra manifest annotations (OCI format only). */
  annotations?: Record<string, string>;
}

/** Builds the image (config and manifest over the base's and the new layers) and registers every blob with `source`. */
export function assembleImage(input: AssembleInput, source: MemorySource): Image {
  const { base, format } = input;
  const created = formatCreated(input.created);
  const layers: Layer[] = [...base.layers];
  const diffIds = [...input.config.rootfs.diff_ids];
  const history: History[] = [...(input.config.history ?? [])];
  for (const step of input.steps) {
    if ('layer' in step) {
      layers.push(builtLayer(step.layer, step.origin));
      diffIds.push(step.layer.diffId);
      const entry: History = { created, created_by: step.createdBy };
      if (step.comment !== undefined) entry.comment = step.comment;
      history.push(entry);
    } else {
      history.push({ created, created_by: step.createdBy, empty_layer: true });
    }
  }
  const config: ImageConfig = { ...input.config, created, rootfs: { type: 'layers', diff_ids: diffIds }, history };
  const annotations: Record<string, string> = {};
  if (format === 'oci') {
    Object.assign(annotations, input.annotations ?? {});
    if (input.baseName !== undefined && input.baseDigest !== undefined) {
      annotations['org.opencontainers.image.base.name'] = input.baseName;
      annotations['org.opencontainers.image.base.digest'] = input.baseDigest;
    }
  }
  const image = newImage(config, layers, format, annotations);
  for (const layer of image.layers) source.addBlob(layer.descriptor, () => layer.open(), layer.origin);
  source.addBlob(image.manifest.config, image.rawConfig as Uint8Array);
  source.addManifest(image.rawManifest);
  return image;
}
