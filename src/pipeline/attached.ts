/**
 * The read side of what is attached to images: the referrer tree of an image (`ocibuild inspect
 * --referrers`, like `oras discover` and `cosign tree`) and the SBOM attached to it (`ocibuild
 * sbom`), over any target the session opens.
 * @module
 */
import { NotFoundError } from '../errors.ts';
import { openManifest } from '../image/open.ts';
import { selectManifest } from '../oci/manifest.ts';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import { readAttachment, referrerTree } from '../supply/referrers.ts';
import { SBOM_FORMATS, sbomMediaType } from '../supply/sbom.ts';
import type { SbomFormat } from '../supply/types.ts';
import { withSession } from './session.ts';
import type { TransportOptions } from './targets.ts';

/**
 * Options of {@link imageReferrers} and {@link readImageSbom}.
 * @category Supply chain
 */
export interface AttachedOptions extends TransportOptions {
  /** For an index: only this platform's image (`linux/arm64`); {@link readImageSbom} defaults to the host's. */
  platform?: string;
  /** Aborts. */
  signal?: AbortSignal;
}

/**
 * One referrer found under an image.
 * @category Supply chain
 */
export interface AttachedReferrer {
  /** The digest it refers to: the image, one of its platform manifests, or another referrer. */
  subject: string;
  /** Its `artifactType` (`application/spdx+json`...), when it has one. */
  artifactType: string | undefined;
  /** Digest of the referrer manifest. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Its size. */
  size: number;
  /** Its annotations (`org.opencontainers.image.created`...). */
  annotations: Record<string, string>;
}

/**
 * What {@link imageReferrers} found.
 * @category Supply chain
 */
export interface ReferrersInspection {
  /** Digest of what the reference names. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** For an index: the platform images whose referrers were listed too. */
  platforms?: { platform: string; digest: string }[];
  /** Referrers, breadth first (signatures of SBOMs come after the SBOMs). */
  referrers: AttachedReferrer[];
}

/**
 * Lists what is attached to the image `ref` names (and, for an index, to each platform image, or
 * to the one `platform` names), and what is attached to those in turn: the OCI referrers API where
 * the registry has it, else the `sha256-<hex>` fallback tag; the `subject` of manifests in an
 * `oci:` layout.
 * @category Supply chain
 * @example
 * ```ts
 * import { imageReferrers } from 'ocibuild';
 *
 * const { referrers } = await imageReferrers('registry.example/app:1');
 * for (const r of referrers) console.log(r.artifactType, r.digest);
 * ```
 */
export async function imageReferrers(ref: string, options: AttachedOptions = {}): Promise<ReferrersInspection> {
  return withSession(options, async (session) => {
    const src = session.openSource(ref);
    const signal = options.signal ? { signal: options.signal } : {};
    try {
      const top = await src.transport.getManifest(src.reference ?? '', signal);
      const platforms: { platform: string; digest: string }[] = [];
      const opened = await openManifest(src.transport, top, signal);
      if (opened.kind === 'index') {
        const wanted = options.platform !== undefined ? parsePlatform(options.platform) : undefined;
        for (const child of opened.index.index.manifests) {
          if (child.platform === undefined || (wanted !== undefined && !platformMatches(wanted, child.platform))) continue;
          platforms.push({ platform: formatPlatform(child.platform), digest: child.digest });
        }
      }
      const tree = await referrerTree(src.transport, [top.digest, ...platforms.map((p) => p.digest)], signal);
      return {
        digest: top.digest,
        mediaType: top.mediaType,
        ...(platforms.length > 0 ? { platforms } : {}),
        referrers: tree.map((r) => ({
          subject: r.subject,
          artifactType: r.descriptor.artifactType,
          digest: r.descriptor.digest,
          mediaType: r.descriptor.mediaType,
          size: r.descriptor.size,
          annotations: { ...r.descriptor.annotations },
        })),
      };
    } finally {
      await src.transport.close?.();
    }
  });
}

/**
 * Options of {@link readImageSbom}.
 * @category Supply chain
 */
export interface ReadImageSbomOptions extends AttachedOptions {
  /** The format wanted; default SPDX, else CycloneDX. */
  format?: SbomFormat;
}

/**
 * An SBOM read back by {@link readImageSbom}.
 * @category Supply chain
 */
export interface AttachedSbom {
  /** The image (or index) it is attached to. */
  subject: string;
  /** Its media type (`application/spdx+json`, `application/vnd.cyclonedx+json`). */
  mediaType: string;
  /** The artifact manifest carrying it. */
  artifact: string;
  /** The document, verified against its digest. */
  bytes: Uint8Array;
}

/**
 * Reads the SBOM attached to the image `ref` names: for an index, the one of the platform image
 * (`platform`, default the host's), else the one attached to the index itself. Throws
 * `ERR_NOT_FOUND` naming what was searched when there is none.
 * @category Supply chain
 * @example
 * ```ts
 * import { readImageSbom } from 'ocibuild';
 *
 * const sbom = await readImageSbom('registry.example/app:1', { format: 'cyclonedx' });
 * console.log(new TextDecoder().decode(sbom.bytes));
 * ```
 */
export async function readImageSbom(ref: string, options: ReadImageSbomOptions = {}): Promise<AttachedSbom> {
  // Without a format: SPDX first, then CycloneDX (SBOM_FORMATS's order).
  const types = (options.format !== undefined ? [options.format] : SBOM_FORMATS).map(sbomMediaType);
  return withSession(options, async (session) => {
    const src = session.openSource(ref);
    const signal = options.signal ? { signal: options.signal } : {};
    try {
      const top = await src.transport.getManifest(src.reference ?? '', signal);
      let searched = top.digest;
      const opened = await openManifest(src.transport, top, signal);
      if (opened.kind === 'index') {
        const platform = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();
        const child = selectManifest(opened.index.index, platform);
        if (child !== undefined) {
          const found = await readAttachment(src.transport, child.digest, types, signal);
          if (found !== undefined) return { subject: child.digest, mediaType: found.mediaType, artifact: found.artifact.digest, bytes: found.bytes };
          searched = `the ${formatPlatform(child.platform ?? platform)} image ${child.digest}, nor the index ${top.digest}`;
        } else if (options.platform !== undefined) {
          throw new NotFoundError(`${ref}: the index has no manifest for ${options.platform}`);
        }
      }
      const found = await readAttachment(src.transport, top.digest, types, signal);
      if (found === undefined) {
        throw new NotFoundError(`no ${options.format ?? 'SPDX or CycloneDX'} SBOM is attached to ${ref} (${searched}); build with --sbom to attach one`);
      }
      return { subject: top.digest, mediaType: found.mediaType, artifact: found.artifact.digest, bytes: found.bytes };
    } finally {
      await src.transport.close?.();
    }
  });
}
