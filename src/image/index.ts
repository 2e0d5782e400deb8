/**
 * Images over transports: the image model (`Image`, `Layer`, `PlatformIndex`, read with
 * `openImage`, changed with pure functions), the copier, the in-memory source, and verified streaming.
 * @module
 */
export { copyImage, MAX_REFERRER_DEPTH, MAX_REFERRERS_COPIED } from './copy.ts';
export type { BlobOriginLookup, CopyEvent, CopyEventType, CopyOptions, CopyResult, IndexCapability, ReferrerHooks } from './copy.ts';
export { artifactTypeOf } from './kinds.ts';
export { memorySource } from './memory.ts';
export type { MemoryBlobOrigin, MemorySource, MemorySourceOptions } from './memory.ts';
export { digestStream, hashFactoryFor, readAll, readVerified, VerifiedStream, verifyStream } from './verify.ts';
export type { VerifyTarget } from './verify.ts';
export { descriptorOf } from './model.ts';
export type { Image, Layer, LayerOpenOptions, LayerOrigin, PlatformIndex } from './model.ts';
export { builtLayer, configPlatform, imagePlatforms, openImage, openIndex, openManifest, openReference, sourceLayer } from './open.ts';
export type { ImageSource, OpenImageOptions, OpenedReference } from './open.ts';
export { appendLayers, appendSteps, emptyConfig, emptyImage, layerMediaTypeFor, newImage, withAnnotations, withConfig, withPlatform } from './mutate.ts';
export type { AddendumLayer, BuildStep, ConfigStep, ImageFormat, LayerStep } from './mutate.ts';
