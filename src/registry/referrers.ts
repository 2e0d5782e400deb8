/**
 * The push side of the referrers tag scheme (distribution spec, "Pushing Manifests with
 * Subject"): a registry that does not index a manifest's `subject` itself (no `OCI-Subject`
 * header on the PUT) gets the index under the fallback tag `sha256-HEX` updated by the client,
 * so that `listReferrers` finds the new referrer either way.
 * @module
 */
import { fallbackIndexLockKey, withKeyLock } from '../blob/semaphore.ts';
import { RegistryError } from '../errors.ts';
import { addToReferrersIndex, referrerOf, referrersTag } from '../oci/referrers.ts';
import type { RawManifest } from '../oci/types.ts';
import { getManifest, putManifest, type PutManifestResult } from './manifests.ts';
import type { OperationContext, RepositoryLocation, RequestOptions } from './operation.ts';

/**
 * Pushes `manifest` as {@link putManifest} does; when it has a `subject` and the registry did
 * not say it indexed it (`OCI-Subject`), adds it to the subject's fallback-tag index (read,
 * add when missing, push). Concurrent pushers of referrers to one subject can race on that
 * index, as the spec accepts; within one process the updates of one index are serialised.
 */
export async function putManifestAndReferrers(
  ctx: OperationContext,
  repo: RepositoryLocation,
  manifest: RawManifest,
  reference: string | undefined,
  options: RequestOptions = {},
): Promise<PutManifestResult> {
  const result = await putManifest(ctx, repo, manifest, reference, options);
  const referrer = referrerOf(manifest);
  if (referrer === undefined || result.subjectIndexed === true) return result;
  const tag = referrersTag(referrer.subject);
  // One update of a subject's index at a time in this process (other processes can still race).
  await withKeyLock(fallbackIndexLockKey(repo.registry, repo.repository, tag), async () => {
    let current: RawManifest | undefined;
    try {
      current = await getManifest(ctx, repo, tag, options);
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === 'ERR_REGISTRY_NOT_FOUND')) throw error;
    }
    const updated = addToReferrersIndex(current, referrer.descriptor);
    if (updated !== undefined) await putManifest(ctx, repo, updated, tag, options);
  });
  return result;
}
