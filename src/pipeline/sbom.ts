/**
 * The build's SBOM writer: the packages given by the caller (the Node preset's lockfile) or
 * found by scanning the image, written in the format asked for.
 * @module
 */
import { UnsupportedError } from '../errors.ts';
import type { BuildOptions } from './index.ts';
import type { SbomWriter } from './attestations.ts';

/** The SBOM writer of a build, or undefined when it asks for no SBOM. */
export function sbomWriter(options: BuildOptions): SbomWriter | undefined {
  if (options.sbom === undefined || options.sbom === false) return undefined;
  return async () => {
    throw new UnsupportedError('SBOM generation is not wired in yet');
  };
}
