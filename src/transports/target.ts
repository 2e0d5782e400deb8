/**
 * Target strings: `oci:PATH[:TAG]`, `docker-archive:PATH[:REF]`, `docker://REF` and bare
 * registry references, the daemons `docker-daemon:REF` and `podman:REF`, and the root
 * filesystem outputs `local:DIR` and `tar:FILE`, parsed into a {@link Target} and opened as a
 * transport.
 * @module
 */
import { InvalidArgumentError, InvalidReferenceError, UnsupportedError } from '../errors.ts';
import { parseReference, type Reference } from '../reference.ts';
import { dockerArchive, type DockerArchiveOptions } from './docker-archive.ts';
import { ociLayout, type OciLayoutOptions } from './oci-layout.ts';
import { daemonTransport, type DaemonOptions } from './daemon.ts';
import type { Transport } from './types.ts';
import type { Platform } from '../oci/types.ts';

/**
 * The kinds of place an image can be read from or written to.
 * @category Images
 */
export type TargetKind = 'oci' | 'docker-archive' | 'registry' | 'docker-daemon' | 'podman' | 'local' | 'tar';

/**
 * The target kinds that hold one platform's image (a multi-platform build gives them one platform).
 * @category Images
 */
export const SINGLE_PLATFORM_KINDS: readonly TargetKind[] = ['docker-daemon', 'podman'];

/**
 * A parsed target string.
 * @category Images
 */
export interface Target {
  /** Which transport. */
  kind: TargetKind;
  /** File-system path (`oci`, `docker-archive`, `local`, `tar`). */
  path?: string;
  /**
   * What to name the image within the target: the OCI layout tag, the docker-archive
   * `repo:tag` (or skopeo's `@N` image index when reading), the daemon image name (`app:1`, tag
   * `latest` added when none is given), or for a registry its digest if any, else its tag, else
   * `latest`. Undefined when the string names none.
   */
  reference?: string;
  /** The parsed registry reference (`registry`), the archive's `repo:tag` (`docker-archive`), or the daemon image name. */
  ref?: Reference;
  /** The string this target was parsed from. */
  input: string;
}

/**
 * The platform a single-platform target gets from a multi-platform image, and why.
 * @category Images
 */
export interface PlatformChoice {
  /** The platform written. */
  platform: Platform;
  /** A warning naming the platform loaded and those left out. */
  message: string;
}

/**
 * Options of {@link parseTarget}.
 * @category Images
 */
export interface ParseTargetOptions {
  /** Kinds accepted (default all); another kind throws `ERR_UNSUPPORTED`. */
  kinds?: readonly TargetKind[];
}

/** Transport names other tools accept that ocibuild does not (each refused with a clear message). */
const UNSUPPORTED = ['oci-archive', 'dir', 'containers-storage', 'sif', 'tarball'];

/**
 * Parses a target string. The path and the tag/reference are split at the first `:` after the
 * transport name, as skopeo does (`oci:/tmp/out:v1`, `docker-archive:x.tar:localhost:5000/app:1`).
 * Throws {@link InvalidReferenceError} for a malformed string and `ERR_UNSUPPORTED` for a
 * transport ocibuild lacks.
 * @example
 * ```ts
 * import { parseTarget } from 'ocibuild';
 *
 * const target = parseTarget('oci:/tmp/out:v1');
 * // { kind: 'oci', path: '/tmp/out', reference: 'v1', ... }
 * parseTarget('docker-archive:app.tar:app:1', { kinds: ['oci', 'registry'] }); // throws ERR_UNSUPPORTED
 * ```
 * @category Images
 */
export function parseTarget(input: string, options: ParseTargetOptions = {}): Target {
  const target = parse(input);
  if (options.kinds !== undefined && !options.kinds.includes(target.kind)) {
    throw new UnsupportedError(`${JSON.stringify(input)} is a ${target.kind} target; expected ${options.kinds.join(' or ')}`);
  }
  return target;
}

function parse(input: string): Target {
  if (input.startsWith('oci:')) {
    const { path, rest } = splitPath(input, 'oci:');
    if (rest !== undefined && (rest === '' || /[\s\u0000-\u001f]/.test(rest))) {
      throw new InvalidReferenceError(input, 'the OCI layout tag after PATH: must be non-empty without spaces');
    }
    return { kind: 'oci', path, ...(rest === undefined ? {} : { reference: rest }), input };
  }
  if (input.startsWith('docker-archive:')) {
    const { path, rest } = splitPath(input, 'docker-archive:');
    if (rest === undefined) return { kind: 'docker-archive', path, input };
    if (/^@\d+$/.test(rest)) return { kind: 'docker-archive', path, reference: rest, input };
    const ref = parseReference(rest);
    if (ref.digest !== undefined) throw new InvalidReferenceError(input, 'a docker-archive name is repo:tag, without a digest');
    return { kind: 'docker-archive', path, reference: rest, ref, input };
  }
  for (const kind of ['docker-daemon', 'podman'] as const) {
    if (input.startsWith(`${kind}:`)) return daemonTarget(kind, input);
  }
  for (const kind of ['local', 'tar'] as const) {
    if (input.startsWith(`${kind}:`)) {
      const path = input.slice(kind.length + 1);
      if (path === '') throw new InvalidReferenceError(input, `${kind}:${kind === 'local' ? 'DIR' : 'FILE'} needs a path`);
      return { kind, path, input };
    }
  }
  const scheme = /^([a-z][a-z-]*):(?!\d)/.exec(input);
  if (scheme !== null && scheme[1] !== 'docker' && UNSUPPORTED.includes(scheme[1] as string)) {
    throw new UnsupportedError(`${JSON.stringify(input)}: the ${scheme[1]} transport is not supported; use oci:, docker-archive:, docker-daemon:, podman:, local:, tar: or a registry reference`);
  }
  if (input.startsWith('docker:') && !input.startsWith('docker://')) {
    throw new InvalidReferenceError(input, 'a registry target is written docker://REF');
  }
  const ref = parseReference(input.startsWith('docker://') ? input.slice('docker://'.length) : input);
  return { kind: 'registry', reference: ref.tagOrDigest, ref, input };
}

/** `docker-daemon:NAME[:TAG]` or `podman:NAME[:TAG]`: an image name as `docker load` tags it. */
function daemonTarget(kind: 'docker-daemon' | 'podman', input: string): Target {
  const body = input.slice(kind.length + 1);
  if (body === '') throw new InvalidReferenceError(input, `${kind}:NAME needs an image name`);
  const ref = parseReference(body);
  if (ref.digest !== undefined) throw new InvalidReferenceError(input, `a ${kind} image is named NAME[:TAG], without a digest`);
  const named = ref.tag === undefined ? ref.withTag('latest') : ref;
  return { kind, reference: named.familiar(), ref: named, input };
}

function splitPath(input: string, prefix: string): { path: string; rest: string | undefined } {
  const body = input.slice(prefix.length);
  const colon = body.indexOf(':');
  const path = colon < 0 ? body : body.slice(0, colon);
  if (path === '') throw new InvalidReferenceError(input, `${prefix}PATH needs a path`);
  return { path, rest: colon < 0 ? undefined : body.slice(colon + 1) };
}

/** Options of {@link openTarget}. */
export interface OpenTargetOptions {
  /** Creates the registry transport for a reference (the registry client is not imported here). */
  registry?: (ref: Reference) => Transport;
  /** Options for OCI layouts. */
  ociLayout?: OciLayoutOptions;
  /** Options for docker archives. */
  dockerArchive?: DockerArchiveOptions;
  /** Options for `docker-daemon:` and `podman:` targets. */
  daemon?: DaemonOptions;
  /**
   * Creates the transport of a `local:` or `tar:` target (the root filesystem writer lives above
   * the transports: it unpacks layers with the sandbox's extractor).
   */
  rootfs?: (target: Target) => Transport;
}

/** Opens the transport a target names. A registry target needs `options.registry`, a `local:`/`tar:` one `options.rootfs`. */
export function openTarget(target: Target, options: OpenTargetOptions = {}): Transport {
  switch (target.kind) {
    case 'oci':
      return ociLayout(target.path as string, options.ociLayout);
    case 'docker-archive':
      return dockerArchive(target.path as string, options.dockerArchive);
    case 'registry':
      if (options.registry === undefined || target.ref === undefined) {
        throw new InvalidArgumentError(`${JSON.stringify(target.input)}: no registry transport factory was given`);
      }
      return options.registry(target.ref);
    case 'docker-daemon':
      return daemonTransport('docker', target.reference as string, options.daemon);
    case 'podman':
      return daemonTransport('podman', target.reference as string, options.daemon);
    case 'local':
    case 'tar':
      if (options.rootfs === undefined) throw new InvalidArgumentError(`${JSON.stringify(target.input)}: no root filesystem writer was given`);
      return options.rootfs(target);
  }
}
