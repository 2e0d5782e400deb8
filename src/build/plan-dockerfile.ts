/**
 * The plan of a Dockerfile build for one platform.
 * @module
 */
import { UnsupportedError } from '../errors.ts';
import type { Platform } from '../oci/types.ts';
import type { BuildOptions } from './index.ts';
import type { PlanContext, PlatformPlan } from './plan-files.ts';

/** Interprets the Dockerfile for `platform`. */
export async function planDockerfile(_options: BuildOptions, _platform: Platform, _context: PlanContext): Promise<PlatformPlan> {
  throw new UnsupportedError('Dockerfile builds are not implemented yet');
}
