/**
 * The plan of a files build (Jib style): base + layer specs + config edits, for one platform.
 * @module
 */
import { buildEncoder } from './compression.ts';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.ts';
import type { BlobOrigin } from '../transports/types.ts';
import type { StepReport } from '../cache/steps.ts';
import { formatPlatform } from '../oci/platform.ts';
import { parseTarget } from '../transports/target.ts';
import { writeLayer } from '../layer/write.ts';
import type { BuiltLayer, LayerSpec } from '../layer/types.ts';
import { cachedWriteLayer } from '../cache/layers.ts';
import type { LocalCache } from '../cache/store.ts';
import type { Transport } from '../transports/types.ts';
import { baseDigest, basePlatformWarning, resolveBase, scratchBase } from './base.ts';
import type { Image } from '../image/model.ts';
import { applyConfigOptions } from './config.ts';
import type { BuildStep, LayerStep } from '../image/mutate.ts';
import type { BuildEvent, BuildOptions } from './index.ts';

/** What every planner gets from `buildImage`. */
export interface PlanContext {
  /** Directory for temporary layer files, removed after the build. */
  workDir: string;
  /** Creation time, seconds since the epoch. */
  created: number;
  /** Event sink. */
  emit: (event: BuildEvent) => void;
  /** The build's options. */
  options: BuildOptions;
  /** The local cache, when the build uses one: layers are then looked up by their inputs. */
  cache?: LocalCache;
  /** Work to run after the push (closing transports opened while planning, whose blobs are read lazily). */
  cleanups: (() => Promise<void>)[];
  /** Several platforms are built: step names lead with the platform (`[linux/arm64 2/5] RUN make`). */
  multiPlatform?: boolean;
  /** Agent sockets for `RUN --mount=type=ssh`, by id (from {@link BuildOptions.ssh}). */
  sshSockets?: Record<string, string>;
}

/**
 * Writes one layer, through the cache when the context has one (a hit skips tar and gzip).
 * Shared by the planners so every build path caches the same way.
 */
export async function buildLayer(spec: LayerSpec, context: PlanContext): Promise<{ layer: BuiltLayer; cached: boolean }> {
  const { options } = context;
  if (spec.prebuilt !== undefined) return spec.prebuilt();
  const signal = options.signal ? { signal: options.signal } : {};
  if (context.cache !== undefined) {
    const { layer, cached } = await cachedWriteLayer(spec, context.cache, {
      directory: context.workDir,
      sourceDateEpoch: context.created,
      encoder: buildEncoder(options),
      ...signal,
    });
    return { layer, cached };
  }
  const layer = await writeLayer(spec, {
    directory: context.workDir,
    sourceDateEpoch: context.created,
    encoder: buildEncoder(options),
    ...signal,
  });
  return { layer, cached: false };
}

/**
 * The base name the manifest's `org.opencontainers.image.base.name` annotation may carry: a
 * registry reference only. An `oci:` or `docker-archive:` base is a host path, which would make
 * the digest depend on where the build ran; its `base.digest` still identifies it.
 */
export function annotationBaseName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  try {
    return parseTarget(name).kind === 'registry' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** One platform's image before assembly. */
export interface PlatformPlan {
  /** The base image (the empty image for scratch). */
  base: Image;
  /** Base name for the annotation; undefined for scratch. */
  baseName: string | undefined;
  /** What the base's name resolved to (see `baseDigest`); undefined for scratch and directory contexts. */
  baseDigest: string | undefined;
  /** The config after edits (rootfs and history of the base only). */
  config: ImageConfig;
  /** New layers and empty steps, in order. */
  steps: BuildStep[];
  /** Dockerfile builds: RUN steps executed. */
  runsExecuted?: number;
  /** Dockerfile builds with a step cache: what happened to each layer step. */
  stepReports?: StepReport[];
  /** Dockerfile builds with a cache repo: stores the image config there; returns the repo to mount it from. */
  shareConfig?: (descriptor: Descriptor, bytes: Uint8Array) => Promise<BlobOrigin | undefined>;
}

/** Plans a files build for `platform`. A single-manifest base is used whatever its platform. */
export async function planFiles(
  options: BuildOptions,
  platform: Platform,
  base: { transport: Transport; reference: string | undefined; name: string } | undefined,
  context: PlanContext,
): Promise<PlatformPlan> {
  const signal = options.signal ? { signal: options.signal } : {};
  const resolved = base
    ? await resolveBase(base.transport, base.reference, platform, signal)
    : scratchBase(platform);
  context.emit({ type: 'resolve', from: options.from ?? 'scratch', platform: formatPlatform(platform), ...(base ? { digest: baseDigest(resolved) } : {}) });
  const mismatch = base ? basePlatformWarning(resolved, platform, base.name) : undefined;
  if (base && mismatch !== undefined) context.emit({ type: 'base-warning', from: base.name, platform: formatPlatform(platform), message: mismatch });
  const specs = typeof options.layers === 'function' ? options.layers(platform) : (options.layers ?? []);
  const steps: LayerStep[] = [];
  const platformText = formatPlatform(platform);
  for (const [i, spec] of specs.entries()) {
    const createdBy = spec.createdBy ?? 'ocibuild: add layer';
    // Tar and gzip of a large directory take a while: shown as a step, with its time.
    const step = `${platformText} layer:${i}`;
    const started = Date.now();
    context.emit({ type: 'step-start', step, name: `[${context.multiPlatform ? `${platformText} ` : ''}${i + 1}/${specs.length}] ${createdBy}`, platform: platformText, stage: 0 });
    let built: Awaited<ReturnType<typeof buildLayer>>;
    try {
      built = await buildLayer(spec, context);
    } catch (error) {
      context.emit({ type: 'step-end', step, durationMs: Date.now() - started, error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
    const { layer, cached } = built;
    context.emit({ type: 'step-end', step, durationMs: Date.now() - started, ...(cached ? { cached: true } : {}) });
    context.emit({
      type: 'layer-built',
      platform: platformText,
      digest: layer.descriptor.digest,
      size: layer.descriptor.size,
      cached,
      createdBy,
    });
    steps.push({ layer, createdBy, cached, ...(spec.comment !== undefined ? { comment: spec.comment } : {}) });
  }
  return { base: resolved, baseName: annotationBaseName(base?.name), baseDigest: base ? baseDigest(resolved) : undefined, config: applyConfigOptions(resolved.config, options.config ?? {}), steps };
}
