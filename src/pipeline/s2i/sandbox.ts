/**
 * Running s2i scripts in a builder's root filesystem through the RUN executor: the builder's
 * layers materialised as a RUN step's rootfs, then (like s2i's `tar -C DESTINATION -xf -`) the
 * upload — `src/`, uploaded `scripts/`, and `artifacts/` — extracted by the script's user so it
 * owns what it gets, then the script itself. The upload directory is bind-mounted read-only;
 * the executor removes the mount point, so it never reaches a layer.
 * @module
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import { layerTar, type LayerRef } from '../../dockerfile/interpret-fs.ts';
import type { Descriptor } from '../../oci/types.ts';
import type { Transport } from '../../transports/types.ts';
import type { RootfsLayer } from '../../run/rootfs.ts';
import type { Executor, Mount, NetworkMode, OutputSink } from '../../run/types.ts';
import { S2iError } from './errors.ts';

/** Where the upload directory appears inside the sandbox. */
export const UPLOAD_MOUNT = '/.ocibuild-s2i-upload';

/** The layers of an image as a rootfs wants them. */
export function rootfsLayers(transport: Transport, layers: readonly Descriptor[]): RootfsLayer[] {
  return layers.map((descriptor) => {
    const ref: LayerRef = { key: descriptor.digest, mediaType: descriptor.mediaType, descriptor, open: () => transport.getBlob(descriptor) };
    return { key: descriptor.digest, tar: () => layerTar(ref) };
  });
}

/** One script run. */
export interface ScriptRun {
  /** The executor. */
  executor: Executor;
  /** Host directory of the materialised rootfs. */
  rootfs: string;
  /** The script's s2i name, for messages. */
  script: string;
  /** The command inside the container (the script's path). */
  command: string;
  /** User to run as (and to extract the upload as). Default root. */
  user?: string | undefined;
  /** `KEY=value` environment. */
  env: string[];
  /** Working directory inside the container. */
  workdir: string;
  /** Where uploads go (`-d`). */
  destination: string;
  /** Host directory holding `upload.tar` (to DESTINATION), `artifacts.tar` (to DESTINATION/artifacts), `runtime.tar` (to the working directory), each optional; undefined: nothing to upload. */
  uploadDir?: string | undefined;
  /** Extra mounts of the script itself (not of the upload step). */
  mounts?: Mount[] | undefined;
  /** Network mode. */
  network?: NetworkMode | undefined;
  /** Aborts the run. */
  signal?: AbortSignal | undefined;
  /** Called just before the script itself starts. */
  onStart?: ((script: string) => void) | undefined;
  /** Receives stdout. */
  stdout?: OutputSink | undefined;
  /** Receives stderr. */
  stderr?: OutputSink | undefined;
}

function fail(script: string, exitCode: number, stderrTail: string, what = `script ${JSON.stringify(script)}`): never {
  const tail = stderrTail.trim().split('\n').slice(-5).join('\n');
  throw new S2iError('ERR_RUN', `s2i: ${what} failed: exit code ${exitCode}${tail ? `\n${tail}` : ''}`, { script, exitCode });
}

/** Extracts the upload (if any) as the script's user, then runs the script. Throws an {@link S2iError} naming the step and its exit code. */
export async function runScript(run: ScriptRun): Promise<void> {
  const common = {
    rootfs: run.rootfs,
    env: run.env,
    workdir: run.workdir,
    user: run.user,
    network: run.network,
    signal: run.signal,
    stderr: run.stderr,
  };
  if (run.uploadDir !== undefined) {
    const has = async (name: string): Promise<boolean> => fs.access(path.join(run.uploadDir as string, name)).then(() => true, () => false);
    // s2i streams one tar into `tar -C DESTINATION -xf -` run by the build's user; artifacts of
    // an incremental build go under DESTINATION/artifacts, runtime artifacts into WORKDIR.
    const steps = [
      ...((await has('upload.tar')) ? [`tar -C "$1" -xf ${UPLOAD_MOUNT}/upload.tar`] : []),
      ...((await has('artifacts.tar')) ? [`mkdir -p "$1/artifacts"`, `tar -C "$1/artifacts" -xf ${UPLOAD_MOUNT}/artifacts.tar`] : []),
      ...((await has('runtime.tar')) ? [`mkdir -p "$2"`, `tar -C "$2" -xf ${UPLOAD_MOUNT}/runtime.tar`] : []),
    ];
    const script = steps.join(' && ');
    const result = steps.length === 0 ? { exitCode: 0, stderrTail: '' } : await run.executor.run({
      ...common,
      argv: ['/bin/sh', '-c', script, 'sh', run.destination, run.workdir],
      mounts: [{ type: 'bind', source: run.uploadDir, target: UPLOAD_MOUNT, readonly: true }],
      stdout: run.stdout,
    });
    if (result.exitCode !== 0) fail(run.script, result.exitCode, result.stderrTail, `placing the sources and scripts in ${run.destination} (needs /bin/sh and tar in the builder, and ${run.destination} writable by its user)`);
  }
  run.onStart?.(run.script);
  const result = await run.executor.run({
    ...common,
    argv: [run.command],
    ...(run.mounts && run.mounts.length > 0 ? { mounts: run.mounts } : {}),
    stdout: run.stdout,
  });
  if (result.exitCode !== 0) fail(run.script, result.exitCode, result.stderrTail, `${run.script} (${run.command})`);
}

/** Runs `save-artifacts`, writing its stdout (a tar stream) to `file`. */
export async function saveArtifacts(run: Omit<ScriptRun, 'stdout'>, file: string): Promise<void> {
  const out = createWriteStream(file);
  try {
    await runScript({ ...run, stdout: (chunk) => out.write(chunk) });
  } finally {
    out.end();
    await finished(out).catch(() => {});
  }
}
