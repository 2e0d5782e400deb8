/**
 * The local cache: content-addressed blobs, base manifests, computed layers keyed by their
 * inputs, a read-through wrapper for base images, and the warmer.
 * @module
 */
export { defaultCacheDir, openCache } from './store.ts';
export type { CacheOptions, CachedLayerRecord, LocalCache } from './store.ts';
export { encoderIdentity, layerCacheKey, LayerKeyBuilder, LAYER_KEY_VERSION } from './key.ts';
export type { KeyedEntry, LayerWriterSettings } from './key.ts';
export { cachedWriteLayer } from './layers.ts';
export type { CachedLayerResult, CachedWriteLayerOptions } from './layers.ts';
export { cachedSource } from './source.ts';
export type { CachedSourceOptions } from './source.ts';
export { warmCache } from './warm.ts';
export type { WarmCacheOptions, WarmResult } from './warm.ts';
export { stepKey, rootKey, explainMiss, STEP_KEY_VERSION } from './steps-key.ts';
export type { StepInputs, RootKeyInputs } from './steps-key.ts';
export { checkStepRecord, parseTtl, STEP_RECORD_SCHEMA } from './steps-record.ts';
export type { StepLayer, StepRecord } from './steps-record.ts';
export type { StepCacheSettings, StepReport } from './steps.ts';
export { registryStepCache, stepTag, STEP_ARTIFACT_TYPE, CONFIG_ARTIFACT_TYPE } from './registry-cache.ts';
export type { RegistryLookup, RegistryStepCache } from './registry-cache.ts';
