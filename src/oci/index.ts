/**
 * The OCI model: types, media types, digests, canonical JSON, platforms, manifests and configs.
 * Pure data and functions; nothing here does I/O.
 * @module
 */
export type * from './types.ts';
export * from './mediatypes.ts';
export * from './digest.ts';
export * from './json.ts';
export * from './platform.ts';
export * from './manifest.ts';
export * from './config.ts';
