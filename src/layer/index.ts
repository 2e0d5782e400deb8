/**
 * Layers: reproducible tar writing from a {@link LayerSpec}, entry listing, globs and paths.
 * @module
 */
export type {
  BuiltLayer,
  DirectorySource,
  EntryMetadata,
  LayerEntry,
  LayerEvent,
  LayerSpec,
  ResolvedEntryType,
  ResolvedLayerEntry,
} from './types.ts';
export { writeLayer, tarStream } from './write.ts';
export type { TarStats, WriteLayerOptions } from './write.ts';
export { DEFAULT_MTIME, listLayerEntries, sourceDateEpochFromEnv } from './entries.ts';
export type { ListLayerEntriesOptions } from './entries.ts';
export { compileGlob, matchesAny } from './glob.ts';
export type { GlobMatcher } from './glob.ts';
export { normalizeLayerPath } from './paths.ts';
export { encodeHeader, tarName } from './tar.ts';
export { DEFAULT_TAR_LIMITS, guardTarStream } from './tar-guard.ts';
export type { GuardTarOptions, TarLimits } from './tar-guard.ts';
