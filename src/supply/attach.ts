/**
 * Attaching documents (SBOM, provenance, signatures) to an image as OCI referrers: an artifact
 * manifest whose `subject` is the image manifest, written next to it.
 *
 * On a registry the manifest is pushed by digest; when the registry does not answer `OCI-Subject`
 * (no referrers API: distribution 2.8 has none), the registry client adds it to the fallback
 * index at tag `sha256-<hex>` of the subject (OCI distribution-spec 1.1, "pushing manifests with
 * subject"). Registries give no compare-and-swap for tags (no ETag/If-Match in distribution
 * 2.8), so that write is checked here by reading the tag again, at once and (opt-in) after a settle time,
 * and redone, a bounded number of times, when another writer's update replaced ours. In an `oci:` layout the manifest
 * is stored and listed untagged in `index.json`, as oras does. A docker-archive cannot hold one.
 * @module
 */
import { isNotFound, OcibuildError, UnsupportedError, throwIfAborted } from '../errors.ts';
import type { Descriptor, RawManifest } from '../oci/types.ts';
import type { Transport } from '../image/transport.ts';
import type { ReferrerHooks } from '../image/copy.ts';
import type { OperationOptions } from '../blob/types.ts';
import { fallbackIndexLockKey, withKeyLock } from '../blob/semaphore.ts';
import { artifactManifest, fallbackTag, type ArtifactParts } from './attach-manifest.ts';
import { addToReferrersIndex, parseReferrersIndex } from '../oci/referrers.ts';
import { listReferrers } from './referrers.ts';
import type { Attachment } from './types.ts';

/** Rounds of read-merge-write-check on a fallback tag before giving up (another writer kept replacing it). */
export const FALLBACK_UPDATE_ATTEMPTS = 5;

/**
 * Options of {@link attachArtifact}.
 * @category Supply chain
 */
export interface AttachOptions extends OperationOptions {
  /**
   * Creation time recorded in the manifest's `org.opencontainers.image.created` annotation.
   * Default `SOURCE_DATE_EPOCH` when set (so the artifact's digest is reproducible), else now.
   */
  created?: Date;
  /**
   * Fallback tag handling on registries: `'auto'` (default) updates it when the registry's
   * referrers API does not list the new manifest; `'always'` updates it regardless; `'never'`
   * does not (a registry known to have the API).
   */
  fallback?: 'auto' | 'always' | 'never';
  /**
   * Also re-check the fallback index after a settle time (at least `FALLBACK_SETTLE_MS`), against
   * another process that read it before this write and may still write its stale copy. Off by
   * default: updates within a process are serialised, and the wait costs every attachment.
   */
  settle?: boolean;
}

/**
 * What {@link attachArtifact} wrote.
 * @category Supply chain
 */
export interface AttachResult {
  /** The artifact manifest's descriptor (with `artifactType` and annotations, as the referrers list shows it). */
  descriptor: Descriptor;
  /** The subject's digest. */
  subject: string;
  /** The fallback tag that lists it, on a registry without the referrers API. */
  fallbackTag?: string;
}

/** True when the transport is a registry repository (only registries have an `origin` to mount from). */
export function isRegistryTransport(transport: Transport): boolean {
  return transport.origin !== undefined;
}

/** The creation time of attachments: `SOURCE_DATE_EPOCH` when set, else now. */
export function attachmentTime(env: NodeJS.ProcessEnv = process.env): Date {
  const value = env.SOURCE_DATE_EPOCH?.trim();
  if (value !== undefined && /^\d+$/.test(value)) return new Date(Number(value) * 1000);
  return new Date();
}

/**
 * Writes `attachment` to `transport` as an OCI artifact manifest referring to `subject` (the
 * image manifest): the empty config and the document layer first, then the manifest by digest
 * (no tag), then, on a registry without the referrers API, the fallback index. The subject need
 * not be written first. Throws `ERR_UNSUPPORTED` for a transport that holds container images
 * only (docker-archive), `ERR_INVALID_MANIFEST` when the fallback tag holds something other than
 * an index (it is left alone), and `ERR_TRANSPORT` when another writer replaced the fallback index
 * `FALLBACK_UPDATE_ATTEMPTS` times in a row. Staged transports (`oci:`) still need `commit()`.
 * @category Supply chain
 * @example
 * ```ts
 * import { attachArtifact, ociLayout } from 'ocibuild';
 *
 * // Attach a document to an image already in the layout, as an OCI referrer of its manifest.
 * const layout = ociLayout('./out');
 * const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:' + 'ab'.repeat(32), size: 1234 };
 * await attachArtifact(layout, subject, { artifactType: 'application/vnd.example+json', mediaType: 'application/json', bytes: new TextEncoder().encode('{}') });
 * await layout.commit?.();
 * ```
 */
export async function attachArtifact(transport: Transport, subject: Descriptor, attachment: Attachment, options: AttachOptions = {}): Promise<AttachResult> {
  const parts = artifactManifest(subject, attachment, options.created ?? attachmentTime());
  return await writeReferrer(transport, subject.digest, parts, options);
}

/**
 * Writes a prepared referrer (blobs, then manifest by digest) and makes it discoverable from
 * `subjectDigest` (see {@link linkReferrer}). Used by {@link attachArtifact}.
 */
export async function writeReferrer(transport: Transport, subjectDigest: string, parts: ArtifactParts, options: AttachOptions = {}): Promise<AttachResult> {
  const [fresh] = await pushReferrers(transport, [parts], options);
  const tag = await link(transport, subjectDigest, parts.descriptor, options, fresh === true);
  return { descriptor: parts.descriptor, subject: subjectDigest, ...(tag !== undefined ? { fallbackTag: tag } : {}) };
}

/**
 * Attaches several documents, each to its subject, through one transport. The artifacts' blobs
 * are written first, concurrently (each distinct blob once: the artifacts share the empty
 * config), then their manifests one after another, in the order given (so an `oci:` layout's
 * index.json and a registry's fallback index list them in that order, run after run), then they
 * are linked concurrently, so their reads of a registry's fallback index (and, with `settle`,
 * their waits) overlap instead of adding up. Results in the order given; the first failure
 * rejects, once every write or link already started has ended.
 */
export async function attachArtifacts(transport: Transport, items: readonly { subject: Descriptor; attachment: Attachment }[], options: AttachOptions = {}): Promise<AttachResult[]> {
  return await stageArtifacts(transport, items, options).finish();
}

/** Artifacts whose blobs {@link stageArtifacts} has started writing. */
export interface StagedArtifacts {
  /** Settles when every blob is written or found there; rejects with the first failure, once every write started has ended. */
  readonly blobs: Promise<void>;
  /**
   * Waits for the blobs, then writes the manifests in the order given and links them, as
   * {@link attachArtifacts} does; `signal` (when given) replaces the staging's for this part.
   */
  finish(options?: { signal?: AbortSignal }): Promise<AttachResult[]>;
}

/**
 * Starts {@link attachArtifacts}' first part, the blobs, at once, so that they upload beside the
 * subject's own blobs; the manifests wait for `finish`, which a caller runs once the subject is
 * written. A failure of the blobs is reported by `blobs` and by `finish` (never unobserved).
 */
export function stageArtifacts(transport: Transport, items: readonly { subject: Descriptor; attachment: Attachment }[], options: AttachOptions = {}): StagedArtifacts {
  const created = options.created ?? attachmentTime();
  const prepared = items.map(({ subject, attachment }) => ({ subject: subject.digest, parts: artifactManifest(subject, attachment, created) }));
  const list = prepared.map((p) => p.parts);
  const fresh = writeReferrerBlobs(transport, list, options);
  const blobs = fresh.then(() => undefined);
  blobs.catch(() => undefined);
  const finish = async (more: { signal?: AbortSignal } = {}): Promise<AttachResult[]> => {
    const written = await fresh;
    const opts: AttachOptions = more.signal !== undefined ? { ...options, signal: more.signal } : options;
    await pushManifests(transport, list, written, opts);
    const tags = await settleAll(prepared.map((p, i) => link(transport, p.subject, p.parts.descriptor, opts, written[i] === true)));
    return prepared.map(({ subject, parts }, i) => {
      const tag = tags[i];
      return { descriptor: parts.descriptor, subject, ...(tag !== undefined ? { fallbackTag: tag } : {}) };
    });
  };
  return { blobs, finish };
}

/** Blob writes {@link writeReferrerBlobs} runs at once (a registry client bounds its uploads too). */
const BLOB_WRITES = 4;

/**
 * Writes the blobs of every referrer in `list` that the transport lacks, concurrently, each
 * distinct blob once; resolves, per referrer, whether its manifest is still to be written (false
 * when a registry already had it: it checked the blobs at PUT, so nothing is written, and no
 * write of ours can race). The first failure rejects once every write started has ended.
 */
async function writeReferrerBlobs(transport: Transport, list: readonly ArtifactParts[], options: AttachOptions): Promise<boolean[]> {
  if (transport.acceptsArtifacts === false && list.length > 0) {
    const first = list[0] as ArtifactParts;
    throw new UnsupportedError(`${transport.description} holds container images only, not OCI artifacts: cannot attach ${first.descriptor.artifactType ?? 'an artifact'} there`);
  }
  const opts = options.signal ? { signal: options.signal } : {};
  const registry = isRegistryTransport(transport);
  const fresh = await settleAll(list.map((parts) => (registry ? hasManifest(transport, parts.manifest.digest, opts).then((has) => !has) : Promise.resolve(true))));
  const blobs = new Map<string, ArtifactParts['blobs'][number]>();
  list.forEach((parts, i) => {
    if (fresh[i] === true) for (const blob of parts.blobs) if (!blobs.has(blob.descriptor.digest)) blobs.set(blob.descriptor.digest, blob);
  });
  const queue = [...blobs.values()];
  const write = async (): Promise<void> => {
    for (let blob = queue.shift(); blob !== undefined; blob = queue.shift()) {
      throwIfAborted(options.signal);
      if (await transport.hasBlob(blob.descriptor, opts)) continue;
      const bytes = blob.bytes;
      await transport.putBlob(blob.descriptor, async function* () {
        yield bytes;
      }, opts);
    }
  };
  await settleAll(Array.from({ length: Math.min(BLOB_WRITES, queue.length) }, write));
  return fresh;
}

/** Waits for every promise, then resolves their values or rejects with the first rejection (in the order given). */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const outcomes = await Promise.allSettled(promises);
  return outcomes.map((outcome) => {
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  });
}

/**
 * Writes referrers: every blob first ({@link writeReferrerBlobs}), then the manifests one after
 * another in the order given. Per referrer, false when a registry already had the manifest
 * (nothing written, so no write of ours can race).
 */
async function pushReferrers(transport: Transport, list: readonly ArtifactParts[], options: AttachOptions): Promise<boolean[]> {
  const fresh = await writeReferrerBlobs(transport, list, options);
  await pushManifests(transport, list, fresh, options);
  return fresh;
}

/** Writes the manifests of `list` still to be written (`fresh`), one after another in the order given. */
async function pushManifests(transport: Transport, list: readonly ArtifactParts[], fresh: readonly boolean[], options: AttachOptions): Promise<void> {
  const opts = options.signal ? { signal: options.signal } : {};
  for (const [i, parts] of list.entries()) {
    throwIfAborted(options.signal);
    if (fresh[i] === true) await transport.putManifest(parts.manifest, undefined, opts);
  }
}

/**
 * Makes the referrer `entry` (already written) discoverable from `subjectDigest` and checks that
 * it stays so. On a registry the client's manifest PUT has already added it to the fallback
 * index once when the registry did not answer `OCI-Subject`; a concurrent writer may have
 * replaced that index since. So (mode `'auto'`): when the referrers listing lacks the entry,
 * the fallback index is updated with {@link updateFallbackIndex}; when only the fallback index
 * lists it, it is read again at once and, with `settle`, after {@link FALLBACK_SETTLE_MS}, and updated if the entry was lost;
 * when the referrers API lists it, nothing is left to do. Mode `'always'` runs the full update;
 * `'never'` does nothing more. Elsewhere there is nothing to do (an `oci:` layout lists the
 * manifest in `index.json`). Returns the fallback tag when the entry is listed there.
 */
export function linkReferrer(transport: Transport, subjectDigest: string, entry: Descriptor, options: AttachOptions = {}): Promise<string | undefined> {
  return link(transport, subjectDigest, entry, options, true);
}

/** {@link linkReferrer}; `fresh` is false when the manifest was already there (no write of ours can race, so no settle wait). */
async function link(transport: Transport, subjectDigest: string, entry: Descriptor, options: AttachOptions, fresh: boolean): Promise<string | undefined> {
  if (!isRegistryTransport(transport)) return undefined;
  const mode = options.fallback ?? 'auto';
  if (mode === 'never') return undefined;
  const tag = fallbackTag(subjectDigest);
  const where = `${transport.description}:${tag}`;
  const opts = options.signal ? { signal: options.signal } : {};
  if (mode === 'auto') {
    const started = Date.now();
    // The fallback index first: on a registry without the referrers API (where the client's PUT
    // has just added the entry there) one read settles it, where the listing would ask the API,
    // read the tag, and the check below read it again.
    if (await listsEntry(transport, tag, entry, where, opts)) {
      // The settle-time re-check is opt-in (`settle`, as in updateFallbackIndex): it costs every
      // attachment of every build at least FALLBACK_SETTLE_MS.
      if (!fresh || options.settle !== true) return tag;
      await settle(Date.now() - started, options.signal);
      if (await listsEntry(transport, tag, entry, where, opts)) return tag;
    } else if ((await listReferrers(transport, subjectDigest, opts)).some((d) => d.digest === entry.digest)) {
      // Listed by the referrers API, with no fallback index in play.
      return undefined;
    }
  }
  await updateFallbackIndex(transport, subjectDigest, entry, options);
  return tag;
}

/** Waits between fallback-index rounds: 50, 100, 200, 400 ms plus up to 50 ms of jitter. */
function backoff(attempt: number, signal: AbortSignal | undefined): Promise<void> {
  return delay(50 * 2 ** (attempt - 1) + Math.floor(Math.random() * 50), signal);
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new OcibuildError('ERR_ABORTED', 'attach aborted', { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function hasManifest(transport: Transport, digest: string, opts: OperationOptions): Promise<boolean> {
  try {
    await transport.getManifest(digest, opts);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Least time between writing the fallback index and checking it a second time. */
export const FALLBACK_SETTLE_MS = 200;

/**
 * Waits before the second check: {@link FALLBACK_SETTLE_MS}, or four times `observedMs` (our
 * own read-to-write time, or a listing's round trips) when longer, since another writer's
 * read-to-write gap grows with the registry's and the machine's load as ours does; plus jitter.
 */
function settle(observedMs: number, signal: AbortSignal | undefined): Promise<void> {
  return delay(Math.max(FALLBACK_SETTLE_MS, 4 * observedMs) + Math.floor(Math.random() * 50), signal);
}

async function listsEntry(transport: Transport, tag: string, entry: Descriptor, where: string, opts: OperationOptions): Promise<boolean> {
  const raw = await readFallback(transport, tag, opts);
  return raw !== undefined && parseReferrersIndex(raw, where).manifests.some((d) => d.digest === entry.digest);
}

async function readFallback(transport: Transport, tag: string, opts: OperationOptions): Promise<RawManifest | undefined> {
  try {
    return await transport.getManifest(tag, opts);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Adds `entry` to the fallback index of `subjectDigest` (tag `sha256-<hex>`): read, merge
 * (keeping every other entry), write, read again at once and after a settle time (at least
 * {@link FALLBACK_SETTLE_MS}, longer when the registry is slow) to check that no concurrent writer replaced it, and redo after a short wait when one did, at
 * most `FALLBACK_UPDATE_ATTEMPTS` rounds.
 */
export async function updateFallbackIndex(transport: Transport, subjectDigest: string, entry: Descriptor, options: OperationOptions & { settle?: boolean } = {}): Promise<void> {
  const origin = transport.origin;
  const key = origin !== undefined ? fallbackIndexLockKey(origin.registry, origin.repository, fallbackTag(subjectDigest)) : `${transport.description} ${fallbackTag(subjectDigest)}`;
  // Serialised with every other update of this index in the process (the registry client's own
  // included); the settle check below covers writers in other processes.
  await withKeyLock(key, async () => {
    const tag = fallbackTag(subjectDigest);
    const where = `${transport.description}:${tag}`;
    const opts = options.signal ? { signal: options.signal } : {};
    for (let attempt = 1; attempt <= FALLBACK_UPDATE_ATTEMPTS; attempt++) {
      throwIfAborted(options.signal);
      const started = Date.now();
      let current = await readFallback(transport, tag, opts);
      // distribution rewrites a tag's link file in place, so a read during another writer's update
      // can miss the tag: confirm an absence before starting the index afresh (which drops entries).
      if (current === undefined) current = await delay(50, options.signal).then(() => readFallback(transport, tag, opts));
      const merged = addToReferrersIndex(current, entry, where);
      // Already listed (the registry client lists a referrer it pushes): a writer that read the
      // index before that write may still replace it, so it is checked after the settle time too.
      if (merged !== undefined) await transport.putManifest(merged, tag, opts);
      const readToWrite = Date.now() - started;
      // A writer that read the index before our write may still write its stale copy after it:
      // check at once and again after a settle time longer than such a read-to-write gap.
      if (await listsEntry(transport, tag, entry, where, opts)) {
        if (options.settle !== true) return;
        await settle(readToWrite, options.signal);
        if (await listsEntry(transport, tag, entry, where, opts)) return;
      }
      // Another tool's write replaced ours: merge again.
      if (attempt < FALLBACK_UPDATE_ATTEMPTS) await backoff(attempt, options.signal);
    }
    throw new OcibuildError(
      'ERR_TRANSPORT',
      `${where}: the referrers fallback index was replaced by another writer ${FALLBACK_UPDATE_ATTEMPTS} times in a row; ${entry.digest} is pushed but not listed there (attach again to retry)`,
    );
  });
}

/**
 * The hooks `copyImage` needs to carry referrers (its `referrers` option): list them in the
 * source with {@link listReferrers} (referrers API, fallback tag, `oci:` index.json) and link each
 * one written to the destination with {@link linkReferrer} (the fallback index on registries
 * without the API).
 */
export function referrerCopyHooks(options: Pick<AttachOptions, 'fallback'> = {}): ReferrerHooks {
  return {
    list: (transport, digest, opts) => listReferrers(transport, digest, opts),
    link: (transport, subjectDigest, entry, opts) => linkReferrer(transport, subjectDigest, entry, { ...options, ...opts }),
  };
}
