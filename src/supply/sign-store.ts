/**
 * Where cosign keeps signatures: an image manifest tagged `sha256-<hex>.sig` in the signed
 * image's repository, one layer per signature (the payload bytes, media type
 * `application/vnd.dev.cosign.simplesigning.v1+json`, the base64 signature in the layer's
 * `dev.cosignproject.cosign/signature` annotation), and a config shaped like the one
 * go-containerregistry writes for it. Reading, building and pushing that manifest.
 * @module
 */
import { InvalidArgumentError, LimitExceededError, isNotFound } from '../errors.ts';
import type { Descriptor, ImageManifest, RawManifest } from '../oci/types.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../oci/mediatypes.ts';
import { encodeManifest, parseManifest } from '../oci/manifest.ts';
import { hashBytes } from '../hash/index.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { RepositoryLocation } from '../registry/operation.ts';
import { readAll } from '../blob/verify.ts';
import { COSIGN_SIGNATURE_ARTIFACT_TYPE, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, signatureTag } from './cosign-payload.ts';

/**
 * Largest payload read back from a registry: simple-signing payloads are a few hundred bytes.
 * @category Supply chain
 */
export const MAX_SIGNATURE_PAYLOAD_BYTES = 1024 * 1024;
/**
 * Most signature layers read from one `.sig` manifest.
 * @category Supply chain
 */
export const MAX_SIGNATURES = 1000;

/**
 * One signature layer of a `.sig` manifest, as stored (nothing verified yet).
 * @category Supply chain
 */
export interface StoredSignature {
  /** The layer's descriptor: payload digest and size, media type, annotations. */
  layer: Descriptor;
  /** The base64 signature from the layer's annotation, when present. */
  signature: string | undefined;
}

/**
 * What the `.sig` tag of a digest holds.
 * @category Supply chain
 */
export interface SignatureManifest {
  /** `sha256-<hex>.sig`. */
  tag: string;
  /** The manifest as stored, undefined when the tag does not exist. */
  raw: RawManifest | undefined;
  /** Its layers in order (empty when the tag does not exist). */
  signatures: StoredSignature[];
}

/**
 * Reads the `.sig` manifest of `digest` in `repo`; a missing tag gives no signatures.
 * @example
 * ```ts
 * import { createRegistryClient, readSignatureManifest } from 'ocibuild';
 *
 * const client = createRegistryClient();
 * const { tag, signatures } = await readSignatureManifest(client, { registry: 'registry.example', repository: 'app' }, 'sha256:' + 'ab'.repeat(32));
 * ```
 * @category Supply chain
 */
export async function readSignatureManifest(client: RegistryClient, repo: RepositoryLocation, digest: string, signal?: AbortSignal): Promise<SignatureManifest> {
  const tag = signatureTag(digest);
  let raw: RawManifest;
  try {
    raw = await client.getManifest(repo, tag, signal ? { signal } : {});
  } catch (error) {
    if (isNotFound(error)) return { tag, raw: undefined, signatures: [] };
    throw error;
  }
  const parsed = parseManifest(raw);
  if (parsed.kind !== 'manifest') {
    throw new InvalidArgumentError(`${repo.registry}/${repo.repository}:${tag} is an index, not a cosign signature manifest`, { code: 'ERR_INVALID_MANIFEST' });
  }
  const layers = parsed.manifest.layers;
  if (layers.length > MAX_SIGNATURES) {
    throw new LimitExceededError('maxSignatures', MAX_SIGNATURES, `${repo.registry}/${repo.repository}:${tag} has ${layers.length} signature layers, more than ${MAX_SIGNATURES}`);
  }
  return { tag, raw: parsed.raw, signatures: layers.map((layer) => ({ layer, signature: layer.annotations?.[SIGNATURE_ANNOTATION] })) };
}

/**
 * Reads a signature layer's payload, verified against its digest, bounded by {@link MAX_SIGNATURE_PAYLOAD_BYTES}.
 * @example
 * ```ts
 * import { createRegistryClient, readPayload, readSignatureManifest } from 'ocibuild';
 *
 * const client = createRegistryClient();
 * const repo = { registry: 'registry.example', repository: 'app' };
 * const { signatures } = await readSignatureManifest(client, repo, 'sha256:' + 'ab'.repeat(32));
 * for (const s of signatures) await readPayload(client, repo, s.layer);
 * ```
 * @category Supply chain
 */
export async function readPayload(client: RegistryClient, repo: RepositoryLocation, layer: Descriptor, signal?: AbortSignal): Promise<Uint8Array> {
  if (layer.size > MAX_SIGNATURE_PAYLOAD_BYTES) {
    throw new LimitExceededError('maxSignaturePayloadBytes', MAX_SIGNATURE_PAYLOAD_BYTES, `signature payload ${layer.digest} is ${layer.size} bytes, more than ${MAX_SIGNATURE_PAYLOAD_BYTES}`);
  }
  return readAll(await client.getBlob(repo, layer, signal ? { signal } : {}));
}

/**
 * The config go-containerregistry gives a signature image: zero times, empty platform, one
 * history entry and one diffID per layer (the payloads are not compressed, so diffID = digest).
 * Field order as Go's encoding/json writes `v1.ConfigFile`.
 * @example
 * ```ts
 * import { signatureConfig } from 'ocibuild';
 *
 * const config = signatureConfig([]);
 * ```
 * @category Supply chain
 */
export function signatureConfig(layers: readonly Descriptor[]): Uint8Array {
  const zero = '0001-01-01T00:00:00Z';
  const history = layers.map(() => `{"created":"${zero}"}`).join(',');
  const diffIds = layers.map((l) => JSON.stringify(l.digest)).join(',');
  return new TextEncoder().encode(`{"architecture":"","created":"${zero}","history":[${history}],"os":"","rootfs":{"type":"layers","diff_ids":[${diffIds}]},"config":{}}`);
}

/**
 * A signature layer's descriptor for `payload` and its base64 `signature`.
 * @example
 * ```ts
 * import { signatureLayer } from 'ocibuild';
 *
 * const layer = signatureLayer(new TextEncoder().encode('{}'), 'MEUCIQ...');
 * ```
 * @category Supply chain
 */
export function signatureLayer(payload: Uint8Array, signature: string): Descriptor {
  return { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, digest: hashBytes(payload), size: payload.byteLength, annotations: { [SIGNATURE_ANNOTATION]: signature } };
}

/**
 * Options of {@link writeSignatureManifest}.
 * @category Supply chain
 */
export interface WriteSignatureManifestOptions {
  /** Push under this tag (the `.sig` tag), or by digest when undefined (a referrer). */
  tag: string | undefined;
  /** Every layer of the manifest, in order. */
  layers: Descriptor[];
  /** Blobs to upload first (new payloads); others are already in the repository. */
  blobs: ReadonlyArray<{ descriptor: Descriptor; bytes: Uint8Array }>;
  /**
   * OCI 1.1 referrer: the signed manifest, recorded as `subject`. As cosign's experimental OCI
   * 1.1 mode writes it, the config's media type is then the artifact type
   * (`application/vnd.dev.cosign.artifact.sig.v1+json`), which the referrers API reports.
   */
  subject?: Descriptor;
  /** Aborts the pushes. */
  signal?: AbortSignal;
}

/**
 * Pushes a signature manifest: the new payload blobs, the config, then the manifest (under the
 * `.sig` tag, or by digest for a referrer). Returns the manifest pushed and its document.
 * @example
 * ```ts
 * import { createRegistryClient, signatureLayer, writeSignatureManifest } from 'ocibuild';
 *
 * const client = createRegistryClient();
 * const payload = new TextEncoder().encode('{}');
 * const layer = signatureLayer(payload, 'MEUCIQ...');
 * await writeSignatureManifest(client, { registry: 'registry.example', repository: 'app' }, { tag: 'sha256-ab.sig', layers: [layer], blobs: [{ descriptor: layer, bytes: payload }] });
 * ```
 * @category Supply chain
 */
export async function writeSignatureManifest(client: RegistryClient, repo: RepositoryLocation, options: WriteSignatureManifestOptions): Promise<{ raw: RawManifest; manifest: ImageManifest }> {
  const signal = options.signal ? { signal: options.signal } : {};
  const config = signatureConfig(options.layers);
  const configDescriptor: Descriptor = { mediaType: options.subject ? COSIGN_SIGNATURE_ARTIFACT_TYPE : OCI_CONFIG, digest: hashBytes(config), size: config.byteLength };
  for (const blob of [...options.blobs, { descriptor: configDescriptor, bytes: config }]) {
    if (!(await client.hasBlob(repo, blob.descriptor.digest, signal))) await client.putBlob(repo, blob.descriptor, blob.bytes, signal);
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: configDescriptor,
    layers: options.layers,
    ...(options.subject ? { subject: { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.size } } : {}),
  };
  const raw = encodeManifest(manifest);
  await client.putManifest(repo, raw, options.tag, signal);
  return { raw, manifest };
}

/**
 * Most signature referrers read for one image.
 * @category Supply chain
 */
export const MAX_SIGNATURE_REFERRERS = 100;

/**
 * Reads the signature referrers of `digest` (OCI 1.1 referrers API, or its fallback tag):
 * manifests of cosign's signature artifact type whose `subject` is `digest`. Returns one
 * {@link SignatureManifest} per referrer, its `tag` being the referrer's digest.
 * @example
 * ```ts
 * import { createRegistryClient, readSignatureReferrers } from 'ocibuild';
 *
 * const client = createRegistryClient();
 * const referrers = await readSignatureReferrers(client, { registry: 'registry.example', repository: 'app' }, 'sha256:' + 'ab'.repeat(32));
 * ```
 * @category Supply chain
 */
export async function readSignatureReferrers(client: RegistryClient, repo: RepositoryLocation, digest: string, signal?: AbortSignal): Promise<SignatureManifest[]> {
  const opts = signal ? { signal } : {};
  const listed = await client.listReferrers(repo, digest, { ...opts, artifactType: COSIGN_SIGNATURE_ARTIFACT_TYPE });
  if (listed.length > MAX_SIGNATURE_REFERRERS) {
    throw new LimitExceededError('maxSignatureReferrers', MAX_SIGNATURE_REFERRERS, `${repo.registry}/${repo.repository}@${digest} has ${listed.length} signature referrers, more than ${MAX_SIGNATURE_REFERRERS}`);
  }
  const out: SignatureManifest[] = [];
  for (const descriptor of listed) {
    const parsed = parseManifest(await client.getManifest(repo, descriptor.digest, opts));
    // The listing is the registry's word (or a tag anyone can push); the manifest's own subject decides.
    if (parsed.kind !== 'manifest' || parsed.manifest.subject?.digest !== digest) continue;
    const layers = parsed.manifest.layers.slice(0, MAX_SIGNATURES);
    out.push({ tag: descriptor.digest, raw: parsed.raw, signatures: layers.map((layer) => ({ layer, signature: layer.annotations?.[SIGNATURE_ANNOTATION] })) });
  }
  return out;
}
