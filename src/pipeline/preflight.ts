/**
 * Checks made on a build's file targets before any work starts, and the wording of a target
 * that failed while being written: both name the target as the user wrote it, never the
 * temporary file or staging folder behind it.
 * @module
 */
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OcibuildError, RegistryError, type ErrorCode } from '../errors.ts';
import type { RegistryClient } from '../registry/client.ts';
import { openTarget, type Target } from '../transports/target.ts';
import type { DaemonTransport } from '../transports/daemon.ts';
import { describeFsError } from '../blob/files.ts';

export { describeFsError };

async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The nearest existing ancestor of `path` (itself excluded) and whether it is a folder. */
async function nearestAncestor(path: string): Promise<{ path: string; isDirectory: boolean }> {
  let current = dirname(path);
  for (;;) {
    const info = await statOrUndefined(current);
    if (info !== undefined) return { path: current, isDirectory: info.isDirectory() };
    const up = dirname(current);
    if (up === current) return { path: current, isDirectory: true };
    current = up;
  }
}

/** Throws the error of a failed check; `cause` is the file-system error behind it, if any. */
type Fail = (reason: string, cause?: unknown) => never;

/**
 * Runs `check` with a {@link Fail} that throws `code` with the message `cannot write LABEL:
 * REASON`; any other error `check` meets (a file-system one) is reported the same way.
 */
async function checkWritable(code: ErrorCode, label: string, check: (fail: Fail) => Promise<void>): Promise<void> {
  const fail: Fail = (reason, cause) => {
    throw new OcibuildError(code, `cannot write ${label}: ${reason}`, cause === undefined ? {} : { cause });
  };
  try {
    await check(fail);
  } catch (error) {
    if (error instanceof OcibuildError) throw error;
    fail(describeFsError(error), error);
  }
}

/** Fails unless `folder` is a folder in which this process may create entries. */
async function checkFolderWritable(folder: { path: string; isDirectory: boolean }, fail: Fail): Promise<void> {
  if (!folder.isDirectory) fail(`${folder.path} is not a folder`);
  try {
    await access(folder.path, constants.W_OK | constants.X_OK);
  } catch (error) {
    fail(`${describeFsError(error)} in ${folder.path}`, error);
  }
}

/**
 * Throws `ERR_TRANSPORT` naming `target.input` when a file target cannot be written: a
 * `docker-archive:` whose path is a folder, an `oci:` whose path is a file, or a location whose
 * nearest existing folder the process may not write to (new layouts and tarballs are staged next
 * to the target, then renamed). A `docker-daemon:` or `podman:` target's daemon must answer
 * (the daemon client's typed errors: no daemon, permission denied, timeout). Registry targets are
 * not checked here.
 */
export async function assertTargetWritable(target: Target): Promise<void> {
  if (target.kind === 'docker-daemon' || target.kind === 'podman') {
    // A daemon that is not there fails the build before any work, as a missing folder does.
    const daemon = openTarget(target) as DaemonTransport;
    try {
      await daemon.ping();
    } finally {
      await daemon.close();
    }
    return;
  }
  if (target.kind === 'registry' || target.path === undefined) return;
  const path = resolve(target.path);
  await checkWritable('ERR_TRANSPORT', target.input, async (fail) => {
    const own = await statOrUndefined(path);
    if (own !== undefined) {
      if ((target.kind === 'docker-archive' || target.kind === 'tar') && own.isDirectory()) fail(`the path is a folder; a ${target.kind} output is a file`);
      if (target.kind === 'local' && (!own.isDirectory() || (await readdir(path)).length > 0)) fail('the path must be absent or an empty folder (nothing is overwritten)');
      if (target.kind === 'oci' && !own.isDirectory()) fail('the path is a file; an OCI layout is a folder');
    }
    // An existing layout takes blobs inside it; anything else is staged in the parent folder.
    await checkFolderWritable(own !== undefined && target.kind === 'oci' ? { path, isDirectory: true } : await nearestAncestor(path), fail);
  });
}

/**
 * Throws `ERR_IO` naming `label` (`digestFile /out/digest`) when `file` cannot be written: it is a
 * folder, or the nearest existing folder above it is not writable. Checked before work so that a
 * build does not fail at its very end over a typo in an output path.
 */
export async function assertFileWritable(file: string, label: string): Promise<void> {
  const path = resolve(file);
  await checkWritable('ERR_IO', label, async (fail) => {
    if ((await statOrUndefined(path))?.isDirectory()) fail('the path is a folder');
    await checkFolderWritable(await nearestAncestor(path), fail);
  });
}

/**
 * The error a target's write failed with, as the build reports it: typed errors keep their code
 * (and their class); anything else becomes `ERR_TRANSPORT`. The message names the target as
 * written, with the original as `cause`.
 */
export function targetFailure(target: string, error: unknown): OcibuildError {
  // A plain OcibuildError that names the resolved path only is re-worded to name the target as
  // written (same code); subclasses keep their class, which callers may test with instanceof.
  if (error instanceof OcibuildError && error.constructor === OcibuildError && !error.message.includes(target) && error.code !== 'ERR_ABORTED') {
    return new OcibuildError(error.code, `cannot write ${target}: ${error.message}`, { cause: error });
  }
  if (error instanceof OcibuildError) return error;
  return new OcibuildError('ERR_TRANSPORT', `cannot write ${target}: ${describeFsError(error)}`, { cause: error });
}

/**
 * Checks a registry target before work starts: the registry answers `/v2/`, and the target's
 * tag can be looked up with the credentials at hand (a refused login fails here rather than
 * after the build). Registry errors keep their class and code; the message names the target.
 */
export async function assertRegistryReachable(target: Target, client: RegistryClient, signal: AbortSignal | undefined): Promise<void> {
  if (target.kind !== 'registry' || target.ref === undefined) return;
  const ref = target.ref;
  const options = signal === undefined ? {} : { signal };
  try {
    await client.ping(ref.registry, options);
    await client.headManifest({ registry: ref.registry, repository: ref.repository }, ref.digest ?? ref.tag ?? 'latest', options);
  } catch (error) {
    if (error instanceof RegistryError) {
      throw new RegistryError(error.code, `cannot write ${target.input}: ${error.message}`, {
        cause: error,
        ...(error.status === undefined ? {} : { status: error.status }),
        registryCodes: error.registryCodes,
        ...(error.url === undefined ? {} : { url: error.url }),
      });
    }
    throw targetFailure(target.input, error);
  }
}
