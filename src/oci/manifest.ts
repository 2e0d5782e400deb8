/**
 * Manifests and indexes: parsing with schema-level validation, canonical encoding, descriptors,
 * and platform selection from an index. Parsed documents keep the exact bytes they came from;
 * digests are always over those bytes, never over a re-serialisation.
 * @module
 */
import { OcibuildError, UnsupportedError } from '../errors.ts';
import { hashBytes } from '../hash/index.ts';
import { parseDigest } from './digest.ts';
import { canonicalJson } from './json.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  OCI_INDEX,
  OCI_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
} from './mediatypes.ts';
import { normalizePlatform, platformMatches } from './platform.ts';
import type { Descriptor, ImageIndex, ImageManifest, Platform, RawManifest } from './types.ts';

/** A parsed manifest or index, with the raw bytes and digest it was parsed from. */
export type ParsedManifest =
  | { kind: 'manifest'; manifest: ImageManifest; raw: RawManifest }
  | { kind: 'index'; index: ImageIndex; raw: RawManifest };

/** RFC 6838 media type, as the OCI descriptor schema defines it. */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** Content types registries send when they do not know better; they say nothing about the kind. */
const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and validates a manifest or index.
 *
 * `raw` is either a {@link RawManifest} (its digest is trusted: transports verify it) or bare
 * bytes (hashed here with SHA-256). The kind comes from the document's `mediaType`, else from
 * `mediaTypeHint` / `raw.mediaType` (a Content-Type), else from the content (`manifests` → index,
 * `config` + `layers` → manifest), because umoci and skopeo write OCI documents without
 * `mediaType`. The returned `raw.mediaType` is the resolved one.
 *
 * Throws `ERR_INVALID_MANIFEST` naming the field at fault, and `UnsupportedError` for
 * Docker schema 1 and for unknown media types.
 */
export function parseManifest(raw: RawManifest | Uint8Array, mediaTypeHint?: string): ParsedManifest {
  const bytes = raw instanceof Uint8Array ? raw : raw.bytes;
  const hint = stripParameters(mediaTypeHint ?? (raw instanceof Uint8Array ? undefined : raw.mediaType));
  const digest = raw instanceof Uint8Array ? hashBytes(bytes) : raw.digest;
  const where = `manifest ${digest}`;
  if (hint === DOCKER_MANIFEST_SCHEMA1 || hint === DOCKER_MANIFEST_SCHEMA1_SIGNED) throw schema1(where);

  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw invalid(where, `is not valid UTF-8 JSON (${(error as Error).message})`, error);
  }
  if (!isObject(doc)) throw invalid(where, 'is not a JSON object');
  if (doc['schemaVersion'] === 1) throw schema1(where);
  if (doc['schemaVersion'] !== 2) throw invalid(where, `schemaVersion must be 2, got ${JSON.stringify(doc['schemaVersion'])}`);

  const mediaType = resolveMediaType(doc, hint, where);
  if (isIndexMediaType(mediaType)) {
    // A document that could be read as both kinds is ambiguous (GHSA-77vh-xpmg-72qh): refuse it.
    if ('config' in doc || 'layers' in doc) throw invalid(where, 'is an index but has "config" or "layers"');
    validateIndex(doc, where);
    return { kind: 'index', index: doc as unknown as ImageIndex, raw: { mediaType, digest, bytes } };
  }
  if ('manifests' in doc) throw invalid(where, 'is an image manifest but has "manifests"');
  validateManifest(doc, where);
  return { kind: 'manifest', manifest: doc as unknown as ImageManifest, raw: { mediaType, digest, bytes } };
}

/**
 * Encodes a manifest or index as canonical JSON and returns it with its digest and media type
 * (the document's `mediaType`, else OCI manifest/index by shape). Validates it first, so
 * ocibuild never writes a document it would refuse to read. Throws `ERR_INVALID_MANIFEST`.
 */
export function encodeManifest(doc: ImageManifest | ImageIndex): RawManifest {
  const isIndex = 'manifests' in doc;
  const mediaType = doc.mediaType ?? (isIndex ? OCI_INDEX : OCI_MANIFEST);
  const where = `manifest being encoded (${mediaType})`;
  const record = doc as unknown as Record<string, unknown>;
  if (record['schemaVersion'] !== 2) throw invalid(where, 'schemaVersion must be 2');
  if (isIndex !== isIndexMediaType(mediaType) && (isIndexMediaType(mediaType) || isManifestMediaType(mediaType))) {
    throw invalid(where, `mediaType ${mediaType} does not match the document's shape`);
  }
  if (isIndex) validateIndex(record, where);
  else validateManifest(record, where);
  const bytes = canonicalJson(doc);
  return { mediaType, digest: hashBytes(bytes), bytes };
}

/** Builds the descriptor of a raw manifest (media type, digest, size), plus optional extra fields. */
export function descriptorFor(
  raw: RawManifest,
  extra?: Partial<Pick<Descriptor, 'platform' | 'annotations' | 'artifactType' | 'urls' | 'data'>>,
): Descriptor {
  return { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.byteLength, ...extra };
}

/**
 * Picks the index entry for `platform`. Entries whose normalised platform equals the wanted one
 * win, and among those one whose variant is spelled exactly as requested (`arm64/v8` over
 * `arm64`); failing that, for 32-bit arm, the highest lower variant that still runs (`v6` for
 * `v7`). Entries without a platform (attestations, artifacts) are never chosen. Ties go to the
 * earlier entry. Returns undefined when nothing fits.
 */
export function selectManifest(index: ImageIndex, platform: Platform): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const descriptor of index.manifests) {
    const have = descriptor.platform;
    if (have === undefined) continue;
    const score = platformScore(platform, have);
    if (score > bestScore) {
      best = descriptor;
      bestScore = score;
    }
  }
  return best;
}

/** 0 = unusable; 1xx = compatible older arm variant (higher is better); 1000 = normalised match; 1001 = exact. */
function platformScore(want: Platform, have: Platform): number {
  if (platformMatches(want, have)) return (want.variant ?? '') === (have.variant ?? '') ? 1001 : 1000;
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== 'arm' || h.architecture !== 'arm') return 0;
  if (w['os.version'] !== undefined && w['os.version'] !== h['os.version']) return 0;
  const wv = armVersion(w.variant);
  const hv = armVersion(h.variant);
  // An armv7 CPU runs v6 and v5 binaries; never the other way round.
  return wv !== undefined && hv !== undefined && hv < wv ? 100 + hv : 0;
}

function armVersion(variant: string | undefined): number | undefined {
  const match = /^v([0-9]+)$/.exec(variant ?? '');
  return match ? Number(match[1]) : undefined;
}

function resolveMediaType(doc: Record<string, unknown>, hint: string | undefined, where: string): string {
  const own = doc['mediaType'];
  if (own !== undefined) {
    if (typeof own !== 'string' || !MEDIA_TYPE_RE.test(own)) {
      throw invalid(where, `mediaType must be a media type string, got ${JSON.stringify(own)}`);
    }
    if (own === DOCKER_MANIFEST_SCHEMA1 || own === DOCKER_MANIFEST_SCHEMA1_SIGNED) throw schema1(where);
    if (!isIndexMediaType(own) && !isManifestMediaType(own)) {
      throw new UnsupportedError(`${where}: media type ${own} is not an image manifest or index`);
    }
    if (hint !== undefined && !GENERIC_TYPES.has(hint) && hint !== own) {
      throw invalid(where, `mediaType ${own} differs from the declared ${hint}`);
    }
    return own;
  }
  if (hint !== undefined && (isIndexMediaType(hint) || isManifestMediaType(hint))) {
    // Docker v2.2 documents always carry mediaType; only OCI may omit it.
    if (hint === DOCKER_MANIFEST || hint === DOCKER_MANIFEST_LIST) {
      throw invalid(where, `mediaType is required for ${hint}`);
    }
    return hint;
  }
  if (hint !== undefined && !GENERIC_TYPES.has(hint)) {
    throw new UnsupportedError(`${where}: media type ${hint} is not an image manifest or index`);
  }
  if (Array.isArray(doc['manifests'])) return OCI_INDEX;
  if ('config' in doc && 'layers' in doc) return OCI_MANIFEST;
  throw invalid(where, 'has no mediaType and neither "manifests" nor "config" and "layers"');
}

function validateManifest(doc: Record<string, unknown>, where: string): void {
  checkOptionalMediaType(doc, 'mediaType', where);
  checkOptionalMediaType(doc, 'artifactType', where);
  checkDescriptor(doc['config'], `${where}: config`);
  const layers = doc['layers'];
  if (!Array.isArray(layers)) throw invalid(where, 'layers must be an array');
  layers.forEach((layer: unknown, i: number) => checkDescriptor(layer, `${where}: layers[${i}]`));
  if (doc['subject'] !== undefined) checkDescriptor(doc['subject'], `${where}: subject`);
  checkStringMap(doc['annotations'], `${where}: annotations`);
}

function validateIndex(doc: Record<string, unknown>, where: string): void {
  checkOptionalMediaType(doc, 'mediaType', where);
  checkOptionalMediaType(doc, 'artifactType', where);
  const manifests = doc['manifests'];
  if (!Array.isArray(manifests)) throw invalid(where, 'manifests must be an array');
  manifests.forEach((entry: unknown, i: number) => {
    const at = `${where}: manifests[${i}]`;
    checkDescriptor(entry, at);
    const platform: unknown = entry.platform;
    if (platform !== undefined) checkPlatform(platform, `${at}.platform`);
  });
  if (doc['subject'] !== undefined) checkDescriptor(doc['subject'], `${where}: subject`);
  checkStringMap(doc['annotations'], `${where}: annotations`);
}

/**
 * Validates an OCI descriptor's structure (media type, digest, size, urls, annotations, data,
 * artifactType). `where` names it in the error. Throws `ERR_INVALID_MANIFEST`.
 */
export function checkDescriptor(value: unknown, where: string): asserts value is Descriptor {
  if (!isObject(value)) throw invalid(where, 'must be a descriptor object');
  const mediaType = value['mediaType'];
  if (typeof mediaType !== 'string' || !MEDIA_TYPE_RE.test(mediaType)) {
    throw invalid(where, `mediaType must be a media type string, got ${JSON.stringify(mediaType)}`);
  }
  const digest = value['digest'];
  if (typeof digest !== 'string') throw invalid(where, `digest must be a string, got ${JSON.stringify(digest)}`);
  try {
    parseDigest(digest);
  } catch (error) {
    throw invalid(where, `digest ${JSON.stringify(digest)} is not a valid sha256/sha512 digest`, error);
  }
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(where, `size must be a non-negative integer, got ${JSON.stringify(size)}`);
  }
  const urls = value['urls'];
  if (urls !== undefined && (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string'))) {
    throw invalid(where, 'urls must be an array of strings');
  }
  if (value['data'] !== undefined && (typeof value['data'] !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value['data']))) {
    throw invalid(where, 'data must be a base64 string');
  }
  checkOptionalMediaType(value, 'artifactType', where);
  checkStringMap(value['annotations'], `${where}.annotations`);
}

function checkPlatform(value: unknown, where: string): void {
  if (!isObject(value)) throw invalid(where, 'must be an object');
  for (const key of ['os', 'architecture'] as const) {
    if (typeof value[key] !== 'string' || value[key] === '') throw invalid(where, `${key} must be a non-empty string`);
  }
  for (const key of ['variant', 'os.version'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'string') throw invalid(where, `${key} must be a string`);
  }
  for (const key of ['os.features', 'features'] as const) {
    const list = value[key];
    if (list !== undefined && (!Array.isArray(list) || !list.every((f) => typeof f === 'string'))) {
      throw invalid(where, `${key} must be an array of strings`);
    }
  }
}

function checkOptionalMediaType(doc: Record<string, unknown>, key: string, where: string): void {
  const value = doc[key];
  if (value !== undefined && (typeof value !== 'string' || !MEDIA_TYPE_RE.test(value))) {
    throw invalid(where, `${key} must be a media type string, got ${JSON.stringify(value)}`);
  }
}

function checkStringMap(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(where, 'must be an object of string values');
  }
}

function stripParameters(mediaType: string | undefined): string | undefined {
  // Content-Type may carry parameters (`; charset=utf-8`); the media type is what precedes them.
  return mediaType?.split(';')[0]?.trim().toLowerCase();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(where: string, reason: string, cause?: unknown): OcibuildError {
  return new OcibuildError('ERR_INVALID_MANIFEST', `${where}: ${reason}`, cause === undefined ? {} : { cause });
}

function schema1(where: string): UnsupportedError {
  return new UnsupportedError(
    `${where} is a Docker schema 1 manifest, which is deprecated and not supported; re-push the image with a current client`,
  );
}
