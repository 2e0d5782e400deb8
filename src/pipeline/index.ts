/**
 * `buildImage()`: resolve the base, write the new layers, edit the config, and copy the
 * result to every target. One platform or several (then an index is pushed).
 * @module
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { InvalidArgumentError, OcibuildError, throwIfAborted } from '../errors.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { FORMATS } from '../oci/mediatypes.ts';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformKey } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/types.ts';
import type { CopyEvent } from '../image/copy.ts';
import { memorySource, type MemorySource } from '../image/memory.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import type { LayerSpec } from '../layer/types.ts';
import type { TarLimits } from '../layer/tar-guard.ts';
import type { LayerEncoder } from '../compress/types.ts';
import { assertCompressionFitsTargets, buildEncoder } from './compression.ts';
import type { Transport } from '../transports/types.ts';
import type { Destination, TransportOptions } from './targets.ts';
import { createSession, type Session } from './session.ts';
import { basePlatforms } from './base.ts';
import type { ConfigOptions } from './config.ts';
import { assembleImage } from './assemble.ts';
import type { Image } from '../image/model.ts';
import { planFiles, type PlanContext } from './plan-files.ts';
import { sweepStaleTempDirs } from './sweep.ts';
import { sweepRunScratch } from '../run/scratch-sweep.ts';
import { assertFileWritable, assertRegistryReachable, assertTargetWritable, describeFsError } from './preflight.ts';
import { digestFileText, pushAll, writeAtomic } from './push.ts';
import { openCache, type CacheOptions, type LocalCache } from '../cache/store.ts';
import { cachedSource } from '../cache/source.ts';
import type { StepCacheSettings, StepReport } from '../cache/steps.ts';
import { stepTotals } from '../cache/step-totals.ts';
import { encodeConfig } from '../oci/config.ts';
import type { Executor } from '../run/types.ts';
import type { S2iOptions } from './s2i/types.ts';
import type { RunEvent } from '../dockerfile/run-events.ts';
import type { SourceEvent } from './source-events.ts';
import { buildMetadata } from './metadata.ts';
import { attestationSettings, makeAttacher, type BuildAttachment, type BuiltPlatform } from './attestations.ts';
import type { SbomFormat, SbomPackage } from '../supply/types.ts';
import { ocibuildVersion, sbomWriter } from './sbom.ts';

/**
 * Progress events of a build.
 * @category Build
 */
export type BuildEvent =
  | { type: 'resolve'; from: string; platform: string; digest?: string }
  | { type: 'layer-built'; platform: string; digest: string; size: number; cached: boolean; createdBy: string }
  | { type: 'copy'; target: string; event: CopyEvent }
  | { type: 'target-done'; target: string; digest: string }
  | { type: 'manifest-skipped'; target: string; digest: string }
  /** A single-platform target (`docker-daemon:`, `podman:`) got one platform of a multi-platform image. */
  | { type: 'target-warning'; target: string; message: string }
  /** A target that cannot hold the SBOM or provenance asked for (docker-archive:, docker-daemon:, podman:): the image is written without them. */
  | { type: 'attach-skipped'; target: string; message: string }
  /** An SBOM or provenance attached to a platform image in a target. */
  | ({ type: 'attached' } & BuildAttachment)
  | { type: 'done'; digest: string; durationMs: number }
  | ({ type: 'step' } & StepReport)
  | { type: 'cache-warning'; message: string }
  /** The base resolved for a platform says another one in its config (BuildKit's InvalidBaseImagePlatform): the build goes on. */
  | { type: 'base-warning'; from: string; platform: string; message: string }
  /** A non-fatal Dockerfile finding, named like BuildKit's lint rule (`DuplicateStageName`). */
  | { type: 'dockerfile-warning'; rule: string; message: string; file: string; line: number }
  | RunEvent
  /** A base layer downloaded from a registry, or a mirror that failed (see {@link SourceEvent}). */
  | SourceEvent;

/**
 * Options of {@link buildImage}.
 * @category Build
 */
export interface BuildOptions extends TransportOptions {
  /**
   * The base image: `scratch` (default), a registry reference (`localhost:5000/base:1`),
   * `oci:PATH[:TAG]` or `docker-archive:PATH`.
   */
  from?: string;
  /** Layers to add, bottom first; or a function of the platform for platform-specific layers. */
  layers?: readonly LayerSpec[] | ((platform: Platform) => readonly LayerSpec[]);
  /** Dockerfile text or path: builds from the Dockerfile instead of `from`/`layers` (see `context`). */
  dockerfile?: string | { text: string; file?: string };
  /** Build context directory for a Dockerfile (default `.`). */
  context?: string;
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** Stage to build (default: the last). */
  target?: string;
  /**
   * Source-to-image build: the builder image is the base and its `assemble` script turns
   * `source` into one layer (see docs/s2i.md). Excludes `from`, `layers` and `dockerfile`.
   */
  s2i?: S2iOptions;
  /**
   * Named build contexts (buildx `--build-context`), by name: a directory, `oci-layout://PATH[:TAG]`
   * or `docker-image://REF`, used by `FROM name`, `COPY --from=name` and `RUN --mount=from=name`;
   * a context named like a stage replaces that stage, as in BuildKit. Relative directories are
   * taken from the current working directory.
   */
  contexts?: Readonly<Record<string, string>>;
  /** Config edits, applied over the base's config. */
  config?: ConfigOptions;
  /** Where to write: registry references, `oci:PATH[:TAG]`, `docker-archive:PATH[:REF]`. Empty: build only. */
  to: string | readonly string[];
  /** Extra tags pushed for every registry and `oci:` target. */
  tags?: readonly string[];
  /** Manifest format (default `oci`). */
  format?: 'oci' | 'docker';
  /**
   * Platforms to build (`linux/amd64`), or `'all'` of the base. Default: the base's only
   * platform, or `linux/<host arch>` for scratch and multi-platform bases.
   */
  platforms?: readonly string[] | 'all';
  /** Creation time in seconds since the epoch. Default `SOURCE_DATE_EPOCH`, else 0. */
  sourceDateEpoch?: number;
  /**
   * Keeps the file mtimes RUN steps write. Default false: they are clamped to the creation time
   * (`sourceDateEpoch`, else `SOURCE_DATE_EPOCH`, else 0) as BuildKit's `rewrite-timestamp` does,
   * so a Dockerfile with RUN gives the same digest whenever it is built.
   */
  keepRunMtimes?: boolean;
  /** Manifest annotations (OCI format). */
  annotations?: Record<string, string>;
  /**
   * Compression of new layers: `gzip` (default) or `zstd` (OCI `tar+zstd` layers; refused with
   * `format: 'docker'` and `docker-archive:` targets, which have no zstd layer type). Base
   * layers keep theirs. See docs/compression.md.
   */
  compression?: 'gzip' | 'zstd';
  /** Compression level of new layers: gzip 0-9 (default 6), zstd 1-19 (default 3). */
  compressionLevel?: number;
  /**
   * Encoder for new layers, gzip or zstd (default: libdeflate gzip, or zstd-wasm with `compression:
   * 'zstd'`; identical bytes everywhere). `compression`/`compressionLevel`, if given, must agree.
   */
  encoder?: LayerEncoder;
  /** Directory for temporary layer files (default: a fresh one under the OS temp dir). */
  workDir?: string;
  /**
   * Writes the image digest to this file after a successful build (kaniko's `--digest-file`).
   * When targets hold different digests (`format: 'docker'` with an `oci:` target, which gets the
   * OCI form), the file has one `DIGEST TARGET` line per target instead.
   */
  digestFile?: string;
  /** Writes one `REPOSITORY@DIGEST` line per registry target (kaniko's `--image-name-with-digest-file`). */
  imageNameWithDigestFile?: string;
  /** Writes {@link BuildMetadata} as JSON after a successful build (buildx's `--metadata-file`). */
  metadataFile?: string;
  /** Writes the image ID (the config digest, as `docker build --iidfile`) after a successful build. */
  iidFile?: string;
  /**
   * Annotations of the image index of a multi-platform build (buildx's `index:` prefix). When
   * set, the index gets exactly these and {@link BuildOptions.annotations} go to the manifests
   * only; when absent, the index gets `annotations` too.
   */
  indexAnnotations?: Record<string, string>;
  /**
   * Local cache of base images and computed layers. `false` turns it off; an object (or the
   * `OCIBUILD_CACHE_DIR` variable) turns it on, in `dir`, else `OCIBUILD_CACHE_DIR`, else
   * `~/.cache/ocibuild`. Default: off unless `OCIBUILD_CACHE_DIR` is set or `offline` is true.
   */
  cache?: (CacheOptions & StepCacheSettings) | false;
  /** Build from the cache only: the base's registry is never contacted; targets must be `oci:` or `docker-archive:`. */
  offline?: boolean;
  /** Runs Dockerfile RUN steps (default `linuxExecutor()`, probed only when a needed stage has RUN). */
  executor?: Executor;
  /** Secrets for `RUN --mount=type=secret,id=ID`: a host file or an environment variable of this process. Never written to a layer or the history. */
  secrets?: Record<string, { file?: string; env?: string }>;
  /**
   * SSH agents for `RUN --mount=type=ssh,id=ID`, as buildx `--ssh ID=PATH[,PATH]`: one agent
   * socket, or private key files (loaded into a private `ssh-agent` stopped when the build ends),
   * or no path for `$SSH_AUTH_SOCK`. Each connection of the step is forwarded to the agent.
   */
  ssh?: Record<string, string[]>;
  /**
   * Extra `/etc/hosts` entries of every RUN step, host name to IP address, as
   * `docker build --add-host NAME:IP` (buildx, BuildKit). Not written to the image.
   */
  addHosts?: Record<string, string>;
  /**
   * Bounds on the base-image layers a build reads (for RUN, `COPY --from` and the like): PAX and
   * long-name header size, uncompressed size, member count; missing fields keep
   * `DEFAULT_TAR_LIMITS` (docs/limits.md). Past one, the build fails with `LimitExceededError`.
   */
  layerLimits?: Partial<TarLimits>;
  /**
   * Attach an SBOM to each platform image, as an OCI referrer, in every registry and `oci:`
   * target (`true`: SPDX; or the format). Off by default, as in BuildKit; the Node preset turns it
   * on. The packages are {@link BuildOptions.sbomPackages} when given, else those found in the
   * image's package databases. See docs/supply-chain.md.
   */
  sbom?: boolean | SbomFormat;
  /** The packages the SBOM lists, instead of scanning the image (the Node preset gives its lockfile's). */
  sbomPackages?: readonly SbomPackage[];
  /**
   * Attach SLSA v1 provenance (an in-toto statement) to each platform image, like the SBOM. Off
   * by default; the Node preset turns it on. Build arguments with secret-looking names and every
   * secret are left out; with SOURCE_DATE_EPOCH (or `sourceDateEpoch`) it has no timings, so it is reproducible.
   */
  provenance?: boolean;
  /** Aborts the build. */
  signal?: AbortSignal;
  /** Receives progress events. */
  onEvent?: (event: BuildEvent) => void;
}

/**
 * Counters describing what a build did.
 * @category Build
 */
export interface BuildStats {
  /** Layers written (tar + compress). */
  layersBuilt: number;
  /** Layers taken from a cache without writing. */
  layersCached: number;
  /** Wall time in milliseconds. */
  durationMs: number;
  /** Blobs uploaded to targets. */
  blobsUploaded: number;
  /** Bytes of the blobs uploaded to targets. */
  bytesUploaded: number;
  /** Blobs a target already had. */
  blobsSkipped: number;
  /** Blobs mounted from another repository instead of uploaded. */
  blobsMounted: number;
  /** Manifest (and index) PUTs made. */
  manifestsPushed: number;
  /** Targets whose tags already pointed at the result, so nothing was pushed to them. */
  manifestPutSkipped: number;
  /** Dockerfile RUN steps executed. */
  runsExecuted: number;
  /** Dockerfile layer steps (RUN, COPY, ADD, WORKDIR) taken from the step cache. */
  stepsCached: number;
  /** Dockerfile layer steps run (cache misses and steps that cannot be cached). */
  stepsRun: number;
  /** Of the cached steps, those found in the registry cache repo. */
  stepsFromRegistry: number;
  /** Each layer step: hit or miss, where from, and why it missed. */
  steps: StepReport[];
}

/**
 * What {@link buildImage} produced.
 * @category Build
 */
export interface BuildResult {
  /** Digest of the manifest (single platform) or index (several). */
  digest: string;
  /** Media type of that document. */
  mediaType: string;
  /** Its size. */
  size: number;
  /** The manifest (first platform's when an index was built). */
  manifest: ImageManifest;
  /** The config (first platform's when an index was built). */
  config: ImageConfig;
  /** The index, when several platforms were built. */
  index?: ImageIndex;
  /** Each target and the digest written there. */
  targets: { ref: string; digest: string }[];
  /** The SBOMs and provenance attached, per target and platform image (absent when none were asked for). */
  attachments?: BuildAttachment[];
  /** Counters. */
  stats: BuildStats;
}

/**
 * Builds an image and writes it to every target.
 *
 * Before any work, every target string is parsed and every `oci:`/`docker-archive:` target is
 * checked for a writable location (`ERR_TRANSPORT` naming the target as written). Every failure
 * rejects with an {@link OcibuildError}: `ERR_ABORTED` after `signal` aborts, `ERR_IO` for a
 * file-system failure outside the targets; temporary files are removed in every case.
 *
 * Targets are written one after another, in the order given, after the whole image is built.
 * When the build fails before that, no target is touched. When target N fails, targets before it
 * hold the image (each announced by a `target-done` event); target N holds nothing new, except
 * that a registry may keep blobs already uploaded (unreferenced) and, with several tags, the tags
 * pushed before the failing one; an `oci:` or `docker-archive:` target is unchanged (its output is
 * staged and renamed into place). Targets after N are not touched.
 * @example
 * ```ts
 * import { buildImage } from 'ocibuild';
 *
 * const result = await buildImage({
 *   from: 'registry.example/base/node:22',
 *   layers: [{ directories: [{ source: './dist', destination: '/app' }], createdBy: 'app files' }],
 *   config: { entrypoint: ['node', '/app/main.js'], env: ['NODE_ENV=production'] },
 *   to: ['registry.example/team/app:1', 'oci:./out:app-1'],
 * });
 * console.log(result.digest, result.stats.layersBuilt);
 * ```
 * @category Build
 */
export async function buildImage(given: BuildOptions): Promise<BuildResult> {
  // A given session stays open; one of our own is closed when the build ends, success or not.
  const ownSession = given.session === undefined;
  const session = given.session ?? createSession(given);
  try {
    return await buildIn({ ...given, session });
  } finally {
    if (ownSession) await session.close();
  }
}

/**
 * The build arg SOURCE_DATE_EPOCH pins the build's times as the option does, as in BuildKit
 * (its testReproSourceDateEpoch, testSourceDateEpochWithoutExporter); the option wins. Not whole
 * seconds: BuildKit's error.
 */
function withBuildArgEpoch<T extends BuildOptions>(options: T): T {
  const value = options.buildArgs?.['SOURCE_DATE_EPOCH'];
  if (options.sourceDateEpoch !== undefined || value === undefined || value.trim() === '') return options;
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`invalid SOURCE_DATE_EPOCH: ${value} (the build arg must be whole seconds since the epoch)`);
  return { ...options, sourceDateEpoch: Number(value.trim()) };
}

async function buildIn(given: BuildOptions & { session: Session }): Promise<BuildResult> {
  const options = withBuildArgEpoch(given);
  const started = Date.now();
  const targets = typeof options.to === 'string' ? [options.to] : [...options.to];
  const format = options.format ?? 'oci';
  if (format !== 'oci' && format !== 'docker') {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `buildImage: format must be "oci" or "docker", got ${JSON.stringify(format)}`);
  }
  if (options.s2i !== undefined && (options.from !== undefined || options.layers !== undefined || options.dockerfile !== undefined)) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', 'buildImage: s2i builds take their base from s2i.builder: from, layers and dockerfile must not be set');
  }
  const created = options.sourceDateEpoch ?? sourceDateEpochFromEnv() ?? 0;
  const settings = attestationSettings(options);
  const from = options.from ?? 'scratch';
  const emit = options.onEvent ?? (() => {});
  // Validate every target before any work, so a typo fails fast and writes nothing.
  const destinations = targets.map((t) => options.session.openDestination(t));
  assertCompressionFitsTargets(buildEncoder(options), format, destinations);
  for (const destination of destinations) await assertTargetWritable(destination.parsed);
  if (options.digestFile !== undefined) await assertFileWritable(options.digestFile, `digestFile ${options.digestFile}`);
  if (options.imageNameWithDigestFile !== undefined) await assertFileWritable(options.imageNameWithDigestFile, `imageNameWithDigestFile ${options.imageNameWithDigestFile}`);
  if (options.metadataFile !== undefined) await assertFileWritable(options.metadataFile, `metadataFile ${options.metadataFile}`);
  if (options.iidFile !== undefined) await assertFileWritable(options.iidFile, `iidFile ${options.iidFile}`);
  if (options.offline) {
    const remote = destinations.filter((d) => d.parsed.kind === 'registry').map((d) => d.target);
    if (remote.length > 0) throw new OcibuildError('ERR_INVALID_ARGUMENT', `offline builds write to oci: or docker-archive: targets only, not ${remote.join(', ')}`);
  }
  throwIfAborted(options.signal);
  const ownWorkDir = options.workDir === undefined;
  if (ownWorkDir) await Promise.all([sweepStaleTempDirs(), sweepRunScratch()]);
  const workDir = options.workDir ?? (await options.session.tempDir('build-').catch((error: unknown) => {
    throw new OcibuildError('ERR_IO', `cannot create a temporary folder in ${tmpdir()}: ${describeFsError(error)}`, { cause: error });
  }));
  let base: { transport: Transport; reference: string | undefined; name: string } | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const stats: BuildStats = {
    layersBuilt: 0,
    layersCached: 0,
    durationMs: 0,
    blobsUploaded: 0,
    bytesUploaded: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
    manifestsPushed: 0,
    manifestPutSkipped: 0,
    runsExecuted: 0,
    stepsCached: 0,
    stepsRun: 0,
    stepsFromRegistry: 0,
    steps: [],
  };
  let cache: LocalCache | undefined;
  try {
    for (const destination of destinations) {
      if (destination.parsed.kind === 'registry') await assertRegistryReachable(destination.parsed, options.session.registryClient(), options.signal);
    }
    cache = await cacheFor(options);
    if (from !== 'scratch') base = options.session.openSource(from, { onEvent: emit });
    if (base && cache) base = { ...base, transport: cachedSource(base.transport, cache, { offline: options.offline ?? false, name: from }) };
    const platforms = await choosePlatforms(options, base);
    const context: PlanContext = { workDir, created, emit, options, cleanups, ...(cache ? { cache } : {}), ...(platforms.length > 1 ? { multiPlatform: true } : {}) };
    if (options.ssh !== undefined && Object.keys(options.ssh).length > 0 && options.dockerfile !== undefined) {
      const agents = await (await import('../run/ssh.ts')).resolveSshAgents(options.ssh);
      cleanups.push(agents.stop);
      context.sshSockets = agents.sockets;
    }
    const source = memorySource({ description: 'build' });
    const images: BuiltPlatform[] = [];
    const ociImages: BuiltPlatform[] = [];
    for (const platform of platforms) {
      throwIfAborted(options.signal);
      const plan = options.s2i !== undefined
        ? await (await import('./s2i/plan.ts')).planS2i(options, options.s2i, platform, context)
        : options.dockerfile !== undefined
          ? await (await import('./plan-dockerfile.ts')).planDockerfile(options, platform, context)
          : await planFiles(options, platform, base, context);
      // A base that leaves its platform empty (crane append onto scratch) is built for `platform`.
      if (plan.config.os === '' || plan.config.architecture === '') {
        const p = normalizePlatform(platform);
        const filled = { ...plan.config, os: plan.config.os || p.os, architecture: plan.config.architecture || p.architecture };
        if (p.variant !== undefined && filled.variant === undefined) filled.variant = p.variant;
        plan.config = filled;
      }
      stats.layersBuilt += plan.steps.filter((s) => 'layer' in s && !s.cached).length;
      stats.layersCached += plan.steps.filter((s) => 'layer' in s && s.cached).length;
      const assembleAs = (as: 'oci' | 'docker') =>
        assembleImage(
          {
            base: plan.base,
            baseName: plan.baseName,
            baseDigest: plan.baseDigest,
            config: plan.config,
            steps: plan.steps,
            format: as,
            created,
            annotations: options.annotations,
          },
          source,
        );
      const image = assembleAs(format);
      // An OCI layout holds OCI manifests only (skopeo and umoci refuse Docker ones there, and
      // containers/image converts when it writes one): oci: targets of a Docker-format build get the OCI form.
      if (format === 'docker' && destinations.some((d) => d.parsed.kind === 'oci')) {
        ociImages.push({ platform, image: assembleAs('oci'), base: { name: plan.baseName, digest: plan.baseDigest } });
      }
      stats.runsExecuted += plan.runsExecuted ?? 0;
      stats.steps.push(...(plan.stepReports ?? []));
      if (plan.shareConfig && destinations.some((d) => d.parsed.kind === 'registry')) {
        // With a cache repo, the config is kept there too, so another machine's push mounts it.
        const bytes = encodeConfig(image.config);
        const origin = await plan.shareConfig(image.manifest.config, bytes);
        if (origin) source.addBlob(image.manifest.config, bytes, origin);
      }
      images.push({ platform, image, base: { name: plan.baseName, digest: plan.baseDigest } });
    }
    Object.assign(stats, stepTotals(stats.steps));
    const top = images.length === 1 ? (images[0] as (typeof images)[0]).image.rawManifest : addIndex(source, images, format, options.indexAnnotations ?? options.annotations);
    const ociTop =
      ociImages.length === 0 ? undefined : ociImages.length === 1 ? (ociImages[0] as (typeof ociImages)[0]).image.rawManifest : addIndex(source, ociImages, 'oci', options.indexAnnotations ?? options.annotations);
    const digestFor = (dest: Destination): string => (ociTop && dest.parsed.kind === 'oci' ? ociTop.digest : top.digest);
    const attached: BuildAttachment[] = [];
    const attacher =
      settings.sbom === undefined && !settings.provenance
        ? undefined
        : makeAttacher({
            options,
            settings,
            created,
            startedMs: started,
            subjectName: provenanceSubjectName(destinations),
            builderVersion: ocibuildVersion(),
            sbom: sbomWriter(options),
          });
    const imagesFor = (dest: Destination): readonly BuiltPlatform[] => (ociImages.length > 0 && dest.parsed.kind === 'oci' ? ociImages : images);
    const attachments = attacher === undefined ? undefined : { attach: attacher.attach, stage: attacher.stage, files: attacher.files, imagesFor, attached };
    // The documents are made while the first target's blobs upload (its HEADs and uploads wait on the network).
    if (attacher !== undefined && destinations[0] !== undefined && destinations[0].parsed.kind !== 'docker-archive') attacher.prepare(imagesFor(destinations[0]));
    const result = await pushAll(source, digestFor, destinations, options, emit, stats, attachments);
    if (options.digestFile !== undefined) await writeAtomic(options.digestFile, digestFileText(result, top.digest));
    if (options.imageNameWithDigestFile !== undefined) {
      const lines = destinations.flatMap((d) => {
        const t = d.parsed;
        return t.kind === 'registry' && t.ref ? [`${t.ref.withoutTag().withoutDigest().toString()}@${top.digest}`] : [];
      });
      await writeAtomic(options.imageNameWithDigestFile, lines.map((l) => `${l}\n`).join(''));
    }
    const first = images[0] as (typeof images)[0];
    if (options.iidFile !== undefined) await writeAtomic(options.iidFile, first.image.manifest.config.digest);
    if (options.metadataFile !== undefined) {
      const metadata = buildMetadata({ digest: top.digest, mediaType: top.mediaType, size: top.bytes.length, manifest: first.image.manifest, targets: result });
      await writeAtomic(options.metadataFile, `${JSON.stringify(metadata, null, 2)}\n`);
    }
    if (cache?.maxBytes !== undefined) await cache.prune();
    stats.durationMs = Date.now() - started;
    emit({ type: 'done', digest: top.digest, durationMs: stats.durationMs });
    const out: BuildResult = {
      digest: top.digest,
      mediaType: top.mediaType,
      size: top.bytes.length,
      manifest: first.image.manifest,
      config: first.image.config,
      targets: result,
      stats,
      ...(attachments !== undefined ? { attachments: attached } : {}),
    };
    if (images.length > 1) out.index = JSON.parse(new TextDecoder().decode(top.bytes)) as ImageIndex;
    return out;
  } catch (error) {
    throw typedFailure(error, options.signal);
  } finally {
    await base?.transport.close?.();
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The name provenance gives the image: the first registry target (`registry.example/app:1`),
 * else the first named target's tag or `repo:tag`, else `image`. Never a local path, so the
 * statement does not depend on (or reveal) where an `oci:` layout was written.
 */
function provenanceSubjectName(destinations: readonly Destination[]): string {
  const registry = destinations.find((d) => d.parsed.kind === 'registry' && d.parsed.ref !== undefined);
  if (registry?.parsed.ref !== undefined) return registry.parsed.ref.withoutDigest().toString();
  return destinations.find((d) => d.parsed.reference !== undefined)?.parsed.reference ?? 'image';
}

/** Every failure as a typed error: an abort is `ERR_ABORTED`, a stray system error `ERR_IO` with its cause. */
function typedFailure(error: unknown, signal: AbortSignal | undefined): OcibuildError {
  if (error instanceof OcibuildError) return error;
  if (signal?.aborted) return new OcibuildError('ERR_ABORTED', 'build aborted', { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new OcibuildError('ERR_IO', `build failed: ${message}`, { cause: error });
}

function signalOpt(options: BuildOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

async function cacheFor(options: BuildOptions): Promise<LocalCache | undefined> {
  if (options.cache === false) {
    if (options.offline) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'offline builds need the cache (cache is false)');
    return undefined;
  }
  if (options.cache === undefined && !options.offline && !process.env.OCIBUILD_CACHE_DIR) return undefined;
  return openCache(options.cache ?? {});
}

function from(options: BuildOptions): string {
  return options.from ?? 'scratch';
}

async function choosePlatforms(
  options: BuildOptions,
  base: { transport: Transport; reference: string | undefined } | undefined,
): Promise<Platform[]> {
  const requested = options.platforms;
  if (requested === 'all') {
    if (!base) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'platforms "all" needs a base image (not scratch)');
    const all = await basePlatforms(base.transport, base.reference, signalOpt(options));
    if (all.length === 0) {
      throw new OcibuildError('ERR_INVALID_ARGUMENT', `platforms "all": the base ${from(options)} does not say its platform (empty os and architecture in its config); name the platforms to build`);
    }
    return all;
  }
  if (requested !== undefined && requested.length > 0) {
    const seen = new Set<string>();
    const out: Platform[] = [];
    for (const p of requested) {
      const platform = normalizePlatform(parsePlatform(p));
      const key = platformKey(platform);
      if (!seen.has(key)) out.push(platform);
      seen.add(key);
    }
    return out;
  }
  if (base) {
    const available = await basePlatforms(base.transport, base.reference, signalOpt(options));
    if (available.length === 1) return available;
  }
  return [{ os: 'linux', architecture: hostPlatform().architecture }];
}

function addIndex(
  source: MemorySource,
  images: { platform: Platform; image: Image }[],
  format: 'oci' | 'docker',
  annotations: Record<string, string> | undefined,
) {
  const manifests: Descriptor[] = images.map(({ platform, image }) => ({
    mediaType: image.rawManifest.mediaType,
    digest: image.rawManifest.digest,
    size: image.rawManifest.bytes.length,
    platform: normalizePlatform(platform),
  }));
  const index: ImageIndex = { schemaVersion: 2, mediaType: FORMATS[format].index, manifests };
  if (format === 'oci' && annotations && Object.keys(annotations).length > 0) index.annotations = annotations;
  const raw = encodeManifest(index);
  source.addManifest(raw);
  return raw;
}
