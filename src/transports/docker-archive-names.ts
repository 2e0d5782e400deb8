/**
 * Names inside a docker-archive: the `manifest.json` entry shape, layer file names by
 * compression, `RepoTags` spelling and matching. Pure helpers of the docker-archive transport.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { parseDigest } from '../oci/digest.ts';
import { isGzipLayer } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { parseReference } from '../reference.ts';

/** One entry of `manifest.json`. */
export interface ArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** True when `value` has the shape `docker load` reads (`RepoTags` may be absent or null). */
export function isArchiveEntry(value: unknown): value is ArchiveEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  const tags = e['RepoTags'];
  return (
    typeof e['Config'] === 'string' &&
    Array.isArray(e['Layers']) &&
    e['Layers'].every((l) => typeof l === 'string') &&
    (tags === undefined || tags === null || (Array.isArray(tags) && tags.every((t) => typeof t === 'string')))
  );
}

/** True when `bytes` begins with the `magic` bytes. */
export function startsWith(bytes: Uint8Array | undefined, magic: number[]): boolean {
  return bytes !== undefined && magic.every((b, i) => bytes[i] === b);
}

/** Layer file name by compression, so tools that look at names see what the bytes are. */
export function layerFileName(layer: Descriptor): string {
  const hex = parseDigest(layer.digest).hex;
  if (isGzipLayer(layer.mediaType)) return `${hex}.tar.gz`;
  if (layer.mediaType.endsWith('+zstd')) return `${hex}.tar.zst`;
  return `${hex}.tar`;
}

/** `RepoTags` form of a reference, as `docker save` writes it (`busybox:latest`, `localhost:5000/app:1`). */
export function repoTag(reference: string, where: string): string {
  const ref = parseReference(reference);
  if (ref.digest !== undefined && ref.tag === undefined) {
    throw new InvalidArgumentError(`${where}: ${JSON.stringify(reference)} has a digest but no tag; RepoTags need name:tag`);
  }
  return ref.withoutDigest().familiar();
}

/** Normalised `registry/repository:tag` for matching names however they were spelt. */
export function normalizeName(name: string): string {
  try {
    return parseReference(name).withoutDigest().normalized();
  } catch {
    return name;
  }
}
