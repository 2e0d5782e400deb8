/**
 * The plan of an s2i build for one platform (`buildImage({ s2i })`): the builder image as the
 * base, one layer holding what `assemble` changed (the uploaded sources and scripts included,
 * as in the container s2i commits), and the builder's config with `Cmd` set to the `run`
 * script, the build environment, and s2i's labels.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { BuildOptions } from '../index.ts';
import { annotationBaseName, type PlanContext, type PlatformPlan } from '../plan-files.ts';
import { sessionOf } from '../session.ts';
import { cachedSource } from '../../cache/source.ts';
import { baseDigest, resolveBase } from '../base.ts';
import { applyConfigOptions } from '../config.ts';
import { formatPlatform } from '../../oci/platform.ts';
import type { Platform } from '../../oci/types.ts';
import type { Mount } from '../../run/types.ts';
import { assertExecutorUsable } from '../../dockerfile/run-step.ts';
import { inspectHost } from '../../run/host.ts';
import { linuxExecutor } from '../../run/linux.ts';
import { removeRootfs } from '../../run/owners.ts';
import { StageRootfs } from '../../run/rootfs.ts';
import { S2iError } from './errors.ts';
import { mergeEnv, parseEnvironmentFile } from './environment.ts';
import { outputConfig, outputLabelInput } from './labels.ts';
import { commitLayer } from './commit.ts';
import { buildRuntime } from './runtime-build.ts';
import type { LayerStep } from '../../image/mutate.ts';
import { rootfsLayers, runScript } from './sandbox.ts';
import { locateScripts, scriptPath } from './scripts.ts';
import { prepareSource } from './source.ts';
import type { S2iOptions } from './types.ts';
import { writeUpload } from './upload.ts';
import { checkAllowedUsers, parseUidRanges } from './users.ts';
import { previousArtifacts } from './incremental.ts';
import { destinationOf, inImage } from './builder.ts';

async function readEnvironment(file: string, name: string, required: boolean): Promise<[string, string][]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: cannot read ${name}: ${(error as Error).message}`, { cause: error });
  }
  return parseEnvironmentFile(text, name);
}

function emitLayer(context: PlanContext, platform: Platform, step: LayerStep): void {
  const { layer, createdBy } = step;
  context.emit({ type: 'layer-built', platform: formatPlatform(platform), digest: layer.descriptor.digest, size: layer.descriptor.size, cached: false, createdBy });
}

/** The `--inject` (read-only) and `--volume` (read-write) binds of `assemble`; relative destinations are under `workdir`. */
function assembleMounts(s2i: S2iOptions, workdir: string): Mount[] {
  const bind = (list: S2iOptions['inject'], readonly: boolean, flag: string): Mount[] =>
    (list ?? []).map(({ source, destination }) => {
      if (destination === '') throw new S2iError('ERR_INVALID_ARGUMENT', `${flag} ${source}: empty destination`);
      return { type: 'bind', source: path.resolve(source), target: path.posix.resolve(workdir, destination), readonly };
    });
  return [...bind(s2i.inject, true, '--inject'), ...bind(s2i.volumes, false, '--volume')];
}

/** Plans the s2i build `s2i` (part of `options`, whose registry client it shares) for `platform`: runs `assemble` and returns the image parts. */
export async function planS2i(options: BuildOptions, s2i: S2iOptions, platform: Platform, context: PlanContext): Promise<PlatformPlan> {
  const signal = options.signal ? { signal: options.signal } : {};
  const ranges = s2i.allowedUids !== undefined ? parseUidRanges(s2i.allowedUids) : undefined;
  if (s2i.runtimeImage !== undefined && s2i.incremental) throw new S2iError('ERR_INVALID_ARGUMENT', 's2i: an extended build (runtimeImage) cannot be incremental');
  const opened = sessionOf(options).openSource(s2i.builder, { onEvent: context.emit });
  context.cleanups.push(async () => opened.transport.close?.());
  // The builder is a base like any other: through the build cache when there is one.
  const builder = context.cache ? { ...opened, transport: cachedSource(opened.transport, context.cache, { offline: options.offline ?? false, name: s2i.builder }) } : opened;
  const base = await resolveBase(builder.transport, builder.reference, platform, signal);
  context.emit({ type: 'resolve', from: s2i.builder, platform: formatPlatform(platform), digest: baseDigest(base) });
  const builderConfig = base.config.config ?? {};
  const labels = builderConfig.Labels ?? {};
  const assembleUser = s2i.assembleUser ?? (labels['io.openshift.s2i.assemble-user'] || undefined);
  if (ranges !== undefined) checkAllowedUsers(s2i.builder, ranges, { image: builderConfig.User, assemble: assembleUser, onBuild: builderConfig.OnBuild ?? undefined });
  const destination = destinationOf(s2i.destination, labels);
  const workdir = builderConfig.WorkingDir || '/';
  const mounts = assembleMounts(s2i, workdir);
  const executor = options.executor ?? linuxExecutor();
  await assertExecutorUsable(executor);
  const host = inspectHost();
  const scratch = await fs.mkdtemp(path.join(context.workDir, 's2i-'));
  const rootfs = new StageRootfs(path.join(scratch, 'rootfs'), host);
  try {
    const source = await prepareSource({ source: s2i.source, copy: s2i.copy, ref: s2i.ref, contextDir: s2i.contextDir, ignoreSubmodules: s2i.ignoreSubmodules, exclude: s2i.exclude, scratch });
    const extra = [
      ...(await readEnvironment(path.join(source.dir, '.s2i', 'environment'), '.s2i/environment', false)),
      ...(s2i.environmentFile !== undefined ? await readEnvironment(s2i.environmentFile, s2i.environmentFile, true) : []),
      ...Object.entries(s2i.env ?? {}),
    ];
    const env = mergeEnv(builderConfig.Env ?? undefined, extra);
    await rootfs.sync(rootfsLayers(builder.transport, base.layers.map((l) => l.descriptor)), signal);
    const scripts = await locateScripts(
      { scriptsUrl: s2i.scriptsUrl, sourceDir: source.dir, labels, env: builderConfig.Env ?? undefined, inImage: (p) => inImage(rootfs.dir, p), signal: options.signal },
      // An extended build runs the runtime image's run script, so the builder may lack one.
      s2i.runtimeImage === undefined ? ['assemble', 'run'] : ['assemble'],
      ['save-artifacts'],
    );
    const uploadDir = path.join(scratch, 'upload');
    await fs.mkdir(uploadDir);
    const user = assembleUser ?? (builderConfig.User || undefined);
    const common = { executor, env, workdir, destination, network: s2i.network, signal: options.signal, stdout: s2i.stdout, stderr: s2i.stderr, onStart: s2i.onScript };
    let runs = 0;
    if (s2i.incremental) {
      const got = await previousArtifacts({ options, s2i, platform, scripts, user, common, file: path.join(uploadDir, 'artifacts.tar'), scratch, created: context.created });
      runs += got.runs;
    }
    await writeUpload({ dir: uploadDir, source, scripts, mtime: context.created, signal: options.signal });
    const before = await rootfs.takeSnapshot();
    const assemble = scriptPath(scripts, 'assemble', destination);
    await runScript({ ...common, rootfs: rootfs.dir, script: 'assemble', command: assemble, user, uploadDir, mounts });
    runs += 1;
    if (s2i.runtimeImage !== undefined) {
      const runtime = await buildRuntime({
        options, s2i: { ...s2i, runtimeImage: s2i.runtimeImage }, platform, context, executor, host, scratch,
        builderRootfs: rootfs.dir, sourceDir: source.dir, info: source.info, extraEnv: extra, ranges,
      });
      emitLayer(context, platform, runtime.step);
      return { base: runtime.base, baseName: runtime.name, baseDigest: baseDigest(runtime.base), config: applyConfigOptions(runtime.config, options.config ?? {}), steps: [runtime.step], runsExecuted: runs + 1 };
    }
    const layer = await commitLayer(rootfs, before, { executor, host, scratch, options, context });
    const step = { layer, createdBy: `s2i build ${s2i.source} ${s2i.builder}: ${assemble}`, cached: false };
    emitLayer(context, platform, step);
    const config = outputConfig(base.config, scriptPath(scripts, 'run', destination), env, outputLabelInput(s2i, source.info, options.to));
    return { base, baseName: annotationBaseName(builder.name), baseDigest: baseDigest(base), config: applyConfigOptions(config, options.config ?? {}), steps: [step], runsExecuted: runs };
  } finally {
    await rootfs.remove().catch(() => {});
    await removeRootfs(scratch, host).catch(() => {});
  }
}
