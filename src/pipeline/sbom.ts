/**
 * The build's SBOM writer: the packages the caller gives (the Node preset's lockfile) or those
 * found by scanning the image's package databases, written in the format asked for.
 * @module
 */
import { createRequire } from 'node:module';
import { scanImage } from '../supply/scan.ts';
import { sbomDocument } from '../supply/sbom.ts';
import type { BuildOptions } from './index.ts';
import type { SbomWriter } from './attestations.ts';

let version: string | undefined;

/** This ocibuild's version (package.json), recorded as the SBOM's and provenance's tool version. */
export function ocibuildVersion(): string {
  if (version === undefined) {
    try {
      version = (createRequire(import.meta.url)('../../package.json') as { version?: string }).version ?? '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

/** The SBOM writer of a build, or undefined when it asks for no SBOM. */
export function sbomWriter(options: BuildOptions): SbomWriter | undefined {
  if (options.sbom === undefined || options.sbom === false) return undefined;
  return async (image, _platform, format, created, name) => {
    const packages =
      options.sbomPackages ??
      (await scanImage(image, { signal: options.signal, layerLimits: options.layerLimits }));
    return sbomDocument(format, { subject: { name, digest: image.descriptor.digest }, packages, created, tool: { name: 'ocibuild', version: ocibuildVersion() } });
  };
}
