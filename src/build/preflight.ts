/**
 * Checks made on a build's file targets before any work starts, and the wording of a target
 * that failed while being written: both name the target as the user wrote it, never the
 * temporary file or staging folder behind it.
 * @module
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OcibuildError, RegistryError } from '../errors.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { Target } from '../transports/target.ts';
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

/**
 * Throws `ERR_TRANSPORT` naming `target.input` when a file target cannot be written: a
 * `docker-archive:` whose path is a folder, an `oci:` whose path is a file, or a location whose
 * nearest existing folder the process may not write to (new layouts and tarballs are staged next
 * to the target, then renamed). Registry targets are not checked here.
 */
export async function assertTargetWritable(target: Target): Promise<void> {
  if (target.kind === 'registry' || target.path === undefined) return;
  const path = resolve(target.path);
  const fail = (reason: string, cause?: unknown): never => {
    throw new OcibuildError('ERR_TRANSPORT', `cannot write ${target.input}: ${reason}`, cause === undefined ? {} : { cause });
  };
  try {
    const own = await statOrUndefined(path);
    if (own !== undefined) {
      if (target.kind === 'docker-archive' && own.isDirectory()) fail('the path is a folder; a docker-archive is a file');
      if (target.kind === 'oci' && !own.isDirectory()) fail('the path is a file; an OCI layout is a folder');
    }
    // An existing layout takes blobs inside it; anything else is staged in the parent folder.
    const folder = own !== undefined && target.kind === 'oci' ? { path, isDirectory: true } : await nearestAncestor(path);
    if (!folder.isDirectory) fail(`${folder.path} is not a folder`);
    try {
      await access(folder.path, constants.W_OK | constants.X_OK);
    } catch (error) {
      fail(`${describeFsError(error)} in ${folder.path}`, error);
    }
  } catch (error) {
    if (error instanceof OcibuildError) throw error;
    fail(describeFsError(error), error);
  }
}

/**
 * Throws `ERR_IO` naming `label` (`digestFile /out/digest`) when `file` cannot be written: it is a
 * folder, or the nearest existing folder above it is not writable. Checked before work so that a
 * build does not fail at its very end over a typo in an output path.
 */
export async function assertFileWritable(file: string, label: string): Promise<void> {
  const path = resolve(file);
  const fail = (reason: string, cause?: unknown): never => {
    throw new OcibuildError('ERR_IO', `cannot write ${label}: ${reason}`, cause === undefined ? {} : { cause });
  };
  try {
    if ((await statOrUndefined(path))?.isDirectory()) fail('the path is a folder');
    const folder = await nearestAncestor(path);
    if (!folder.isDirectory) fail(`${folder.path} is not a folder`);
    try {
      await access(folder.path, constants.W_OK | constants.X_OK);
    } catch (error) {
      fail(`${describeFsError(error)} in ${folder.path}`, error);
    }
  } catch (error) {
    if (error instanceof OcibuildError) throw error;
    fail(describeFsError(error), error);
  }
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
