/**
 * OCI 1.1 referrers as data: the descriptor a manifest with a `subject` is listed under, the
 * fallback tag of the distribution spec's referrers tag scheme, and adding a descriptor to the
 * index kept under that tag. No I/O here.
 * @module
 */
import { OcibuildError } from '../errors.ts';
import { hashBytes } from '../hash/index.ts';
import { canonicalJson } from './json.ts';
import { OCI_INDEX } from './mediatypes.ts';
import { parseDigest } from './digest.ts';
import type { Descriptor, RawManifest } from './types.ts';

/** A manifest that names a `subject`, and the descriptor it is listed under among the subject's referrers. */
export interface Referrer {
  /** Digest of the manifest it refers to. */
  subject: string;
  /** Its media type, digest and size, with `artifactType` and `annotations` as the referrers API lists them. */
  descriptor: Descriptor;
}

/**
 * The referrer a manifest or index is, or undefined when it has no `subject` (or is not JSON).
 * `artifactType` is the manifest's own, else its config's media type (distribution spec,
 * "Listing Referrers"); `annotations` are the manifest's.
 */
export function referrerOf(raw: RawManifest): Referrer | undefined {
  let doc: { subject?: { digest?: unknown }; artifactType?: unknown; config?: { mediaType?: unknown }; annotations?: unknown };
  try {
    doc = JSON.parse(Buffer.from(raw.bytes).toString('utf8')) as typeof doc;
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const subject = doc.subject?.digest;
  if (typeof subject !== 'string') return undefined;
  const artifactType = typeof doc.artifactType === 'string' && doc.artifactType !== ''
    ? doc.artifactType
    : typeof doc.config?.mediaType === 'string' ? doc.config.mediaType : undefined;
  const descriptor: Descriptor = { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.byteLength };
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  if (typeof doc.annotations === 'object' && doc.annotations !== null && !Array.isArray(doc.annotations)) {
    descriptor.annotations = doc.annotations as Record<string, string>;
  }
  return { subject, descriptor };
}

/** The tag the referrers of `digest` are kept under by registries without the referrers API (`sha256-HEX`). */
export function referrersTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`;
}

/**
 * The referrers index with `descriptor` added (as canonical JSON), or undefined when `current`
 * already lists that digest. `current` is the index now under the fallback tag, if any; its
 * other fields and entries are kept. Throws `ERR_INVALID_MANIFEST` when `current` is not a JSON object.
 */
export function addToReferrersIndex(current: Uint8Array | undefined, descriptor: Descriptor): RawManifest | undefined {
  let doc: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  if (current !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(current).toString('utf8'));
    } catch (error) {
      throw new OcibuildError('ERR_INVALID_MANIFEST', 'the referrers index under the fallback tag is not JSON', { cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new OcibuildError('ERR_INVALID_MANIFEST', 'the referrers index under the fallback tag is not a JSON object');
    }
    doc = { ...(parsed as Record<string, unknown>) };
  }
  const manifests = Array.isArray(doc['manifests']) ? (doc['manifests'] as Descriptor[]) : [];
  if (manifests.some((m) => m.digest === descriptor.digest)) return undefined;
  const bytes = canonicalJson({ ...doc, mediaType: OCI_INDEX, manifests: [...manifests, descriptor] });
  return { mediaType: OCI_INDEX, digest: hashBytes(bytes), bytes };
}
