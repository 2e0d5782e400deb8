/**
 * Source-to-image builds: `buildImage({ s2i })` and {@link runS2iUsage}.
 * @module
 */
export type { S2iOptions } from './types.ts';
export { S2iError, type S2iErrorOptions } from './errors.ts';
export { runS2iUsage, type S2iUsageOptions } from './usage.ts';
