/**
 * The second half of an extended build: the runtime image materialised, the runtime artifacts
 * and uploaded scripts extracted into it by its user, `assemble-runtime` run, and the result
 * committed as the one layer on top of the runtime image.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { BuildOptions } from '../index.ts';
import type { PlanContext } from '../plan-files.ts';
import { resolveBase } from '../base.ts';
import type { Image } from '../../image/model.ts';
import { sessionOf } from '../session.ts';
import { cachedSource } from '../../cache/source.ts';
import type { LayerStep } from '../../image/mutate.ts';
import type { ImageConfig, Platform } from '../../oci/types.ts';
import type { HostInfo } from '../../run/host.ts';
import { StageRootfs } from '../../run/rootfs.ts';
import type { Executor } from '../../run/types.ts';
import { destinationOf, inImage } from './builder.ts';
import { commitLayer } from './commit.ts';
import { mergeEnv } from './environment.ts';
import { outputConfig, outputLabelInput } from './labels.ts';
import { artifactMappings, writeRuntimeArtifacts } from './runtime.ts';
import { rootfsLayers, runScript } from './sandbox.ts';
import { locateScripts, scriptPath } from './scripts.ts';
import type { SourceInfo } from './source.ts';
import type { S2iOptions } from './types.ts';
import { writeUpload } from './upload.ts';
import { checkAllowedUsers, type UidRange } from './users.ts';

/** What {@link buildRuntime} needs from the first half. */
export interface RuntimeInput {
  /** The build's options. */
  options: BuildOptions;
  /** The s2i options (with `runtimeImage`). */
  s2i: S2iOptions & { runtimeImage: string };
  /** The platform. */
  platform: Platform;
  /** The planner context. */
  context: PlanContext;
  /** The executor. */
  executor: Executor;
  /** Host facts. */
  host: HostInfo;
  /** Scratch directory (removed by the caller). */
  scratch: string;
  /** Host directory of the builder's rootfs after `assemble`. */
  builderRootfs: string;
  /** The source directory (its `.s2i/bin/` may hold `assemble-runtime` and `run`). */
  sourceDir: string;
  /** Source facts for the labels. */
  info: SourceInfo;
  /** `.s2i/environment`, `-E` and `-e` entries. */
  extraEnv: [string, string][];
  /** `--allowed-uids`, when given. */
  ranges: UidRange[] | undefined;
}

/** Runs `assemble-runtime` in the runtime image and returns the image parts. */
export async function buildRuntime(input: RuntimeInput): Promise<{ base: Image; name: string; config: ImageConfig; step: LayerStep }> {
  const { options, s2i, context } = input;
  const signal = options.signal ? { signal: options.signal } : {};
  const opened = sessionOf(options).openSource(s2i.runtimeImage, { onEvent: context.emit });
  context.cleanups.push(async () => opened.transport.close?.());
  const transport = context.cache ? cachedSource(opened.transport, context.cache, { offline: options.offline ?? false, name: s2i.runtimeImage }) : opened.transport;
  const base = await resolveBase(transport, opened.reference, input.platform, signal);
  const config = base.config.config ?? {};
  const labels = config.Labels ?? {};
  const user = s2i.assembleRuntimeUser ?? (config.User || undefined);
  if (input.ranges !== undefined) checkAllowedUsers(s2i.runtimeImage, input.ranges, { image: config.User, assemble: s2i.assembleRuntimeUser, onBuild: config.OnBuild ?? undefined });
  const mappings = artifactMappings(s2i.runtimeArtifacts, labels, s2i.runtimeImage);
  const destination = destinationOf(s2i.destination, labels);
  const workdir = config.WorkingDir || '/';
  const rootfs = new StageRootfs(path.join(input.scratch, 'runtime-rootfs'), input.host);
  const uploadDir = path.join(input.scratch, 'runtime-upload');
  try {
    await fs.mkdir(uploadDir);
    await writeRuntimeArtifacts(input.builderRootfs, mappings, path.join(uploadDir, 'runtime.tar'), context.created, options.signal);
    await rootfs.sync(rootfsLayers(transport, base.layers.map((l) => l.descriptor)), signal);
    const scripts = await locateScripts(
      { scriptsUrl: s2i.scriptsUrl, sourceDir: input.sourceDir, labels, env: config.Env ?? undefined, inImage: (p) => inImage(rootfs.dir, p), signal: options.signal },
      ['assemble-runtime', 'run'],
      [],
    );
    await writeUpload({ dir: uploadDir, scripts, mtime: context.created, signal: options.signal });
    const env = mergeEnv(config.Env ?? undefined, input.extraEnv);
    const before = await rootfs.takeSnapshot();
    const command = scriptPath(scripts, 'assemble-runtime', destination);
    await runScript({
      executor: input.executor,
      rootfs: rootfs.dir,
      script: 'assemble-runtime',
      command,
      user,
      env,
      workdir,
      destination,
      uploadDir,
      network: s2i.network,
      signal: options.signal,
      stdout: s2i.stdout,
      stderr: s2i.stderr,
      onStart: s2i.onScript,
    });
    const layer = await commitLayer(rootfs, before, { executor: input.executor, host: input.host, scratch: input.scratch, options, context });
    const out = outputConfig(base.config, scriptPath(scripts, 'run', destination), env, outputLabelInput(s2i, input.info, options.to));
    return { base, name: opened.name, config: out, step: { layer, createdBy: `s2i build ${s2i.source} ${s2i.builder} --runtime-image ${s2i.runtimeImage}: ${command}`, cached: false } };
  } finally {
    await rootfs.remove().catch(() => {});
  }
}
