/**
 * The plan of a Dockerfile build for one platform: read the Dockerfile and `.dockerignore`,
 * resolve the stage graph, interpret the stages the target needs (writing layers to the
 * build's work directory only), and hand the target's base, config and steps to assembly.
 * Nothing is written to any target here.
 * @module
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import { formatPlatform, hostPlatform } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { writeLayer } from '../layer/write.ts';
import type { LayerSpec } from '../layer/types.ts';
import { parseInstructions } from '../dockerfile/index.ts';
import { createIgnoreMatcher, loadDockerignore } from '../dockerfile/ignore.ts';
import { planStages } from '../dockerfile/stages.ts';
import { LayerIndexCache } from '../dockerfile/interpret-fs.ts';
import { interpretStages } from '../dockerfile/interpret.ts';
import { createRunSession } from '../dockerfile/run-step.ts';
import type { BaseImage, InterpreterHost } from '../dockerfile/interpret-state.ts';
import { createStepCache } from '../cache/steps-setup.ts';
import { resolveBase, scratchBase, scratchConfig, type ResolvedBase } from './base.ts';
import { applyConfigOptions } from './config.ts';
import { openSource, registryClientFor } from './targets.ts';
import type { AddedLayer, EmptyStep } from './assemble.ts';
import type { BuildOptions } from './index.ts';
import { annotationBaseName, type PlanContext, type PlatformPlan } from './plan-files.ts';

/** What a {@link BaseImage} handle holds here. */
interface BaseHandle {
  resolved: ResolvedBase;
  name: string | undefined;
}

/** Per-build state shared by the platforms of one build (layer indexes, opened images). */
interface BuildShared {
  cache: LayerIndexCache;
  images: Map<string, Promise<BaseImage>>;
  text?: Promise<{ text: string; file: string; path: string | undefined }>;
}

const shared = new WeakMap<PlanContext, BuildShared>();

function sharedFor(context: PlanContext): BuildShared {
  let s = shared.get(context);
  if (!s) {
    s = { cache: new LayerIndexCache(), images: new Map() };
    shared.set(context, s);
  }
  return s;
}

/** Reads the Dockerfile: a path relative to the context (or absolute), or inline text. */
async function readDockerfile(options: BuildOptions, contextDir: string): Promise<{ text: string; file: string; path: string | undefined }> {
  const spec = options.dockerfile;
  if (spec === undefined) throw new OcibuildError('ERR_INVALID_ARGUMENT', 'no dockerfile given');
  if (typeof spec !== 'string') {
    const file = spec.file ?? 'Dockerfile';
    return { text: spec.text, file, path: spec.file !== undefined ? path.resolve(contextDir, spec.file) : undefined };
  }
  const full = path.resolve(contextDir, spec);
  try {
    return { text: await readFile(full, 'utf8'), file: spec, path: full };
  } catch (error) {
    throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `cannot read Dockerfile ${full}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
}

function baseImageFrom(resolved: ResolvedBase, name: string | undefined): BaseImage {
  const transport = resolved.transport;
  const handle: BaseHandle = { resolved, name };
  return {
    config: resolved.config,
    layers: resolved.layers.map((d) => ({
      key: d.digest,
      mediaType: d.mediaType,
      descriptor: d,
      open: async () => {
        if (!transport) throw new OcibuildError('ERR_INVALID_ARGUMENT', `layer ${d.digest} has no source`);
        return transport.getBlob(d);
      },
    })),
    handle,
    ...(resolved.manifestDigest !== undefined ? { digest: resolved.manifestDigest } : {}),
  };
}

/** Interprets the Dockerfile for `platform`. */
export async function planDockerfile(options: BuildOptions, platform: Platform, context: PlanContext): Promise<PlatformPlan> {
  const contextDir = path.resolve(options.context ?? '.');
  const s = sharedFor(context);
  s.text ??= readDockerfile(options, contextDir);
  const dockerfile = await s.text;
  const ast = parseInstructions(dockerfile.text, { file: dockerfile.file });
  const ignoreFile = await loadDockerignore(contextDir, dockerfile.path);
  const ignore = ignoreFile.patterns.length > 0 ? createIgnoreMatcher(ignoreFile.patterns) : undefined;
  const graph = planStages(ast, {
    buildArgs: options.buildArgs ?? {},
    ...(options.target !== undefined ? { target: options.target } : {}),
    targetPlatform: platform,
    buildPlatform: hostPlatform(),
  });
  const signal = options.signal ? { signal: options.signal } : {};
  const platformText = formatPlatform(platform);

  const host: InterpreterHost = {
    file: dockerfile.file,
    escape: graph.escape,
    contextDir,
    ignore,
    workDir: context.workDir,
    created: context.created,
    globalArgs: graph.globalArgs,
    buildArgs: options.buildArgs ?? {},
    platform,
    cache: s.cache,
    writeLayer: (spec: LayerSpec) =>
      writeLayer(spec, { directory: context.workDir, sourceDateEpoch: context.created, ...(options.encoder ? { encoder: options.encoder } : {}), ...signal }),
    openImage: (reference, p) => {
      const key = `${reference}\0${formatPlatform(p)}`;
      let image = s.images.get(key);
      if (!image) {
        image = (async () => {
          const source = openSource(reference, options);
          context.cleanups.push(async () => source.transport.close?.());
          const resolved = await resolveBase(source.transport, source.reference, p, signal);
          context.emit({ type: 'resolve', from: reference, platform: formatPlatform(p), ...(resolved.digest ? { digest: resolved.digest } : {}) });
          return baseImageFrom(resolved, source.name);
        })();
        s.images.set(key, image);
      }
      return image;
    },
    scratch: (p) => ({ ...baseImageFrom(scratchBase(p), undefined), config: scratchConfig(p) }),
    ...signal,
    onLayer: (layer, createdBy, cached) =>
      context.emit({ type: 'layer-built', platform: platformText, digest: layer.descriptor.digest, size: layer.descriptor.size, cached: cached ?? false, createdBy }),
  };
  // The step cache needs the local cache (records and blobs); `cache.repo` adds the registry.
  const stepCache = context.cache
    ? createStepCache({
        cache: context.cache,
        settings: options.cache,
        client: () => registryClientFor(options),
        targets: typeof options.to === 'string' ? [options.to] : options.to,
        workDir: context.workDir,
        created: context.created,
        ...(options.encoder ? { encoder: options.encoder } : {}),
        ...(options.keepRunMtimes === true ? { keepRunMtimes: true } : {}),
        scope: `${contextDir}\0${dockerfile.path ?? dockerfile.file}`,
        platform: platformText,
        onStep: (report) => context.emit({ type: 'step', ...report }),
        onWarning: (message) => context.emit({ type: 'cache-warning', message }),
        ...signal,
      })
    : undefined;
  if (stepCache) host.steps = stepCache;

  const runs = await createRunSession(options, host, graph);
  let runsExecuted = 0;
  host.runStep = (...args) => {
    runsExecuted++;
    return runs.runStep(...args);
  };
  let target: Awaited<ReturnType<typeof interpretStages>>;
  try {
    target = await interpretStages(graph, host);
    await stepCache?.finish();
  } finally {
    await runs.close();
  }
  const handle = target.root.handle as BaseHandle;
  const steps: (AddedLayer | EmptyStep)[] = target.steps.map((step) =>
    'layer' in step
      ? { layer: step.layer, createdBy: step.createdBy, ...(step.cached ? { cached: true } : {}), ...(step.origin ? { origin: step.origin } : {}) }
      : { createdBy: step.createdBy },
  );
  return {
    base: handle.resolved,
    baseName: annotationBaseName(handle.name),
    config: applyConfigOptions(target.config, options.config ?? {}),
    steps,
    runsExecuted,
    ...(stepCache ? { stepReports: stepCache.reports, shareConfig: (d: Descriptor, b: Uint8Array) => stepCache.shareConfig(d, b) } : {}),
  };
}
