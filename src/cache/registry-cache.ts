/**
 * The registry cache repository (`cache.repo`, `--cache-repo`): each Dockerfile step result is
 * a small OCI artifact tagged with its key (64 hex digits is a valid tag): the config blob is
 * the step record JSON, the one layer is the step's layer blob (or the empty descriptor). A
 * lookup is one manifest GET by tag, then the record GET and a layer HEAD in parallel. Final
 * image configs are kept too (tagged `config-HEX`), so a build on another machine can mount
 * every blob of its result from here instead of uploading it.
 * @module
 */
import { InvalidArgumentError, RegistryError } from '../errors.ts';
import { canonicalJson } from '../oci/json.ts';
import { encodeManifest, parseManifest } from '../oci/manifest.ts';
import { EMPTY_JSON_DIGEST, OCI_EMPTY, OCI_MANIFEST } from '../oci/mediatypes.ts';
import type { Descriptor, ImageManifest } from '../oci/types.ts';
import { hashBytes } from '../hash/index.ts';
import { readAll } from '../blob/verify.ts';
import { parseReference } from '../reference.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { BlobBody, BlobOrigin } from '../transports/types.ts';
import { checkStepRecord, type StepRecord } from './steps-record.ts';

/** `artifactType` (and config media type) of a step artifact. */
export const STEP_ARTIFACT_TYPE = 'application/vnd.ocibuild.cache.step.v1+json';
/** `artifactType` of an artifact holding a built image's config blob. */
export const CONFIG_ARTIFACT_TYPE = 'application/vnd.ocibuild.cache.config.v1+json';

const EMPTY_BYTES = new TextEncoder().encode('{}');
const EMPTY: Descriptor = { mediaType: OCI_EMPTY, digest: EMPTY_JSON_DIGEST, size: 2 };

/** What a registry lookup found. */
export type RegistryLookup = { record: StepRecord } | { miss: string };

/** A cache repository in a registry. */
export interface RegistryStepCache {
  /** `registry/repository`, for messages and records. */
  readonly name: string;
  /** Where its blobs can be mounted from. */
  readonly origin: BlobOrigin;
  /**
   * Looks `key` up: the record (verified against its digest, checked to be for `key`) and,
   * when it has a layer, a HEAD showing the blob is still there. Never throws for a bad or
   * missing entry: that is a miss with a reason. Throws only on abort.
   */
  lookup(key: string, options?: { signal?: AbortSignal }): Promise<RegistryLookup>;
  /** Pushes a step record and its layer (blob first, then record, then the tagged manifest). */
  push(record: StepRecord, layerBody: BlobBody | undefined, options?: { signal?: AbortSignal }): Promise<void>;
  /** Streams a layer blob of the cache repo, verified. */
  getBlob(descriptor: Descriptor, options?: { signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>>;
  /** Stores an image config blob (tagged `config-HEX` so registry garbage collection keeps it). */
  pushConfig(descriptor: Descriptor, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>;
}

/** The tag a step key is stored under. */
export function stepTag(key: string): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new InvalidArgumentError(`step key must be 64 hex digits, got ${JSON.stringify(key)}`);
  return key;
}

function signalOf(options: { signal?: AbortSignal } | undefined): { signal?: AbortSignal } {
  return options?.signal ? { signal: options.signal } : {};
}

/** Opens the cache repository `reference` (`host/repo`; a tag or digest is ignored) over `client`. */
export function registryStepCache(reference: string, client: RegistryClient): RegistryStepCache {
  const ref = parseReference(reference);
  const repo: BlobOrigin = { registry: ref.registry, repository: ref.repository };
  const name = `${repo.registry}/${repo.repository}`;

  async function ensureBlob(descriptor: Descriptor, body: BlobBody | Uint8Array, signal: { signal?: AbortSignal }): Promise<void> {
    if (await client.hasBlob(repo, descriptor.digest, signal)) return;
    await client.putBlob(repo, descriptor, body, signal);
  }

  async function lookup(key: string, options?: { signal?: AbortSignal }): Promise<RegistryLookup> {
    const signal = signalOf(options);
    let manifest: ImageManifest;
    try {
      const raw = await client.getManifest(repo, stepTag(key), signal);
      const parsed = parseManifest(raw);
      if (parsed.kind !== 'manifest') return { miss: `${name}:${key} is not a step artifact` };
      manifest = parsed.manifest;
    } catch (error) {
      if (options?.signal?.aborted) throw error;
      if (error instanceof RegistryError && error.code === 'ERR_REGISTRY_NOT_FOUND') return { miss: 'no record for key' };
      return { miss: `cache repo lookup failed: ${(error as Error).message}` };
    }
    if (manifest.artifactType !== STEP_ARTIFACT_TYPE || manifest.config.mediaType !== STEP_ARTIFACT_TYPE || manifest.layers.length !== 1) {
      return { miss: `${name}:${key} is not a step artifact` };
    }
    const layer = manifest.layers[0] as Descriptor;
    try {
      const [bytes, present] = await Promise.all([
        client.getBlob(repo, manifest.config, signal).then(readAll),
        layer.digest === EMPTY_JSON_DIGEST ? Promise.resolve(true) : client.hasBlob(repo, layer.digest, signal),
      ]);
      const record: unknown = JSON.parse(new TextDecoder().decode(bytes));
      checkStepRecord(record, key, `${name}:${key}`);
      if (record.layer === undefined ? layer.digest !== EMPTY_JSON_DIGEST : record.layer.descriptor.digest !== layer.digest || record.layer.descriptor.size !== layer.size) {
        return { miss: `${name}:${key}: record and manifest disagree on the layer` };
      }
      if (!present) return { miss: `${name}:${key}: layer blob ${layer.digest} is missing` };
      return { record };
    } catch (error) {
      if (options?.signal?.aborted) throw error;
      return { miss: `${name}:${key} is unusable: ${(error as Error).message}` };
    }
  }

  async function push(record: StepRecord, layerBody: BlobBody | undefined, options?: { signal?: AbortSignal }): Promise<void> {
    const signal = signalOf(options);
    let layer: Descriptor = EMPTY;
    if (record.layer !== undefined) {
      if (layerBody === undefined) throw new InvalidArgumentError(`step ${record.key}: a layer needs a body to push`);
      layer = record.layer.descriptor;
      await ensureBlob(layer, layerBody, signal);
    } else {
      await ensureBlob(EMPTY, EMPTY_BYTES, signal);
    }
    const configBytes = canonicalJson(record);
    const config: Descriptor = { mediaType: STEP_ARTIFACT_TYPE, digest: hashBytes(configBytes), size: configBytes.byteLength };
    await ensureBlob(config, configBytes, signal);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: STEP_ARTIFACT_TYPE,
      config,
      layers: [layer],
      annotations: { 'org.opencontainers.image.created': record.created },
    };
    await client.putManifest(repo, encodeManifest(manifest), stepTag(record.key), signal);
  }

  async function pushConfig(descriptor: Descriptor, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void> {
    const signal = signalOf(options);
    const tag = `config-${descriptor.digest.slice(descriptor.digest.indexOf(':') + 1)}`;
    if ((await client.headManifest(repo, tag, signal)) !== undefined) return;
    await ensureBlob(EMPTY, EMPTY_BYTES, signal);
    await ensureBlob(descriptor, bytes, signal);
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: CONFIG_ARTIFACT_TYPE, config: EMPTY, layers: [descriptor] };
    await client.putManifest(repo, encodeManifest(manifest), tag, signal);
  }

  return {
    name,
    origin: repo,
    lookup,
    push,
    getBlob: (descriptor, options) => client.getBlob(repo, descriptor, signalOf(options)),
    pushConfig,
  };
}
