/**
 * Minimal reading of manifest bytes: just enough (`mediaType`, `config`, `layers`, `manifests`)
 * for transports and the copier to find the blobs a manifest references.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';

/** The fields of a manifest or index the copier needs. */
export interface ManifestOutline {
  /** Media type: the document's own, else inferred (OCI index when it has `manifests`, else OCI manifest). */
  mediaType: string;
  /** True for an index / manifest list. */
  isIndex: boolean;
  /** Config descriptor (manifests). */
  config?: Descriptor;
  /** Layer descriptors (manifests). */
  layers: Descriptor[];
  /** Child descriptors (indexes). */
  manifests: Descriptor[];
  /** The whole parsed document. */
  document: Record<string, unknown>;
}

/**
 * Parses manifest or index bytes into a {@link ManifestOutline}. `where` names the source in
 * errors; `declaredType` (from a descriptor or header) wins over inference when the document has none.
 */
export function outlineManifest(bytes: Uint8Array, where: string, declaredType?: string): ManifestOutline {
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: manifest is not valid UTF-8 JSON`, { cause: error });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: manifest is not a JSON object`);
  }
  const doc = document as Record<string, unknown>;
  const own = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : undefined;
  const hasManifests = Array.isArray(doc['manifests']);
  const mediaType = own ?? (declaredType !== undefined && declaredType !== '' ? declaredType : hasManifests ? OCI_INDEX : OCI_MANIFEST);
  const isIndex = mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST || (hasManifests && mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST);
  const outline: ManifestOutline = { mediaType, isIndex, layers: [], manifests: [], document: doc };
  if (isIndex) {
    outline.manifests = descriptorList(doc['manifests'], where, 'manifests');
  } else {
    const config = doc['config'];
    if (!isDescriptor(config)) {
      throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: manifest has no valid "config" descriptor`);
    }
    outline.config = config;
    outline.layers = descriptorList(doc['layers'] ?? [], where, 'layers');
  }
  return outline;
}

function descriptorList(value: unknown, where: string, field: string): Descriptor[] {
  if (!Array.isArray(value) || !value.every(isDescriptor)) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: "${field}" must be an array of descriptors`);
  }
  return value;
}

function isDescriptor(value: unknown): value is Descriptor {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return (
    typeof d['mediaType'] === 'string' &&
    typeof d['digest'] === 'string' &&
    typeof d['size'] === 'number' &&
    Number.isSafeInteger(d['size']) &&
    (d['size'] as number) >= 0
  );
}
