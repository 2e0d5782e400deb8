/**
 * Incremental s2i builds: `save-artifacts` runs in the previous image (by default the first
 * target, "the image of the same tag"), and its tar stream is extracted in
 * DESTINATION/artifacts before `assemble`. As in s2i, a missing previous image, a builder
 * without `save-artifacts`, or a failing `save-artifacts` fall back to a clean build.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { BuildOptions } from '../index.ts';
import { sessionOf } from '../session.ts';
import { resolveBase } from '../base.ts';
import type { Platform } from '../../oci/types.ts';
import { StageRootfs } from '../../run/rootfs.ts';
import type { Executor, NetworkMode, OutputSink } from '../../run/types.ts';
import { rootfsLayers, saveArtifacts } from './sandbox.ts';
import { scriptPath, type ScriptLocation, type ScriptName } from './scripts.ts';
import type { S2iOptions } from './types.ts';
import { writeUpload } from './upload.ts';

/** What {@link previousArtifacts} needs. */
export interface PreviousArtifactsInput {
  /** The build's options (their registry client is shared). */
  options: BuildOptions;
  /** The s2i options. */
  s2i: S2iOptions;
  /** The platform being built. */
  platform: Platform;
  /** The located scripts (`save-artifacts` among them, or not). */
  scripts: ReadonlyMap<ScriptName, ScriptLocation>;
  /** The assemble user (undefined: the previous image's user). */
  user: string | undefined;
  /** Settings shared with the assemble run. */
  common: { executor: Executor; env: string[]; destination: string; network?: NetworkMode | undefined; signal?: AbortSignal | undefined; stderr?: OutputSink | undefined; onStart?: ((script: string) => void) | undefined };
  /** Where the artifacts tar goes. */
  file: string;
  /** Scratch directory (removed by the caller). */
  scratch: string;
  /** Entry mtime for the scripts upload. */
  created: number;
}

/** Writes the previous image's artifacts to `input.file`; `saved` false means a clean build (the reason went to `onNote`). */
export async function previousArtifacts(input: PreviousArtifactsInput): Promise<{ saved: boolean; runs: number }> {
  const { options, s2i, common } = input;
  const note = s2i.onNote ?? (() => {});
  const targets = Array.isArray(options.to) ? options.to : [options.to];
  const previous = s2i.previousImage ?? targets[0];
  const location = input.scripts.get('save-artifacts');
  if (previous === undefined) {
    note('clean build: no previous image (no target)');
    return { saved: false, runs: 0 };
  }
  if (location === undefined) {
    note('clean build: the builder has no save-artifacts script');
    return { saved: false, runs: 0 };
  }
  let image;
  let opened;
  try {
    opened = sessionOf(options).openSource(previous, options.onEvent ? { onEvent: options.onEvent } : {});
    image = await resolveBase(opened.transport, opened.reference, input.platform, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    await opened?.transport.close?.();
    note(`clean build: previous image ${previous} not found (${(error as Error).message})`);
    return { saved: false, runs: 0 };
  }
  const rootfs = new StageRootfs(path.join(input.scratch, 'previous'));
  const uploadDir = path.join(input.scratch, 'previous-upload');
  try {
    await rootfs.sync(rootfsLayers(opened.transport, image.layers.map((l) => l.descriptor)), options.signal ? { signal: options.signal } : {});
    // Only the scripts that do not live in the image are uploaded (s2i does the same).
    await fs.mkdir(uploadDir);
    const uploaded = await writeUpload({ dir: uploadDir, scripts: new Map([['save-artifacts', location]]), mtime: input.created, signal: options.signal });
    const config = image.config.config ?? {};
    await saveArtifacts({
      ...common,
      // s2i runs save-artifacts with the previous image's own environment.
      env: config.Env ?? [],
      rootfs: rootfs.dir,
      script: 'save-artifacts',
      command: scriptPath(input.scripts, 'save-artifacts', common.destination),
      user: input.user ?? (config.User || undefined),
      workdir: config.WorkingDir || '/',
      uploadDir: uploaded ? uploadDir : undefined,
    }, input.file);
    return { saved: true, runs: 1 };
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_ABORTED') throw error;
    await fs.rm(input.file, { force: true });
    note(`clean build: saving the artifacts of ${previous} failed: ${(error as Error).message}`);
    return { saved: false, runs: 1 };
  } finally {
    await rootfs.remove().catch(() => {});
    await opened.transport.close?.();
  }
}
