/**
 * Media type constants for OCI and Docker v2.2 content.
 * @module
 */

/** OCI image manifest. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** OCI image index. */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** OCI image config. */
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** OCI uncompressed layer. */
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
/** OCI gzip layer. */
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** OCI zstd layer. */
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** OCI non-distributable gzip layer (deprecated but readable). */
export const OCI_LAYER_NONDIST_GZIP = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
/** OCI empty descriptor (`{}`), for artifacts. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** OCI image layout file version. */
export const OCI_LAYOUT_VERSION = '1.0.0';

/** Docker v2.2 manifest. */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** Docker v2.2 manifest list. */
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Docker image config. */
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** Docker gzip layer. */
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** Docker's media type for an uncompressed layer (defined by containers/image; not in the v2.2 spec text). */
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
/** Docker foreign layer. */
export const DOCKER_LAYER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

/** Docker image manifest schema 1 (unsigned); read by nothing in ocibuild. */
export const DOCKER_MANIFEST_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
/** Docker image manifest schema 1, signed; read by nothing in ocibuild. */
export const DOCKER_MANIFEST_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** The digest of the OCI empty descriptor's content `{}`. */
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** Media types of single-image manifests. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST];
/** Media types of indexes / manifest lists. */
export const INDEX_MEDIA_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];

/** True for OCI index or Docker manifest list. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_MEDIA_TYPES.includes(mediaType);
}

/** True for OCI or Docker single-image manifest. */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && MANIFEST_MEDIA_TYPES.includes(mediaType);
}

/** True when the layer media type is gzip-compressed. */
export function isGzipLayer(mediaType: string): boolean {
  return mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip');
}

/** The media type set of one output format. */
export interface FormatMediaTypes {
  /** Manifest media type. */
  manifest: string;
  /** Index / manifest list media type. */
  index: string;
  /** Config media type. */
  config: string;
  /** Gzip layer media type. */
  layerGzip: string;
}

/** Media types by output format. */
export const FORMATS: Record<'oci' | 'docker', FormatMediaTypes> = {
  oci: { manifest: OCI_MANIFEST, index: OCI_INDEX, config: OCI_CONFIG, layerGzip: OCI_LAYER_GZIP },
  docker: { manifest: DOCKER_MANIFEST, index: DOCKER_MANIFEST_LIST, config: DOCKER_CONFIG, layerGzip: DOCKER_LAYER_GZIP },
};
