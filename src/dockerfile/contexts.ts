/**
 * Named build contexts, as buildx's `--build-context name=VALUE` gives them to BuildKit: a
 * local directory, an OCI layout (`oci-layout://PATH[:TAG]`) or an image
 * (`docker-image://REF`), used by `FROM name`, `COPY --from=name` and `RUN --mount=from=name`; a
 * context named like a stage replaces the stage (stages.ts). Image references are matched in their familiar
 * form (`docker.io/library/alpine:latest` is `alpine`), as BuildKit's dockerui does.
 * Pure: no I/O.
 * @module
 */

import * as path from 'node:path';
import { InvalidArgumentError, UnsupportedError } from '../errors.ts';

/** What a named context provides. */
export type NamedContext =
  | {
      /** A local directory whose files are read like the build context's (without `.dockerignore`). */
      kind: 'dir';
      /** Absolute directory. */
      dir: string;
    }
  | {
      /** An image, by an ocibuild source string (`oci:PATH:TAG` or a registry reference). */
      kind: 'image';
      /** The source string to open. */
      reference: string;
    };

/**
 * Parses one context value: `docker-image://REF`, `oci-layout://PATH[:TAG]` (`:latest` when no
 * tag), or a directory (relative to `baseDir`). Git and HTTP contexts are refused with
 * {@link UnsupportedError}; an empty value with `ERR_INVALID_ARGUMENT`.
 */
export function parseNamedContext(value: string, baseDir: string = process.cwd()): NamedContext {
  if (value === '') throw new InvalidArgumentError('a named build context needs a value');
  if (value.startsWith('docker-image://')) {
    const reference = value.slice('docker-image://'.length);
    if (reference === '') throw new InvalidArgumentError(`invalid build context ${JSON.stringify(value)}: no image reference`);
    return { kind: 'image', reference };
  }
  if (value.startsWith('oci-layout://')) {
    const rest = value.slice('oci-layout://'.length);
    // PATH:TAG, PATH@DIGEST or PATH; a colon inside the last path component separates the tag.
    const at = rest.lastIndexOf('@');
    const slash = rest.lastIndexOf('/');
    let layout = rest;
    let ref = 'latest';
    if (at > slash) {
      layout = rest.slice(0, at);
      ref = rest.slice(at + 1);
    } else {
      const colon = rest.lastIndexOf(':');
      if (colon > slash) {
        layout = rest.slice(0, colon);
        ref = rest.slice(colon + 1);
      }
    }
    if (layout === '' || ref === '') throw new InvalidArgumentError(`invalid build context ${JSON.stringify(value)}`);
    return { kind: 'image', reference: `oci:${path.resolve(baseDir, layout)}:${ref}` };
  }
  if (/^(https?|git|ssh):\/\//.test(value) || /^git@/.test(value)) {
    throw new UnsupportedError(`build context ${JSON.stringify(value)}: only directories, oci-layout:// and docker-image:// contexts are supported`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new InvalidArgumentError(`unknown build context type in ${JSON.stringify(value)}`);
  return { kind: 'dir', dir: path.resolve(baseDir, value) };
}

/** The familiar form of a name: lower-cased, without `docker.io/`, `library/` and a `:latest` tag. */
export function namedContextKey(name: string): string {
  let key = name.toLowerCase();
  key = key.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  key = key.replace(/^library\/(?=[^/]+$)/, '');
  if (!key.includes('@')) key = key.replace(/:latest$/, '');
  return key;
}

/** Looks a name up among `contexts` (keys compared in their familiar form). */
export function lookupNamedContext(contexts: ReadonlyMap<string, NamedContext> | undefined, name: string): NamedContext | undefined {
  if (contexts === undefined || contexts.size === 0) return undefined;
  const wanted = namedContextKey(name);
  for (const [key, value] of contexts) if (namedContextKey(key) === wanted) return value;
  return undefined;
}
