/**
 * Images over transports: the copier, the in-memory source, and verified streaming.
 * @module
 */
export { copyImage } from './copy.ts';
export type { BlobOriginLookup, CopyEvent, CopyEventType, CopyOptions, CopyResult, IndexCapability } from './copy.ts';
export { artifactTypeOf } from './kinds.ts';
export { memorySource } from './memory.ts';
export type { MemoryBlobOrigin, MemorySource, MemorySourceOptions } from './memory.ts';
export { digestStream, hashFactoryFor, readAll, readVerified, VerifiedStream, verifyStream } from './verify.ts';
export type { VerifyTarget } from './verify.ts';
