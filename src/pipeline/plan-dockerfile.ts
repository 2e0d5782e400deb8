/**
 * The plan of a Dockerfile build for one platform: read the Dockerfile and `.dockerignore`,
 * resolve the stage graph, interpret the stages the target needs (writing layers to the
 * build's work directory only), and hand the target's base, config and steps to assembly.
 * Nothing is written to any target here.
 * @module
 */
import { buildEncoder } from './compression.ts';
import { readFile, realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import { isWithin } from '../run/paths.ts';
import { formatPlatform, hostPlatform } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { writeLayer } from '../layer/write.ts';
import type { LayerSpec } from '../layer/types.ts';
import type { TarLimits } from '../layer/tar-guard.ts';
import { parseInstructions } from '../dockerfile/index.ts';
import { createIgnoreMatcher, loadDockerignore } from '../dockerfile/ignore.ts';
import { planStages } from '../dockerfile/stages.ts';
import { lookupNamedContext, parseNamedContext, type NamedContext } from '../dockerfile/contexts.ts';
import { fetchGitCheckout } from '../git/fetch.ts';
import { directoryContextBase } from './context-base.ts';
import { LayerIndexCache } from '../dockerfile/interpret-fs.ts';
import { interpretStages } from '../dockerfile/interpret.ts';
import { createRunSession } from '../dockerfile/run-step.ts';
import { stepName } from '../dockerfile/run-events.ts';
import { linuxExecutor } from '../run/linux.ts';
import type { BaseImage, InterpreterHost } from '../dockerfile/interpret-state.ts';
import { createStepCache } from '../cache/steps-setup.ts';
import { baseDigest, basePlatformWarning, resolveBase, scratchBase } from './base.ts';
import type { Image } from '../image/model.ts';
import { applyConfigOptions } from './config.ts';
import { sessionOf } from './session.ts';
import type { BuildOptions } from './index.ts';
import { annotationBaseName, type PlanContext, type PlatformPlan } from './plan-files.ts';

/** Per-build state shared by the platforms of one build (layer indexes, opened images). */
interface BuildShared {
  cache: LayerIndexCache;
  images: Map<string, Promise<BaseImage>>;
  text?: Promise<{ text: string; file: string; path: string | undefined }>;
  /** Dockerfile warnings were reported. */
  warned?: boolean;
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
  if (spec === undefined) throw new InvalidArgumentError('no dockerfile given');
  if (typeof spec !== 'string') {
    const file = spec.file ?? 'Dockerfile';
    return { text: spec.text, file, path: spec.file !== undefined ? path.resolve(contextDir, spec.file) : undefined };
  }
  const full = path.resolve(contextDir, spec);
  try {
    return { text: await readFile(await dockerfileInContext(full, contextDir, spec), 'utf8'), file: spec, path: full };
  } catch (error) {
    // The default name falls back to a lowercase `dockerfile` beside it, as BuildKit and Docker
    // (moby/moby#10858, BuildKit's testDockerfileLowercase).
    if (spec === 'Dockerfile' && (error as NodeJS.ErrnoException).code === 'ENOENT') {
      const lower = path.resolve(contextDir, 'dockerfile');
      const text = await dockerfileInContext(lower, contextDir, 'dockerfile')
        .then((real) => readFile(real, 'utf8'))
        .catch((e: unknown) => {
          if (e instanceof OcibuildError) throw e;
          return undefined;
        });
      if (text !== undefined) return { text, file: 'dockerfile', path: lower };
    }
    if (error instanceof OcibuildError) throw error;
    throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `cannot read Dockerfile ${full}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
}

/**
 * The path to read for a Dockerfile at `full`: one inside the context must stay inside it once
 * symlinks are resolved, so a context (a cloned repository, say) cannot make the build read, and
 * quote in parse errors, a file of the user such as `Dockerfile -> ~/.ssh/id_rsa`. A path the
 * caller gave outside the context is the caller's own choice and is read as given.
 */
async function dockerfileInContext(full: string, contextDir: string, spec: string): Promise<string> {
  if (!isWithin(contextDir, full)) return full;
  const [real, realContext] = await Promise.all([realpath(full), realpath(contextDir)]);
  if (!isWithin(realContext, real)) {
    throw new OcibuildError('ERR_PATH_ESCAPE', `Dockerfile ${spec} is a symlink to a file outside the build context; refusing to read it`);
  }
  return real;
}

/** The interpreter's view of `image`: its config, and its layers opened through the model. */
function baseImageFrom(image: Image, origin: BaseImage['origin'], limits?: Partial<TarLimits>): BaseImage {
  return {
    config: image.config,
    layers: image.layers.map((layer) => ({
      key: layer.descriptor.digest,
      mediaType: layer.descriptor.mediaType,
      descriptor: layer.descriptor,
      // openImage checked that there is one diff_ids entry per layer: extraction verifies it.
      diffId: layer.diffId,
      ...(limits !== undefined ? { limits } : {}),
      open: async () => layer.open(),
    })),
    image,
    ...(origin !== undefined ? { origin } : {}),
    // A named image (not scratch, not a directory context) roots the step cache keys.
    ...(origin !== undefined ? { digest: image.descriptor.digest } : {}),
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
  const contexts = new Map<string, NamedContext>(Object.entries(options.contexts ?? {}).map(([name, value]) => [name, parseNamedContext(value)]));
  const graph = planStages(ast, {
    namedContext: (name) => lookupNamedContext(contexts, name) !== undefined,
    buildArgs: options.buildArgs ?? {},
    target: options.target,
    targetPlatform: platform,
    buildPlatform: hostPlatform(),
  });
  const signal = options.signal ? { signal: options.signal } : {};
  const platformText = formatPlatform(platform);
  // Lint findings are the same for every platform: report them once per build.
  if (!s.warned) {
    s.warned = true;
    for (const w of graph.warnings) context.emit({ type: 'dockerfile-warning', rule: w.rule, message: w.message, file: dockerfile.file, line: w.line });
  }

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
      writeLayer(spec, { directory: context.workDir, sourceDateEpoch: context.created, encoder: buildEncoder(options), ...signal }),
    namedContext: (name) => lookupNamedContext(contexts, name),
    fetchGit: (request) => fetchGitCheckout({ ...request, workDir: context.workDir, ...signal }),
    openImage: (written, p) => {
      // A named context replaces an image reference (FROM, COPY --from, RUN --mount=from).
      const named = lookupNamedContext(contexts, written);
      const reference = named?.kind === 'image' ? named.reference : written;
      // `docker-image://scratch` stands for the empty image (testNamedImageContextScratch).
      if (reference === 'scratch') return Promise.resolve(baseImageFrom(scratchBase(p), undefined));
      const key = `${reference}\0${formatPlatform(p)}`;
      let image = s.images.get(key);
      if (!image && named?.kind === 'dir') {
        // FROM a directory context: one layer of its files (see context-base.ts).
        image = directoryContextBase(written, named.dir, p, context.created, host.writeLayer).then((resolved) => baseImageFrom(resolved, undefined));
        s.images.set(key, image);
      }
      if (!image) {
        image = (async () => {
          const source = sessionOf(options).openSource(reference, { onEvent: context.emit });
          context.cleanups.push(async () => source.transport.close?.());
          const resolved = await resolveBase(source.transport, source.reference, p, signal);
          const digest = baseDigest(resolved);
          context.emit({ type: 'resolve', from: reference, platform: formatPlatform(p), digest });
          const mismatch = basePlatformWarning(resolved, p, reference);
          if (mismatch !== undefined) context.emit({ type: 'base-warning', from: reference, platform: formatPlatform(p), message: mismatch });
          return baseImageFrom(resolved, { name: source.name, digest }, options.layerLimits);
        })();
        s.images.set(key, image);
      }
      return image;
    },
    scratch: (p) => baseImageFrom(scratchBase(p), undefined),
    ...signal,
    onLayer: (layer, createdBy, cached) =>
      context.emit({ type: 'layer-built', platform: platformText, digest: layer.descriptor.digest, size: layer.descriptor.size, cached: cached ?? false, createdBy }),
  };
  // The step cache needs the local cache (records and blobs); `cache.repo` adds the registry.
  const stepCache = context.cache
    ? createStepCache({
        cache: context.cache,
        settings: options.cache,
        client: () => sessionOf(options).registryClient(),
        targets: typeof options.to === 'string' ? [options.to] : options.to,
        workDir: context.workDir,
        created: context.created,
        encoder: buildEncoder(options),
        keepRunMtimes: options.keepRunMtimes,
        ...(options.addHosts !== undefined ? { addHosts: options.addHosts } : {}),
        scope: `${contextDir}\0${dockerfile.path ?? dockerfile.file}`,
        platform: platformText,
        onStep: (report) => context.emit({ type: 'step', ...report }),
        nameOf: (state, instruction) => stepName(graph, state, instruction, context.multiPlatform ?? false),
        onWarning: (message) => context.emit({ type: 'cache-warning', message }),
        ...signal,
      })
    : undefined;
  if (stepCache) host.steps = stepCache;

  // The default executor keeps its per-step scratch in the build's work folder, so an
  // interrupted or killed build leaves nothing of it elsewhere in the temp dir.
  const runs = await createRunSession({ ...options, ...(context.sshSockets ? { sshSockets: context.sshSockets } : {}), ...(context.multiPlatform ? { stepPlatform: true } : {}), executor: options.executor ?? linuxExecutor({ tmpdir: context.workDir }) }, host, graph);
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
  return {
    base: target.root.image ?? scratchBase(platform),
    baseName: annotationBaseName(target.root.origin?.name),
    baseDigest: target.root.origin?.digest,
    config: applyConfigOptions(target.config, options.config ?? {}),
    steps: target.steps,
    runsExecuted,
    ...(stepCache ? { stepReports: stepCache.reports, shareConfig: (d: Descriptor, b: Uint8Array) => stepCache.shareConfig(d, b) } : {}),
  };
}
