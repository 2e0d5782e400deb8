/**
 * cosign's signature payload ("simple signing", containers-signature(5) with cosign's type) and
 * the names cosign stores signatures under. Pure data: no I/O.
 *
 * ```json
 * {"critical":{"identity":{"docker-reference":"registry/repo"},
 *              "image":{"docker-manifest-digest":"sha256:..."},
 *              "type":"cosign container image signature"},
 *  "optional":null}
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { isDigest } from '../oci/digest.ts';
import { DOCKER_HUB_REGISTRY, type Reference } from '../reference.ts';

/**
 * `critical.type` of a cosign image signature payload.
 * @category Supply chain
 */
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
/**
 * Media type of a signature layer (the payload bytes).
 * @category Supply chain
 */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/**
 * Layer annotation holding the base64 signature over the payload.
 * @category Supply chain
 */
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/**
 * Layer annotation of a keyless signature's Fulcio certificate (read, never written: keyless is out of scope).
 * @category Supply chain
 */
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
/**
 * Layer annotation of a keyless signature's certificate chain.
 * @category Supply chain
 */
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
/**
 * Layer annotation of a Rekor bundle (transparency-log inclusion proof).
 * @category Supply chain
 */
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
/**
 * `artifactType` cosign's experimental OCI 1.1 mode gives a signature referrer.
 * @category Supply chain
 */
export const COSIGN_SIGNATURE_ARTIFACT_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';

/**
 * A parsed simple-signing payload.
 * @category Supply chain
 */
export interface SimpleSigningPayload {
  /** The signed claims. */
  critical: {
    /** The repository the signer named. */
    identity: { 'docker-reference': string };
    /** The signed manifest. */
    image: { 'docker-manifest-digest': string };
    /** Always {@link COSIGN_SIGNATURE_TYPE}. */
    type: string;
  };
  /** Signer-chosen annotations (`cosign sign -a k=v`), or null. */
  optional: Record<string, unknown> | null;
}

/**
 * The repository name cosign writes as `docker-reference`: `registry/repository`, with Docker
 * Hub spelt `index.docker.io` as go-containerregistry names it.
 * @example
 * ```ts
 * import { dockerReferenceOf, parseReference } from 'ocibuild';
 *
 * dockerReferenceOf(parseReference('busybox:1')); // 'index.docker.io/library/busybox'
 * ```
 * @category Supply chain
 */
export function dockerReferenceOf(ref: Reference): string {
  const registry = ref.registry === DOCKER_HUB_REGISTRY ? 'index.docker.io' : ref.registry;
  return `${registry}/${ref.repository}`;
}

/**
 * `sha256-<hex>.sig`: the tag cosign stores the signatures of `digest` under.
 * @example
 * ```ts
 * import { signatureTag } from 'ocibuild';
 *
 * signatureTag('sha256:' + 'ab'.repeat(32)); // 'sha256-abab….sig'
 * ```
 * @category Supply chain
 */
export function signatureTag(digest: string): string {
  if (!isDigest(digest)) throw new InvalidArgumentError(`invalid digest ${JSON.stringify(digest)}`, { code: 'ERR_INVALID_DIGEST' });
  return `${digest.replace(':', '-')}.sig`;
}

// Go's encoding/json escapes these in strings (HTML safety); doing the same keeps our payload
// bytes identical to cosign's for the same claims.
function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON with object keys sorted, as Go marshals `map[string]interface{}`. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The payload bytes cosign signs for `digest` in `dockerReference`, with optional annotations:
 * the same bytes `cosign sign` produces for the same claims (field order, sorted annotations,
 * Go's string escaping).
 * @example
 * ```ts
 * import { simpleSigningPayload } from 'ocibuild';
 *
 * const payload = simpleSigningPayload('registry.example/app', 'sha256:' + 'ab'.repeat(32), { team: 'build' });
 * ```
 * @category Supply chain
 */
export function simpleSigningPayload(dockerReference: string, digest: string, annotations?: Readonly<Record<string, unknown>>): Uint8Array {
  if (!isDigest(digest)) throw new InvalidArgumentError(`invalid digest ${JSON.stringify(digest)}`, { code: 'ERR_INVALID_DIGEST' });
  const optional = annotations && Object.keys(annotations).length > 0 ? sortedJson(annotations) : 'null';
  const critical = `{"identity":{"docker-reference":${JSON.stringify(dockerReference)}},"image":{"docker-manifest-digest":${JSON.stringify(digest)}},"type":${JSON.stringify(COSIGN_SIGNATURE_TYPE)}}`;
  return new TextEncoder().encode(goEscape(`{"critical":${critical},"optional":${optional}}`));
}

/**
 * Parses payload bytes; `what` names them in errors. Throws `InvalidArgumentError` unless they
 * are a cosign simple-signing payload (right `type`, string reference and digest).
 * @example
 * ```ts
 * import { parseSimpleSigningPayload, simpleSigningPayload } from 'ocibuild';
 *
 * const payload = simpleSigningPayload('registry.example/app', 'sha256:' + 'ab'.repeat(32));
 * const claims = parseSimpleSigningPayload(payload, 'payload.json');
 * claims.critical.image['docker-manifest-digest'];
 * ```
 * @category Supply chain
 */
export function parseSimpleSigningPayload(bytes: Uint8Array, what: string): SimpleSigningPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: the payload is not JSON`, { cause });
  }
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(doc) || !obj(doc.critical)) throw new InvalidArgumentError(`${what}: the payload has no "critical" object`);
  const { identity, image, type } = doc.critical;
  if (type !== COSIGN_SIGNATURE_TYPE) throw new InvalidArgumentError(`${what}: payload type ${JSON.stringify(type)} is not ${JSON.stringify(COSIGN_SIGNATURE_TYPE)}`);
  if (!obj(identity) || typeof identity['docker-reference'] !== 'string') throw new InvalidArgumentError(`${what}: the payload has no critical.identity.docker-reference`);
  if (!obj(image) || typeof image['docker-manifest-digest'] !== 'string') throw new InvalidArgumentError(`${what}: the payload has no critical.image.docker-manifest-digest`);
  const optional = doc.optional;
  if (optional !== undefined && optional !== null && !obj(optional)) throw new InvalidArgumentError(`${what}: the payload's "optional" is not an object`);
  return {
    critical: {
      identity: { 'docker-reference': identity['docker-reference'] },
      image: { 'docker-manifest-digest': image['docker-manifest-digest'] },
      type,
    },
    optional: optional ?? null,
  };
}
