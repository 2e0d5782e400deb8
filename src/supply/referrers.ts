/**
 * Listing the referrers of a manifest (the artifacts whose `subject` it is) on any transport:
 * the transport's own listing when it has one (a registry: the referrers API, else the fallback
 * tag; an `oci:` layout: the manifests it holds whose `subject` is the digest), else the
 * fallback index at tag `sha256-<hex>`; reading an attached document back; the tree of
 * referrers of referrers.
 * @module
 */
import { isNotFound, LimitExceededError, OcibuildError, throwIfAborted } from '../errors.ts';
import { parseManifest } from '../oci/manifest.ts';
import { isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import type { Transport } from '../image/transport.ts';
import type { OperationOptions } from '../blob/types.ts';
import { fallbackTag } from './attach-manifest.ts';
import { parseReferrersIndex } from '../oci/referrers.ts';
import { readVerified } from '../blob/verify.ts';

/** Options of {@link listReferrers}. */
export interface ListReferrersOptions extends OperationOptions {
  /** Only referrers of this artifact type. */
  artifactType?: string;
}

/**
 * Lists the referrers of `digest` in `transport`: descriptors with `artifactType` and the
 * referrer's annotations, each digest once, filtered by `artifactType` when asked. Entries
 * without a valid digest, size and media type are dropped. A transport that cannot hold
 * referrers (docker-archive) has none.
 */
export async function listReferrers(transport: Transport, digest: string, options: ListReferrersOptions = {}): Promise<Descriptor[]> {
  throwIfAborted(options.signal);
  if (transport.acceptsArtifacts === false) return [];
  const opts = options.signal ? { signal: options.signal } : {};
  let found: Descriptor[];
  if (transport.listReferrers !== undefined) {
    found = await transport.listReferrers(digest, opts);
  } else {
    found = await fallbackEntries(transport, digest, opts);
  }
  const unique = new Map<string, Descriptor>();
  // Entries come from the registry or another tool's fallback index: keep only well-formed ones.
  for (const d of found) if (isReferrerEntry(d) && !unique.has(d.digest)) unique.set(d.digest, d);
  const list = [...unique.values()];
  return options.artifactType === undefined ? list : list.filter((d) => d.artifactType === options.artifactType);
}

function isReferrerEntry(d: unknown): d is Descriptor {
  if (typeof d !== 'object' || d === null) return false;
  const { digest, size, mediaType } = d as Partial<Descriptor>;
  return typeof digest === 'string' && isDigest(digest) && typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 && typeof mediaType === 'string';
}

/** The entries of the fallback index at `sha256-<hex>`, or none when the tag is absent. */
async function fallbackEntries(transport: Transport, digest: string, opts: OperationOptions): Promise<Descriptor[]> {
  const tag = fallbackTag(digest);
  try {
    const raw = await transport.getManifest(tag, opts);
    return parseReferrersIndex(raw, `${transport.description}:${tag}`).manifests;
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Largest attached document read whole by {@link readAttachment} (64 MiB); past it `ERR_LIMIT_EXCEEDED`. */
export const MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024;

/** An attached document read back. */
export interface ReadAttachment {
  /** The artifact manifest's descriptor, as listed. */
  artifact: Descriptor;
  /** The document's media type (its layer's). */
  mediaType: string;
  /** The document, verified against its digest. */
  bytes: Uint8Array;
}

/**
 * Reads back the document attached to `subjectDigest` with one of `artifactTypes` (first
 * type first; among several of one type, the latest `org.opencontainers.image.created`, ties
 * to the later listed). The artifact manifest must name `subjectDigest` as its `subject`
 * (`ERR_INVALID_MANIFEST` otherwise, whatever a fallback index claims) and hold one layer of at
 * most {@link MAX_ATTACHMENT_BYTES}. Undefined when none is attached.
 */
export async function readAttachment(transport: Transport, subjectDigest: string, artifactTypes: readonly string[], options: OperationOptions = {}): Promise<ReadAttachment | undefined> {
  const all = await listReferrers(transport, subjectDigest, options);
  let chosen: Descriptor | undefined;
  for (const type of artifactTypes) {
    const ofType = all.filter((d) => d.artifactType === type);
    chosen = ofType.reduce<Descriptor | undefined>((best, d) => {
      const created = d.annotations?.['org.opencontainers.image.created'] ?? '';
      return best === undefined || created >= (best.annotations?.['org.opencontainers.image.created'] ?? '') ? d : best;
    }, undefined);
    if (chosen !== undefined) break;
  }
  if (chosen === undefined) return undefined;
  const opts = options.signal ? { signal: options.signal } : {};
  const where = `${transport.description}@${chosen.digest}`;
  const parsed = parseManifest(await transport.getManifest(chosen.digest, opts), chosen.mediaType);
  if (parsed.kind !== 'manifest' || parsed.manifest.subject?.digest !== subjectDigest) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where} is listed as a referrer of ${subjectDigest} but its subject is ${parsed.kind === 'manifest' ? (parsed.manifest.subject?.digest ?? 'absent') : 'absent (an index)'}`);
  }
  const layer = parsed.manifest.layers[0];
  if (layer === undefined || parsed.manifest.layers.length !== 1) {
    throw new OcibuildError('ERR_INVALID_MANIFEST', `${where}: expected one layer holding the document, found ${parsed.manifest.layers.length}`);
  }
  if (layer.size > MAX_ATTACHMENT_BYTES) {
    throw new LimitExceededError('maxAttachmentBytes', MAX_ATTACHMENT_BYTES, `${where}: the attached document is ${layer.size} bytes, more than ${MAX_ATTACHMENT_BYTES}`);
  }
  const bytes = await readVerified(await transport.getBlob(layer, opts), layer, `${where} layer ${layer.digest}`);
  return { artifact: chosen, mediaType: layer.mediaType, bytes };
}

/** One referrer found by {@link referrerTree}: its descriptor and the manifest it refers to. */
export interface ReferrerEntry {
  /** The digest it refers to (the image, a platform manifest, or another referrer). */
  subject: string;
  /** The referrer, as listed (`artifactType`, `annotations`). */
  descriptor: Descriptor;
  /** 1 for referrers of the given digests, 2 for their referrers, and so on. */
  depth: number;
}

/**
 * The referrers of `digests` and theirs in turn, breadth first (as `oras discover` and
 * `cosign tree` show them), at most `maxDepth` levels (default 4) and 1,000 entries.
 */
export async function referrerTree(transport: Transport, digests: readonly string[], options: OperationOptions & { maxDepth?: number } = {}): Promise<ReferrerEntry[]> {
  const out: ReferrerEntry[] = [];
  const seen = new Set<string>(digests);
  let level = [...digests];
  for (let depth = 1; depth <= (options.maxDepth ?? 4) && level.length > 0; depth++) {
    const next: string[] = [];
    for (const subject of level) {
      for (const descriptor of await listReferrers(transport, subject, options.signal ? { signal: options.signal } : {})) {
        if (seen.has(descriptor.digest)) continue;
        seen.add(descriptor.digest);
        if (out.length >= 1000) throw new LimitExceededError('maxReferrersListed', 1000, `${transport.description}: more than 1000 referrers`);
        out.push({ subject, descriptor, depth });
        next.push(descriptor.digest);
      }
    }
    level = next;
  }
  return out;
}
