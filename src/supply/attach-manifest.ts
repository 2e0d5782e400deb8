/**
 * The pure part of attaching: the artifact manifest an {@link Attachment} becomes, the fallback
 * tag of a subject (`sha256-<hex>`, OCI distribution-spec 1.1 "referrers tag schema"), and the
 * merge of a new referrer into the fallback index. No I/O here.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { hashBytes } from '../hash/index.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { EMPTY_JSON_DIGEST, OCI_EMPTY, OCI_MANIFEST } from '../oci/mediatypes.ts';
import { isDigest } from '../oci/digest.ts';
import { referrersTag } from '../oci/referrers.ts';
import type { Descriptor, ImageIndex, ImageManifest, RawManifest } from '../oci/types.ts';
import type { Attachment } from './types.ts';

/** The annotation holding an artifact's creation time (RFC 3339, UTC). */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

/** The bytes of the empty config every artifact manifest points at (`{}`, OCI image-spec 1.1). */
export const EMPTY_CONFIG_BYTES: Uint8Array = new TextEncoder().encode('{}');

/** The descriptor of {@link EMPTY_CONFIG_BYTES}. */
export const EMPTY_CONFIG: Descriptor = { mediaType: OCI_EMPTY, digest: EMPTY_JSON_DIGEST, size: 2 };

/** An artifact ready to write: the manifest and the blobs it references. */
export interface ArtifactParts {
  /** The artifact manifest (canonical JSON). */
  manifest: RawManifest;
  /** Its descriptor as a referrers list shows it: with `artifactType` and the manifest's annotations. */
  descriptor: Descriptor;
  /** The blobs to write before the manifest: the empty config and the document layer. */
  blobs: { descriptor: Descriptor; bytes: Uint8Array }[];
}

/** RFC 3339 without fractional seconds (`2024-01-01T00:00:00Z`), as BuildKit and oras write times. */
export function rfc3339(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError('attach: created is not a valid date');
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Builds the OCI artifact manifest of `attachment` for `subject`: `artifactType`, the empty
 * config, one layer holding the document, `subject` (media type, digest and size only), and the
 * attachment's annotations plus `org.opencontainers.image.created` from `created` (an
 * annotation the attachment gives wins). The same inputs give the same bytes.
 */
export function artifactManifest(subject: Descriptor, attachment: Attachment, created: Date): ArtifactParts {
  if (!isDigest(subject.digest)) throw new InvalidArgumentError(`attach: subject digest ${JSON.stringify(subject.digest)} is not a digest`);
  if (!attachment.artifactType || !attachment.mediaType) {
    throw new InvalidArgumentError('attach: an attachment needs an artifactType and a mediaType');
  }
  const layer: Descriptor = { mediaType: attachment.mediaType, digest: hashBytes(attachment.bytes), size: attachment.bytes.byteLength };
  const annotations = { [CREATED_ANNOTATION]: rfc3339(created), ...attachment.annotations };
  const doc: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: attachment.artifactType,
    config: EMPTY_CONFIG,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  const manifest = encodeManifest(doc);
  return {
    manifest,
    descriptor: referrerDescriptor(manifest, doc),
    blobs: [
      { descriptor: EMPTY_CONFIG, bytes: EMPTY_CONFIG_BYTES },
      { descriptor: layer, bytes: attachment.bytes },
    ],
  };
}

/** The descriptor of a referrer as the referrers API lists it: artifactType (else the config's media type) and annotations. */
export function referrerDescriptor(raw: RawManifest, doc: Pick<ImageManifest, 'artifactType' | 'config' | 'annotations'> | Pick<ImageIndex, 'artifactType' | 'annotations'>): Descriptor {
  const artifactType = doc.artifactType ?? ('config' in doc ? doc.config.mediaType : undefined);
  return {
    mediaType: raw.mediaType,
    digest: raw.digest,
    size: raw.bytes.byteLength,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(doc.annotations !== undefined && Object.keys(doc.annotations).length > 0 ? { annotations: doc.annotations } : {}),
  };
}

/** The fallback tag of a subject digest: `sha256:ab…` → `sha256-ab…` (the registry client's `referrersTag`, so both sides agree). */
export function fallbackTag(digest: string): string {
  return referrersTag(digest);
}

