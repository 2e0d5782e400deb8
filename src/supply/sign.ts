/**
 * Signing and verifying images the way cosign does with a key pair: `signImage` signs a
 * simple-signing payload naming the image's manifest digest and stores it where cosign looks
 * (`sha256-<hex>.sig` in the same repository); `verifyImage` checks each stored signature with a
 * public key and its payload's digest against the image's current digest.
 *
 * Keyless signing (Fulcio certificate, Rekor entry) is not implemented; the stored format has
 * room for it (certificate, chain and bundle annotations on the same layers) and the verifier is
 * one function of a layer, so a certificate verifier can sit beside the key verifier.
 * @module
 */
import { sign as cryptoSign, verify as cryptoVerify, createPublicKey, type KeyObject } from 'node:crypto';
import { InvalidArgumentError, OcibuildError, type OcibuildErrorOptions } from '../errors.ts';
import { parseReference, type Reference } from '../reference.ts';
import type { Descriptor } from '../oci/types.ts';
import { createRegistryClient, type RegistryClient, type RegistryClientOptions } from '../registry/client.ts';
import type { RepositoryLocation } from '../registry/operation.ts';
import { signatureHash } from './cosign-key.ts';
import { dockerReferenceOf, parseSimpleSigningPayload, signatureTag, simpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE, type SimpleSigningPayload } from './cosign-payload.ts';
import { registryTransport } from '../transports/registry.ts';
import { linkReferrer } from './attach.ts';
import { referrerDescriptor } from './attach-manifest.ts';
import { readPayload, readSignatureManifest, readSignatureReferrers, signatureLayer, writeSignatureManifest, type SignatureManifest, type StoredSignature } from './sign-store.ts';

/**
 * Why one stored signature did not verify.
 * @category Supply chain
 */
export interface SignatureFailure {
  /** Position of the signature among all those examined (0-based). */
  index: number;
  /** Where it was stored: the `.sig` tag, or the digest of a referrer manifest. */
  source: string;
  /** Digest of the layer (the payload). */
  layer: string;
  /** What was wrong, in words. */
  reason: string;
  /** For a claim naming another image: the digest the payload was signed for. */
  signedDigest?: string;
}

/**
 * No stored signature of an image verified (none stored, wrong key, tampered payload or
 * signature, or signatures made for another digest). Code `ERR_SIGNATURE`; `failures` has one
 * entry per signature layer examined.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { readCosignPublicKey, SignatureVerificationError, verifyImage } from 'ocibuild';
 *
 * const key = readCosignPublicKey(await readFile('cosign.pub', 'utf8'), 'cosign.pub');
 * try {
 *   await verifyImage('registry.example/app:1', { key });
 * } catch (error) {
 *   if (!(error instanceof SignatureVerificationError)) throw error;
 *   for (const failure of error.failures) console.error(`${failure.layer}: ${failure.reason}`);
 * }
 * ```
 * @category Supply chain
 */
export class SignatureVerificationError extends OcibuildError {
  /** The reference verified, as given. */
  readonly reference: string;
  /** The manifest digest the reference resolved to. */
  readonly digest: string;
  /** Why each stored signature failed (empty when none is stored). */
  readonly failures: readonly SignatureFailure[];
  constructor(reference: string, digest: string, failures: readonly SignatureFailure[], message: string, options: OcibuildErrorOptions = {}) {
    super('ERR_SIGNATURE', message, options);
    this.reference = reference;
    this.digest = digest;
    this.failures = failures;
  }
}

/**
 * Registry access shared by the signing functions.
 * @category Supply chain
 */
export interface SignatureRegistryOptions {
  /** Client to use (never closed here); else one is made from `registry` and closed before returning. */
  client?: RegistryClient;
  /** Options of the client made when `client` is absent (credentials, CAs, insecure registries). */
  registry?: RegistryClientOptions;
  /** Aborts every request. */
  signal?: AbortSignal;
}

/**
 * Options of {@link signImage}.
 * @category Supply chain
 */
export interface SignImageOptions extends SignatureRegistryOptions {
  /** The private key (from `readCosignPrivateKey`): ECDSA P-256 for cosign's default keys. */
  key: KeyObject;
  /** Signer-chosen claims stored in the payload's `optional` (`cosign sign -a k=v`). */
  annotations?: Readonly<Record<string, string>>;
  /** The `docker-reference` to claim; default the image's repository (`registry/repo`). */
  identity?: string;
  /**
   * Where to store the signature: `'tag'` (default, what cosign reads), `'referrer'` (an OCI 1.1
   * referrer shaped as cosign's experimental OCI 1.1 mode writes it, with the referrers fallback
   * tag kept on registries without the API), or `'both'`.
   */
  store?: 'tag' | 'referrer' | 'both';
}

/**
 * What {@link signImage} did.
 * @category Supply chain
 */
export interface SignImageResult {
  /** The manifest digest signed. */
  digest: string;
  /** The signature tag (`sha256-<hex>.sig`), in the image's repository. */
  signatureTag: string;
  /** Digest of the signature manifest now under that tag (undefined when only a referrer was asked for). */
  signatureManifestDigest: string | undefined;
  /** Digest of the referrer manifest, when one was asked for. */
  referrerDigest?: string;
  /** The signed payload bytes. */
  payload: Uint8Array;
  /** The base64 DER signature over the payload: the one written, or when nothing was written, the equal one already stored. */
  signature: string;
  /** False when an equal signature (same payload, verifying with the same key) was already stored everywhere asked: nothing was pushed. */
  added: boolean;
}

/**
 * Options of {@link verifyImage}.
 * @category Supply chain
 */
export interface VerifyImageOptions extends SignatureRegistryOptions {
  /** The public key (from `readCosignPublicKey`). */
  key: KeyObject;
  /** Claims every accepted payload must carry in `optional` (`cosign verify -a k=v`). */
  annotations?: Readonly<Record<string, string>>;
}

/**
 * One signature that verified.
 * @category Supply chain
 */
export interface VerifiedSignature {
  /** Where it was stored: the `.sig` tag, or the digest of a referrer manifest. */
  source: string;
  /** The payload bytes, as signed. */
  payload: Uint8Array;
  /** The payload, parsed. */
  claims: SimpleSigningPayload;
  /** The base64 signature. */
  signature: string;
  /** The layer it was stored as. */
  layer: Descriptor;
}

/**
 * What {@link verifyImage} found.
 * @category Supply chain
 */
export interface VerifyImageResult {
  /** The manifest digest the reference resolved to. */
  digest: string;
  /** The signature tag read. */
  signatureTag: string;
  /** Signatures that verified (at least one), from the `.sig` tag first, then from referrers. */
  signatures: VerifiedSignature[];
}

/**
 * What {@link listSignatures} found (nothing verified).
 * @category Supply chain
 */
export interface ListSignaturesResult {
  /** The manifest digest the reference resolved to. */
  digest: string;
  /** The signature tag read. */
  signatureTag: string;
  /** The stored signature layers, in order (empty when the tag does not exist). */
  signatures: StoredSignature[];
  /** Signature referrers (OCI 1.1) of the digest, each with its layers. */
  referrers: SignatureManifest[];
}

async function withClient<T>(options: SignatureRegistryOptions, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  if (options.client) return fn(options.client);
  const client = createRegistryClient(options.registry ?? {});
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function toReference(ref: string | Reference): Reference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

function locationOf(ref: Reference): RepositoryLocation {
  return { registry: ref.registry, repository: ref.repository };
}

/** The manifest digest `ref` names now (its digest when it has one, checked to exist). */
async function resolveDigest(client: RegistryClient, ref: Reference, signal: AbortSignal | undefined): Promise<string> {
  const raw = await client.getManifest(locationOf(ref), ref.tagOrDigest, signal ? { signal } : {});
  return raw.digest;
}

/**
 * True when `signature` (base64 DER) verifies over `payload` with `key`. Never throws.
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { signPayload, simpleSigningPayload, verifyPayloadSignature } from 'ocibuild';
 *
 * const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const payload = simpleSigningPayload('registry.example/app', 'sha256:' + 'ab'.repeat(32));
 * verifyPayloadSignature(payload, signPayload(payload, privateKey), publicKey); // true
 * ```
 * @category Supply chain
 */
export function verifyPayloadSignature(payload: Uint8Array, signature: string, key: KeyObject): boolean {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
  try {
    return cryptoVerify(signatureHash(publicKey), payload, publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Signs `payload` with `key` as cosign does (SHA-256 for P-256, ASN.1 DER) and returns it base64.
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { signPayload, simpleSigningPayload } from 'ocibuild';
 *
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const signature = signPayload(simpleSigningPayload('registry.example/app', 'sha256:' + 'ab'.repeat(32)), privateKey);
 * ```
 * @category Supply chain
 */
export function signPayload(payload: Uint8Array, key: KeyObject): string {
  if (key.type !== 'private') throw new InvalidArgumentError('signing needs a private key');
  return cryptoSign(signatureHash(key), payload, key).toString('base64');
}

/**
 * Signs the image `ref` names with `options.key` and stores the signature as cosign does: a
 * layer appended to the `sha256-<hex>.sig` manifest of its digest (existing signatures kept; an
 * equal signature already there makes this a no-op). Like cosign, two signers racing on the
 * same image may lose one signature: the tag is read, extended and rewritten.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { createSession, readCosignPrivateKey, signImage } from 'ocibuild';
 *
 * const key = await readCosignPrivateKey(await readFile('cosign.key', 'utf8'), process.env.COSIGN_PASSWORD ?? '', 'cosign.key');
 * await using session = createSession({});
 * const { digest, signatureTag } = await signImage('registry.example/app:1', { key, client: session.registryClient(), annotations: { team: 'build' } });
 * ```
 * @category Supply chain
 */
export async function signImage(ref: string | Reference, options: SignImageOptions): Promise<SignImageResult> {
  const reference = toReference(ref);
  const { signal } = options;
  const store = options.store ?? 'tag';
  if (store !== 'tag' && store !== 'referrer' && store !== 'both') throw new InvalidArgumentError(`signImage: store must be tag, referrer or both, not ${JSON.stringify(store)}`);
  // Checked before any request: a public key cannot sign.
  if (options.key.type !== 'private') throw new InvalidArgumentError('signing needs a private key');
  signatureHash(options.key, 'the signing key');
  return withClient(options, async (client) => {
    const repo = locationOf(reference);
    const top = await client.getManifest(repo, reference.tagOrDigest, signal ? { signal } : {});
    const digest = top.digest;
    const payload = simpleSigningPayload(options.identity ?? dockerReferenceOf(reference), digest, options.annotations);
    const signature = signPayload(payload, options.key);
    const layer = signatureLayer(payload, signature);
    const blobs = [{ descriptor: layer, bytes: payload }];
    const result: SignImageResult = { digest, signatureTag: signatureTag(digest), signatureManifestDigest: undefined, payload, signature, added: false };
    let found: string | undefined;
    if (store !== 'referrer') {
      const stored = await readSignatureManifest(client, repo, digest, signal);
      const duplicate = findDuplicate(stored.signatures, layer, payload, options.key);
      if (duplicate) {
        result.signatureManifestDigest = stored.raw?.digest;
        found = duplicate;
      } else {
        const written = await writeSignatureManifest(client, repo, { tag: stored.tag, layers: [...stored.signatures.map((s) => s.layer), layer], blobs, signal });
        result.signatureManifestDigest = written.raw.digest;
        result.added = true;
      }
    }
    if (store !== 'tag') {
      const referrers = await readSignatureReferrers(client, repo, digest, signal);
      const existing = referrers.map((r) => ({ r, duplicate: findDuplicate(r.signatures, layer, payload, options.key) })).find((x) => x.duplicate !== undefined);
      if (existing) {
        result.referrerDigest = existing.r.tag;
        found ??= existing.duplicate;
      } else {
        const subject = { mediaType: top.mediaType, digest, size: top.bytes.byteLength };
        const written = await writeSignatureManifest(client, repo, { tag: undefined, layers: [layer], blobs, subject, signal });
        // Registries without the referrers API (distribution 2.8) list referrers from a fallback tag.
        await linkReferrer(registryTransport(reference, client), digest, referrerDescriptor(written.raw, written.manifest), signal ? { signal } : {});
        result.referrerDigest = written.raw.digest;
        result.added = true;
      }
    }
    // Nothing written: report the signature already stored, the one a verifier will find.
    if (!result.added && found !== undefined) result.signature = found;
    return result;
  });
}

/**
 * cosign's duplicate rule: a stored layer with the same payload and media type (and every other
 * annotation of the new layer; ours have none) whose signature verifies with our key: ECDSA
 * signatures differ from run to run, so the signatures themselves are not compared. Returns
 * that layer's signature.
 */
function findDuplicate(stored: readonly StoredSignature[], layer: Descriptor, payload: Uint8Array, key: KeyObject): string | undefined {
  for (const existing of stored) {
    if (existing.layer.digest !== layer.digest || existing.layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    if (existing.signature !== undefined && verifyPayloadSignature(payload, existing.signature, key)) return existing.signature;
  }
  return undefined;
}

/**
 * Lists the signatures stored for the image `ref` names, without verifying them.
 * @example
 * ```ts
 * import { listSignatures } from 'ocibuild';
 *
 * const { digest, signatures, referrers } = await listSignatures('registry.example/app:1');
 * console.log(digest, signatures.length, referrers.length);
 * ```
 * @category Supply chain
 */
export async function listSignatures(ref: string | Reference, options: SignatureRegistryOptions = {}): Promise<ListSignaturesResult> {
  const reference = toReference(ref);
  return withClient(options, async (client) => {
    const digest = await resolveDigest(client, reference, options.signal);
    const stored = await readSignatureManifest(client, locationOf(reference), digest, options.signal);
    const referrers = await readSignatureReferrers(client, locationOf(reference), digest, options.signal);
    return { digest, signatureTag: stored.tag, signatures: stored.signatures, referrers };
  });
}

/** Checks one stored signature; returns the verified signature or the reason it failed. */
async function checkSignature(
  client: RegistryClient,
  repo: RepositoryLocation,
  stored: StoredSignature,
  source: string,
  index: number,
  digest: string,
  options: VerifyImageOptions,
): Promise<VerifiedSignature | SignatureFailure> {
  const fail = (reason: string, signedDigest?: string): SignatureFailure => ({ index, source, layer: stored.layer.digest, reason, ...(signedDigest ? { signedDigest } : {}) });
  if (stored.layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) return fail(`layer media type ${stored.layer.mediaType} is not a cosign simple-signing payload`);
  if (stored.signature === undefined) return fail('the layer has no dev.cosignproject.cosign/signature annotation');
  let payload: Uint8Array;
  try {
    payload = await readPayload(client, repo, stored.layer, options.signal);
  } catch (error) {
    if (error instanceof OcibuildError && error.code !== 'ERR_ABORTED') return fail(`cannot read the payload: ${error.message}`);
    throw error;
  }
  if (!verifyPayloadSignature(payload, stored.signature, options.key)) return fail('the signature does not verify against the public key (wrong key, or the payload or signature was altered)');
  let claims: SimpleSigningPayload;
  try {
    claims = parseSimpleSigningPayload(payload, `payload ${stored.layer.digest}`);
  } catch (error) {
    return fail((error as Error).message);
  }
  const signed = claims.critical.image['docker-manifest-digest'];
  if (signed !== digest) return fail(`the payload was signed for ${signed}, not for this image (${digest})`, signed);
  for (const [k, v] of Object.entries(options.annotations ?? {})) {
    const have = claims.optional?.[k];
    if (have === undefined || String(have) !== v) return fail(`annotation ${k}=${v} is missing from the payload`);
  }
  return { source, payload, claims, signature: stored.signature, layer: stored.layer };
}

/**
 * Verifies the cosign signatures of the image `ref` names with `options.key`. Every stored
 * signature is checked: the signature over the payload bytes, the payload's type, and its
 * `docker-manifest-digest` against the digest `ref` resolves to now (a tag moved to another
 * image, or a signature copied from another image, fails naming both digests). Like cosign,
 * `docker-reference` is not compared with the repository (an image copied elsewhere keeps its
 * signatures). Resolves with the signatures that verified; throws
 * {@link SignatureVerificationError} when none did.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { readCosignPublicKey, verifyImage } from 'ocibuild';
 *
 * const key = readCosignPublicKey(await readFile('cosign.pub', 'utf8'), 'cosign.pub');
 * const { digest, signatures } = await verifyImage('registry.example/app:1', { key });
 * for (const s of signatures) console.log(digest, s.claims.optional);
 * ```
 * @category Supply chain
 */
export async function verifyImage(ref: string | Reference, options: VerifyImageOptions): Promise<VerifyImageResult> {
  const reference = toReference(ref);
  return withClient(options, async (client) => {
    const repo = locationOf(reference);
    const digest = await resolveDigest(client, reference, options.signal);
    const stored = await readSignatureManifest(client, repo, digest, options.signal);
    const referrers = await readSignatureReferrers(client, repo, digest, options.signal);
    const all = [stored, ...referrers].flatMap((m) => m.signatures.map((signature) => ({ source: m.tag, signature })));
    const name = reference.toString();
    if (all.length === 0) {
      throw new SignatureVerificationError(
        name,
        digest,
        [],
        `no signatures found for ${name}: it names ${digest}, and neither ${reference.name}:${stored.tag} nor a signature referrer exists (not signed, or the tag now points at another image)`,
      );
    }
    const verified: VerifiedSignature[] = [];
    const failures: SignatureFailure[] = [];
    for (const [index, { source, signature }] of all.entries()) {
      const result = await checkSignature(client, repo, signature, source, index, digest, options);
      if ('reason' in result) failures.push(result);
      else verified.push(result);
    }
    if (verified.length === 0) {
      // The first few reasons in the message (all of them are in `failures`).
      const shown = failures.slice(0, 5).map((f) => `signature ${f.index + 1} (${f.layer}): ${f.reason}`);
      if (failures.length > shown.length) shown.push(`and ${failures.length - shown.length} more`);
      const detail = shown.join('; ');
      throw new SignatureVerificationError(name, digest, failures, `no valid signature for ${name} (${digest}): ${detail}`);
    }
    return { digest, signatureTag: stored.tag, signatures: verified };
  });
}
