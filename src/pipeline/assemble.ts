/**
 * Assembling one platform's {@link Image}: base layers (lazy) + new layers + edited config, into a
 * memory source that the copier pushes to every target.
 * @module
 */
import { formatCreated } from '../oci/config.ts';
import type { ImageConfig } from '../oci/types.ts';
import type { MemorySource } from '../image/memory.ts';
import type { Image } from '../image/model.ts';
import { appendSteps, newImage, withAnnotations, withConfig, type BuildStep, type ImageFormat } from '../image/mutate.ts';

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
  steps: BuildStep[];
  /** Output format. */
  format: ImageFormat;
  /** Creation time in seconds since the epoch. */
  created: number;
  /** Extra manifest annotations (OCI format only). */
  annotations?: Record<string, string>;
}

/** Builds the image (config and manifest over the base's and the new layers) and registers every blob with `source`. */
export function assembleImage(input: AssembleInput, source: MemorySource): Image {
  const created = formatCreated(input.created);
  // A fresh manifest of the output format over the base's layers: the base's own annotations do not carry over.
  const onBase = newImage(input.config, input.base.layers, input.format);
  const built = appendSteps(onBase, input.steps, created);
  const annotations: Record<string, string> = {};
  if (input.format === 'oci') {
    Object.assign(annotations, input.annotations ?? {});
    if (input.baseDigest !== undefined) {
      // The planners leave the name out for a local (oci:, docker-archive:) base: a host path.
      if (input.baseName !== undefined) annotations['org.opencontainers.image.base.name'] = input.baseName;
      annotations['org.opencontainers.image.base.digest'] = input.baseDigest;
    }
  }
  const dated = withConfig(built, { ...built.config, created });
  const image = Object.keys(annotations).length > 0 ? withAnnotations(dated, annotations) : dated;
  for (const layer of image.layers) source.addBlob(layer.descriptor, () => layer.open(), layer.origin);
  source.addBlob(image.manifest.config, image.rawConfig as Uint8Array);
  source.addManifest(image.rawManifest);
  return image;
}
