/**
 * Normalisation of paths inside an image (pure, no I/O).
 * @module
 */
import { InvalidArgumentError, OcibuildError } from '../errors.ts';

/**
 * Normalises a path inside the image to the form stored in layers: relative, POSIX separators,
 * no `.`/`..`/empty segments, no leading `/` or `./`, no trailing `/`. The root is `''`.
 * Throws `ERR_PATH_ESCAPE` when `..` would climb above the root (`../x`, `a/../../x`), and
 * `ERR_INVALID_ARGUMENT` for a NUL byte.
 */
export function normalizeLayerPath(input: string): string {
  if (input.includes('\0')) {
    throw new InvalidArgumentError(`layer path ${JSON.stringify(input)} contains a NUL byte`);
  }
  const out: string[] = [];
  for (const segment of input.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      // Unlike path.posix.normalize on an absolute path, `..` at the root is an error, not a no-op:
      // a spec that says `../x` almost certainly means a host path by mistake.
      if (out.length === 0) {
        throw new OcibuildError('ERR_PATH_ESCAPE', `layer path ${JSON.stringify(input)} escapes the image root`);
      }
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return out.join('/');
}

/** Joins normalised layer paths (either may be the root `''`). */
export function joinLayerPath(parent: string, child: string): string {
  if (parent === '') return child;
  if (child === '') return parent;
  return `${parent}/${child}`;
}

/** Returns the parent of a normalised path (`''` for top-level paths). */
export function parentLayerPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** Returns the last segment of a normalised path. */
export function baseLayerName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
