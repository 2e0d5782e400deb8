/**
 * `buildImage()`: resolve the base, write the new layers, edit the config, and copy the
 * result to every target. One platform or several (then an index is pushed).
 * @module
 */
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname, basename } from 'node:path';
import { OcibuildError, throwIfAborted } from '../errors.ts';
import { encodeManifest } from '../oci/manifest.ts';
import { FORMATS } from '../oci/mediatypes.ts';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformKey } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../oci/types.ts';
import { copyImage, type CopyEvent } from '../image/copy.ts';
import { memorySource, type MemorySource } from '../image/memory.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import type { LayerSpec } from '../layer/types.ts';
import type { GzipEncoder } from '../compress/types.ts';
import type { Transport } from '../transports/types.ts';
import { openSource, openDestination, releaseRegistryClient, type Destination, type TransportOptions } from './targets.ts';
import { basePlatforms } from './base.ts';
import type { ConfigOptions } from './config.ts';
import { assembleImage, type AssembledImage } from './assemble.ts';
import { planFiles, type PlanContext } from './plan-files.ts';
import { planDockerfile } from './plan-dockerfile.ts';
import { openCache, type CacheOptions, type LocalCache } from '../cache/store.ts';
import { cachedSource } from '../cache/source.ts';
import type { StepCacheSettings, StepReport } from '../cache/steps.ts';
import { stepTotals } from '../cache/steps-setup.ts';
import { encodeConfig } from '../oci/config.ts';
import type { Executor } from '../run/types.ts';

/** Progress events of a build. */
export type BuildEvent =
  | { type: 'resolve'; from: string; platform: string; digest?: string }
  | { type: 'layer-built'; platform: string; digest: string; size: number; cached: boolean; createdBy: string }
  | { type: 'copy'; target: string; event: CopyEvent }
  | { type: 'target-done'; target: string; digest: string }
  | { type: 'manifest-skipped'; target: string; digest: string }
  | { type: 'done'; digest: string; durationMs: number }
  | ({ type: 'step' } & StepReport)
  | { type: 'cache-warning'; message: string };

/** Options of {@link buildImage}. */
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
  /** gzip encoder for new layers (default: fflate, identical bytes everywhere). */
  encoder?: GzipEncoder;
  /** Directory for temporary layer files (default: a fresh one under the OS temp dir). */
  workDir?: string;
  /** Writes the image digest to this file after a successful build (kaniko's `--digest-file`). */
  digestFile?: string;
  /** Writes one `REPOSITORY@DIGEST` line per registry target (kaniko's `--image-name-with-digest-file`). */
  imageNameWithDigestFile?: string;
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
  /** Aborts the build. */
  signal?: AbortSignal;
  /** Receives progress events. */
  onEvent?: (event: BuildEvent) => void;
}

/** Counters describing what a build did. */
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

/** What {@link buildImage} produced. */
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
  /** Counters. */
  stats: BuildStats;
}

/** Builds an image and writes it to every target. Nothing is written to a target when the build fails. */
export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const targets = typeof options.to === 'string' ? [options.to] : [...options.to];
  const format = options.format ?? 'oci';
  if (format !== 'oci' && format !== 'docker') {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `buildImage: format must be "oci" or "docker", got ${JSON.stringify(format)}`);
  }
  const created = options.sourceDateEpoch ?? sourceDateEpochFromEnv() ?? 0;
  const from = options.from ?? 'scratch';
  const emit = options.onEvent ?? (() => {});
  // Validate every target before any work, so a typo fails fast and writes nothing.
  const destinations = targets.map((t) => openDestination(t, options));
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'ocibuild-')));
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
  if (options.offline) {
    const remote = destinations.filter((d) => d.parsed.kind === 'registry').map((d) => d.target);
    if (remote.length > 0) throw new OcibuildError('ERR_INVALID_ARGUMENT', `offline builds write to oci: or docker-archive: targets only, not ${remote.join(', ')}`);
  }
  let cache: LocalCache | undefined;
  try {
    cache = await cacheFor(options);
    if (from !== 'scratch') base = openSource(from, options);
    if (base && cache) base = { ...base, transport: cachedSource(base.transport, cache, { offline: options.offline ?? false, name: from }) };
    const platforms = await choosePlatforms(options, base);
    const context: PlanContext = { workDir, created, emit, options, cleanups, ...(cache ? { cache } : {}) };
    const source = memorySource({ description: 'build' });
    const images: { platform: Platform; image: AssembledImage }[] = [];
    const ociImages: { platform: Platform; image: AssembledImage }[] = [];
    for (const platform of platforms) {
      throwIfAborted(options.signal);
      const plan = options.dockerfile !== undefined
        ? await planDockerfile(options, platform, context)
        : await planFiles(options, platform, base, context);
      stats.layersBuilt += plan.steps.filter((s) => 'layer' in s && !s.cached).length;
      stats.layersCached += plan.steps.filter((s) => 'layer' in s && s.cached).length;
      const assembleAs = (as: 'oci' | 'docker') =>
        assembleImage(
          {
            base: plan.base,
            baseName: plan.baseName,
            config: plan.config,
            steps: plan.steps,
            format: as,
            created,
            ...(options.annotations ? { annotations: options.annotations } : {}),
          },
          source,
        );
      const image = assembleAs(format);
      // An OCI layout holds OCI manifests only (skopeo and umoci refuse Docker ones there, and
      // containers/image converts when it writes one): oci: targets of a Docker-format build get the OCI form.
      if (format === 'docker' && destinations.some((d) => d.parsed.kind === 'oci')) {
        ociImages.push({ platform, image: assembleAs('oci') });
      }
      stats.runsExecuted += plan.runsExecuted ?? 0;
      stats.steps.push(...(plan.stepReports ?? []));
      if (plan.shareConfig && destinations.some((d) => d.parsed.kind === 'registry')) {
        // With a cache repo, the config is kept there too, so another machine's push mounts it.
        const bytes = encodeConfig(image.config);
        const origin = await plan.shareConfig(image.configDescriptor, bytes);
        if (origin) source.addBlob(image.configDescriptor, bytes, origin);
      }
      images.push({ platform, image });
    }
    Object.assign(stats, stepTotals(stats.steps));
    const top = images.length === 1 ? (images[0] as (typeof images)[0]).image.raw : addIndex(source, images, format, options.annotations);
    const ociTop =
      ociImages.length === 0 ? undefined : ociImages.length === 1 ? (ociImages[0] as (typeof ociImages)[0]).image.raw : addIndex(source, ociImages, 'oci', options.annotations);
    const digestFor = (dest: Destination): string => (ociTop && dest.parsed.kind === 'oci' ? ociTop.digest : top.digest);
    const result = await pushAll(source, digestFor, destinations, options, emit, stats);
    if (options.digestFile !== undefined) await writeAtomic(options.digestFile, top.digest);
    if (options.imageNameWithDigestFile !== undefined) {
      const lines = destinations.flatMap((d) => {
        const t = d.parsed;
        return t.kind === 'registry' && t.ref ? [`${t.ref.withoutTag().withoutDigest().toString()}@${top.digest}`] : [];
      });
      await writeAtomic(options.imageNameWithDigestFile, lines.map((l) => `${l}\n`).join(''));
    }
    if (cache?.maxBytes !== undefined) await cache.prune();
    const first = images[0] as (typeof images)[0];
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
    };
    if (images.length > 1) out.index = JSON.parse(new TextDecoder().decode(top.bytes)) as ImageIndex;
    return out;
  } finally {
    await base?.transport.close?.();
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    await releaseRegistryClient(options);
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  }
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

async function choosePlatforms(
  options: BuildOptions,
  base: { transport: Transport; reference: string | undefined } | undefined,
): Promise<Platform[]> {
  const requested = options.platforms;
  if (requested === 'all') {
    if (!base) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'platforms "all" needs a base image (not scratch)');
    return basePlatforms(base.transport, base.reference, signalOpt(options));
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
  images: { platform: Platform; image: AssembledImage }[],
  format: 'oci' | 'docker',
  annotations: Record<string, string> | undefined,
) {
  const manifests: Descriptor[] = images.map(({ platform, image }) => ({
    mediaType: image.raw.mediaType,
    digest: image.raw.digest,
    size: image.raw.bytes.length,
    platform: normalizePlatform(platform),
  }));
  const index: ImageIndex = { schemaVersion: 2, mediaType: FORMATS[format].index, manifests };
  if (format === 'oci' && annotations && Object.keys(annotations).length > 0) index.annotations = annotations;
  const raw = encodeManifest(index);
  source.addManifest(raw);
  return raw;
}

async function pushAll(
  source: MemorySource,
  digestFor: (dest: Destination) => string,
  destinations: Destination[],
  options: BuildOptions,
  emit: (e: BuildEvent) => void,
  stats: BuildStats,
): Promise<{ ref: string; digest: string }[]> {
  const results: { ref: string; digest: string }[] = [];
  for (const dest of destinations) {
    const digest = digestFor(dest);
    const refs = dest.references(options.tags ?? []);
    if (await alreadyThere(dest, refs, digest, options)) {
      stats.manifestPutSkipped++;
      emit({ type: 'manifest-skipped', target: dest.target, digest });
      emit({ type: 'target-done', target: dest.target, digest });
      results.push({ ref: dest.target, digest });
      continue;
    }
    const transport = dest.open();
    const copied = await copyImage(source, digest, transport, refs, {
      ...signalOpt(options),
      onEvent: (event) => {
        if (event.type === 'blob-done') {
          stats.blobsUploaded++;
          stats.bytesUploaded += event.bytes ?? 0;
        } else if (event.type === 'blob-skipped') stats.blobsSkipped++;
        else if (event.type === 'blob-mounted') stats.blobsMounted++;
        else if (event.type === 'manifest-pushed') stats.manifestsPushed++;
        emit({ type: 'copy', target: dest.target, event });
      },
    });
    emit({ type: 'target-done', target: dest.target, digest: copied.digest });
    results.push({ ref: dest.target, digest: copied.digest });
  }
  return results;
}

/**
 * True when every tag of a registry target already names `digest`: the registry then has the
 * manifest and, by its own checks at PUT time, every blob, so the push can be skipped whole.
 */
async function alreadyThere(dest: Destination, refs: (string | undefined)[], digest: string, options: BuildOptions): Promise<boolean> {
  if (dest.parsed.kind !== 'registry' || refs.some((r) => r === undefined)) return false;
  const transport = dest.open();
  try {
    for (const ref of refs) {
      const existing = await transport.getManifest(ref as string, signalOpt(options)).catch(() => undefined);
      if (existing?.digest !== digest) return false;
    }
    return true;
  } finally {
    await transport.close?.();
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  await writeFile(temp, text);
  await rename(temp, file);
}
