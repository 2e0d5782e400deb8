/**
 * Writing a built image to the build's targets, one after another, and the small output files
 * (digest file) written after them.
 * @module
 */
import { writeFileAtomic } from '../blob/files.ts';
import { isNotFound, isOcibuildError, OcibuildError } from '../errors.ts';
import { copyImage, type CopyEvent } from '../image/copy.ts';
import type { MemorySource } from '../image/memory.ts';
import type { BuildStats } from './index.ts';
import type { Destination, TransportOptions } from './targets.ts';
import type { Transport } from '../transports/types.ts';
import { describeFsError, targetFailure } from './preflight.ts';
import type { AttestationFile, Attacher, BuildAttachment, BuiltPlatform } from './attestations.ts';
import type { RootfsTransport } from './rootfs-target.ts';
import { hashBytes } from '../hash/index.ts';

/** What pushing attaches to each target (SBOM, provenance), when the build asks for any. */
export interface PushAttachments {
  /** Attaches the documents of `images` through a transport. */
  attach: Attacher;
  /** Starts writing the documents' blobs through a transport, beside the image's (`attach` through it then writes the rest). */
  stage?: (transport: Transport, images: readonly BuiltPlatform[], signal?: AbortSignal) => Promise<void>;
  /** The documents as files, for `local:` and `tar:` outputs. */
  files(images: readonly BuiltPlatform[]): Promise<AttestationFile[]>;
  /** The platform images a destination holds (the OCI form for `oci:` targets of a Docker-format build). */
  imagesFor(dest: Destination): readonly BuiltPlatform[];
  /** Receives what was attached. */
  attached: BuildAttachment[];
}

/** The events pushing emits (a subset of the build's). */
export type PushEvent =
  | { type: 'copy'; target: string; event: CopyEvent }
  | { type: 'attach-skipped'; target: string; message: string }
  | ({ type: 'attached' } & BuildAttachment)
  | { type: 'target-done'; target: string; digest: string }
  | { type: 'manifest-skipped'; target: string; digest: string }
  /** A single-platform target (`docker-daemon:`, `podman:`) got one platform of a multi-platform image. */
  | { type: 'target-warning'; target: string; message: string };

/** The counters pushing updates: the build's upload and manifest counters. */
export type PushStats = Pick<BuildStats, 'blobsUploaded' | 'bytesUploaded' | 'blobsSkipped' | 'blobsMounted' | 'manifestsPushed' | 'manifestPutSkipped'>;

/**
 * Writes the built image to every destination, in order: `digestFor` says which document each
 * gets. A failure stops at that target (see `buildImage` for what is then left).
 */
export async function pushAll(
  source: MemorySource,
  digestFor: (dest: Destination) => string,
  destinations: Destination[],
  options: TransportOptions & { tags?: readonly string[]; signal?: AbortSignal },
  emit: (e: PushEvent) => void,
  stats: PushStats,
  attachments?: PushAttachments,
): Promise<{ ref: string; digest: string }[]> {
  const results: { ref: string; digest: string }[] = [];
  for (const dest of destinations) {
    const digest = digestFor(dest);
    const refs = dest.references(options.tags ?? []);
    // Where the documents go: referrers (registries, oci: layouts), files next to the tree
    // (local:, tar:, as buildx writes attestations there), or nowhere (a docker-archive or an
    // image store loaded with docker load has no place for referrers): said, not fatal.
    const kind = dest.parsed.kind;
    const skipped = attachments !== undefined && (kind === 'docker-archive' || kind === 'docker-daemon' || kind === 'podman');
    const attachHere = attachments !== undefined && !skipped ? attachments : undefined;
    const asFiles = kind === 'local' || kind === 'tar';
    if (skipped) {
      const what = kind === 'docker-archive' ? 'a docker-archive' : `a ${kind} image store (loaded as with docker load)`;
      emit({ type: 'attach-skipped', target: dest.target, message: `${dest.target}: ${what} cannot hold referrers; the SBOM and provenance are not written there` });
    }
    const attachTo = async (transport: Transport, signal?: AbortSignal): Promise<void> => {
      if (attachHere === undefined) return;
      const written = asFiles
        ? addAttestationFiles(transport as RootfsTransport, dest.target, await attachHere.files(attachHere.imagesFor(dest)))
        : await attachHere.attach(transport, dest.target, attachHere.imagesFor(dest), signal);
      for (const a of written) emit({ type: 'attached', ...a });
      attachHere.attached.push(...written);
    };
    if (await alreadyThere(dest, refs, digest, options)) {
      stats.manifestPutSkipped++;
      emit({ type: 'manifest-skipped', target: dest.target, digest });
      if (attachHere !== undefined) {
        // The image is there; its attachments may not be (an earlier push without them): attaching is idempotent.
        const transport = dest.open();
        try {
          await attachTo(transport, options.signal).catch((error: unknown) => {
            throw targetFailure(dest.target, error);
          });
        } finally {
          await transport.close?.();
        }
      }
      emit({ type: 'target-done', target: dest.target, digest });
      results.push({ ref: dest.target, digest });
      continue;
    }
    const choice = await dest.choosePlatform(source, digest, options.loadPlatform, options.signal).catch((error: unknown) => {
      throw targetFailure(dest.target, error);
    });
    if (choice !== undefined) emit({ type: 'target-warning', target: dest.target, message: choice.message });
    const transport = dest.open();
    const copied = await copyImage(source, digest, transport, refs, {
      signal: options.signal,
      ...(choice === undefined ? {} : { platforms: [choice.platform] }),
      onEvent: (event) => {
        if (event.type === 'blob-done') {
          stats.blobsUploaded++;
          stats.bytesUploaded += event.bytes ?? 0;
        } else if (event.type === 'blob-skipped') stats.blobsSkipped++;
        else if (event.type === 'blob-mounted') stats.blobsMounted++;
        else if (event.type === 'manifest-pushed') stats.manifestsPushed++;
        emit({ type: 'copy', target: dest.target, event });
      },
      // The documents' blobs upload beside the image's; their manifests follow the image's.
      // (A transport that cannot hold referrers is left to `attach`, which says so.)
      alongside:
        attachHere?.stage !== undefined && !asFiles
          ? (dst: Transport, signal: AbortSignal) => (dst.acceptsArtifacts === false ? Promise.resolve() : (attachHere.stage as NonNullable<PushAttachments['stage']>)(dst, attachHere.imagesFor(dest), signal))
          : undefined,
      beforeCommit: attachHere !== undefined ? (dst: Transport, signal: AbortSignal) => attachTo(dst, signal) : undefined,
    }).catch((error: unknown) => {
      throw targetFailure(dest.target, error);
    });
    emit({ type: 'target-done', target: dest.target, digest: copied.digest });
    results.push({ ref: dest.target, digest: copied.digest });
  }
  return results;
}

/** Hands the documents to a `local:` or `tar:` output, written next to each image's tree at commit; what was attached (the file's digest as `digest`). */
function addAttestationFiles(transport: RootfsTransport, target: string, files: readonly AttestationFile[]): BuildAttachment[] {
  if (typeof transport.addFile !== 'function') throw new OcibuildError('ERR_UNSUPPORTED', `${target}: this output takes no files next to the tree`);
  return files.map((file) => {
    transport.addFile(file.subject, file.name, file.bytes);
    return { target, subject: file.subject, artifactType: file.artifactType, digest: hashBytes(file.bytes) };
  });
}

/**
 * True when every tag of a registry target already names `digest`: the registry then has the
 * manifest and, by its own checks at PUT time, every blob, so the push can be skipped whole.
 */
async function alreadyThere(dest: Destination, refs: (string | undefined)[], digest: string, options: { signal?: AbortSignal }): Promise<boolean> {
  if (dest.parsed.kind !== 'registry' || refs.some((r) => r === undefined)) return false;
  const transport = dest.open();
  try {
    for (const ref of refs) {
      const existing = await transport.getManifest(ref as string, { signal: options.signal }).catch((error: unknown) => {
        // Not there, or not readable with push-only credentials: push. Other failures are failures.
        if (isNotFound(error) || isOcibuildError(error, 'ERR_REGISTRY_UNAUTHORIZED', 'ERR_REGISTRY_DENIED')) return undefined;
        throw error;
      });
      if (existing?.digest !== digest) return false;
    }
    return true;
  } finally {
    await transport.close?.();
  }
}

/**
 * The `digestFile` text: the one digest every target holds (no newline, as kaniko writes it), or,
 * when targets hold different documents (a Docker-format build also written to an `oci:` layout,
 * which gets the OCI form), one `DIGEST TARGET` line per target.
 */
export function digestFileText(targets: readonly { ref: string; digest: string }[], digest: string): string {
  const distinct = new Set(targets.map((t) => t.digest));
  if (distinct.size === 0) return digest;
  if (distinct.size === 1) return [...distinct][0] as string;
  return targets.map((t) => `${t.digest} ${t.ref}\n`).join('');
}

/** Writes `text` to `file` through a temp file and a rename; `ERR_IO` naming `file` on failure. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text);
  } catch (error) {
    throw new OcibuildError('ERR_IO', `cannot write ${file}: ${describeFsError(error)}`, { cause: error });
  }
}
