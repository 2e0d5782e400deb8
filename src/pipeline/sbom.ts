/**
 * The build's SBOM writer: the packages the caller gives (the Node preset's lockfile) or those
 * found by scanning the image's package databases, written in the format asked for.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanImage } from '../supply/scan.ts';
import { sbomDocument } from '../supply/sbom.ts';
import type { BuildOptions } from './index.ts';
import type { SbomWriter } from './attestations.ts';

let version: string | undefined;

/**
 * This ocibuild's version (package.json), recorded as the SBOM's and provenance's tool version.
 * The package.json is found by walking up from this module's file, since where the module sits
 * depends on the build: `src/pipeline/`, `dist/pipeline/` (tsc) or `dist/cli/chunks/` (the
 * bundled CLI). '0.0.0' when none named `ocibuild` is found within a few levels.
 */
export function ocibuildVersion(): string {
  version ??= findOwnVersion(path.dirname(fileURLToPath(import.meta.url)));
  return version;
}

/** The version in the nearest `package.json` named `ocibuild` above `dir` (at most 5 levels up). */
export function findOwnVersion(dir: string): string {
  for (let level = 0, at = dir; level <= 5; level++, at = path.dirname(at)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(at, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ocibuild' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No (readable) package.json here: look further up.
    }
    if (path.dirname(at) === at) break;
  }
  return '0.0.0';
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
