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
import type { Descriptor, ImageIndex, RawManifest } from './types.ts';
import { encodeManifest } from './manifest.ts';

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
 * Parses the document under a fallback tag (`where` names it in errors): an OCI image index
 * whose `manifests` is an array, else `ERR_INVALID_MANIFEST` (distribution spec, "Pushing
 * Manifests with Subject": a pull that returns anything other than the expected image index
 * is reported, and the tag is not overwritten). Entries that are not objects with a string
 * `digest` are dropped; callers that list referrers check the rest.
 */
export function parseReferrersIndex(raw: RawManifest, where: string): ImageIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw.bytes).toString('utf8'));
  } catch (error) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: the referrers fallback tag holds something that is not JSON; not overwriting it`, { cause: error });
  }
  const manifests = (doc as { manifests?: unknown } | null)?.manifests;
  if (raw.mediaType !== OCI_INDEX || typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Array.isArray(manifests)) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: the referrers fallback tag holds a ${raw.mediaType}, not an OCI image index; not overwriting it`);
  }
  return { ...(doc as ImageIndex), manifests: manifests.filter((d): d is Descriptor => typeof d === 'object' && d !== null && typeof (d as Descriptor).digest === 'string') };
}

/**
 * The referrers index under a fallback tag with `descriptor` listed, or undefined when
 * `current` (the document now under the tag; undefined when the tag is absent, which starts an
 * empty index) already lists exactly that descriptor. The one rule for every writer of a
 * fallback index, the registry client's and `attachArtifact`'s, following the distribution
 * spec's steps for pushing a manifest with a subject:
 * - `current` must be an OCI image index ({@link parseReferrersIndex}; `ERR_INVALID_MANIFEST`
 *   otherwise, and the tag is left alone);
 * - one entry per digest ("duplicate entries SHOULD NOT be created"): an entry of the same
 *   digest that differs from `descriptor` is replaced where it stands, since the spec makes the
 *   entry's `artifactType` and annotations those of the manifest itself, which `descriptor`
 *   carries and an older or foreign entry may lack;
 * - every other entry and field is kept (another tool's referrers survive).
 */
export function addToReferrersIndex(current: RawManifest | undefined, descriptor: Descriptor, where = 'the referrers fallback tag'): RawManifest | undefined {
  const base: ImageIndex = current === undefined ? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] } : parseReferrersIndex(current, where);
  const same = base.manifests.filter((d) => d.digest === descriptor.digest);
  if (same.length === 1 && hashBytes(canonicalJson(same[0])) === hashBytes(canonicalJson(descriptor))) return undefined;
  // The first entry of the digest is replaced where it stands, any further one dropped.
  const manifests: Descriptor[] = [];
  let placed = false;
  for (const d of base.manifests) {
    if (d.digest !== descriptor.digest) manifests.push(d);
    else if (!placed) {
      manifests.push(descriptor);
      placed = true;
    }
  }
  if (!placed) manifests.push(descriptor);
  return encodeManifest({ ...base, mediaType: OCI_INDEX, manifests });
}
