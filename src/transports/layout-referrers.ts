/**
 * Referrers in an OCI image layout: a layout has no referrers API, so the manifests it holds are
 * scanned for a `subject` (image-spec image-layout.md: every manifest a layout keeps is reachable
 * from `index.json`; referrers are listed there untagged, as oras and skopeo write them).
 * @module
 */
import { isNotFound } from '../errors.ts';
import { isIndexMediaType, isManifestMediaType } from '../oci/mediatypes.ts';
import { referrerOf } from '../oci/referrers.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import { outlineManifest } from '../image/sniff.ts';

/**
 * The descriptors of the manifests reachable from `entries` (index children included, each
 * read once) whose `subject` is `digest`, of `artifactType` when given. `read` reads a manifest
 * by digest (size-capped and verified), `where` names the layout in errors; a child the layout does not hold (a partial copy of an
 * index) is skipped. Entries that are not manifests or indexes are not read.
 */
export async function scanReferrers(
  entries: readonly Descriptor[],
  digest: string,
  read: (digest: string) => Promise<RawManifest>,
  where: string,
  artifactType?: string,
): Promise<Descriptor[]> {
  const found: Descriptor[] = [];
  const seen = new Set<string>();
  const queue = [...entries];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (seen.has(next.digest)) continue;
    seen.add(next.digest);
    // An entry without a media type may still be a manifest (older writers); anything typed otherwise is not.
    if (next.mediaType && !isManifestMediaType(next.mediaType) && !isIndexMediaType(next.mediaType)) continue;
    let raw: RawManifest;
    try {
      raw = await read(next.digest);
    } catch (error) {
      if (isNotFound(error)) continue;
      throw error;
    }
    const referrer = referrerOf(raw);
    if (referrer?.subject === digest && (artifactType === undefined || referrer.descriptor.artifactType === artifactType)) {
      found.push(referrer.descriptor);
    }
    const outline = outlineManifest(raw.bytes, `${where} manifest ${raw.digest}`, raw.mediaType);
    if (outline.isIndex) queue.push(...outline.manifests);
  }
  return found;
}
