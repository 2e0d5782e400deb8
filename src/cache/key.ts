/**
 * Cache keys of computed layers: SHA-256 over an unambiguous, length-prefixed encoding of
 * everything that decides a layer's bytes (every entry as it will be written, with the digest
 * of its content, plus the writer settings). Pure: no I/O. Disk mtimes never enter a key;
 * only the normalised mtime written to the tar does.
 * @module
 */
import { createHash } from 'node:crypto';
import type { ResolvedLayerEntry } from '../layer/types.ts';

/** Version of the key encoding; bump it when the encoding or the writer's output changes. */
export const LAYER_KEY_VERSION = 'ocibuild-layer-key/1';

/** Writer settings that change a layer's bytes. */
export interface LayerWriterSettings {
  /** `gzip` or `none`. */
  compression: 'gzip' | 'none';
  /** Encoder identity (`fflate/6`, `node:zlib/6/1.3.0.1-motley`); empty without compression. */
  encoder: string;
  /** Media type of the descriptor. */
  mediaType: string;
}

/** An entry plus the digest of its content (files only). */
export interface KeyedEntry {
  /** The entry as `listLayerEntries` yields it. */
  entry: ResolvedLayerEntry;
  /** `sha256:...` of the content for a file with content; undefined otherwise. */
  contentDigest: string | undefined;
}

/**
 * Accumulates a layer key. Every field is written as a 4-byte big-endian length and the UTF-8
 * bytes, so no two different inputs can encode the same (a path containing a separator
 * cannot imitate two fields).
 */
export class LayerKeyBuilder {
  readonly #hash = createHash('sha256');

  constructor(settings: LayerWriterSettings) {
    this.#field(LAYER_KEY_VERSION);
    this.#field(settings.compression);
    this.#field(settings.encoder);
    this.#field(settings.mediaType);
  }

  #field(value: string | number | undefined): void {
    // undefined and '' must differ: a marker byte says which one it is.
    if (value === undefined) {
      this.#hash.update(Uint8Array.of(0));
      return;
    }
    const bytes = Buffer.from(typeof value === 'number' ? String(value) : value, 'utf8');
    const header = Buffer.alloc(5);
    header[0] = 1;
    header.writeUInt32BE(bytes.length, 1);
    this.#hash.update(header);
    this.#hash.update(bytes);
  }

  /** Adds one entry in write order. */
  add({ entry, contentDigest }: KeyedEntry): void {
    this.#field('entry');
    this.#field(entry.path);
    this.#field(entry.type);
    this.#field(entry.mode);
    this.#field(entry.uid);
    this.#field(entry.gid);
    this.#field(entry.uname);
    this.#field(entry.gname);
    this.#field(entry.mtime);
    this.#field(entry.size);
    this.#field(entry.linkname);
    this.#field(entry.devmajor);
    this.#field(entry.devminor);
    this.#field(contentDigest);
  }

  /** The key as 64 lower-case hex digits. The builder must not be used afterwards. */
  digest(): string {
    this.#field('end');
    return this.#hash.digest('hex');
  }
}

/** Computes the key of a whole entry list at once. */
export function layerCacheKey(entries: Iterable<KeyedEntry>, settings: LayerWriterSettings): string {
  const builder = new LayerKeyBuilder(settings);
  for (const entry of entries) builder.add(entry);
  return builder.digest();
}

/** The identity of a gzip encoder for keys: implementation and level (and zlib's version for node:zlib, whose bytes vary by build). */
export function encoderIdentity(encoder: { implementation: string; level: number } | undefined, compression: 'gzip' | 'none'): string {
  if (compression === 'none' || encoder === undefined) return compression === 'none' ? '' : 'fflate/6';
  const parts = [encoder.implementation, String(encoder.level)];
  if (encoder.implementation.startsWith('node')) parts.push(process.versions.zlib ?? '');
  return parts.join('/');
}
