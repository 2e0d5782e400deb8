/**
 * Cache keys of computed layers: SHA-256 over an unambiguous, length-prefixed encoding of
 * everything that decides a layer's bytes (every entry as it will be written, with the digest
 * of its content, plus the writer settings). Pure: no I/O. Disk mtimes never enter a key;
 * only the normalised mtime written to the tar does.
 * @module
 */
import type { ResolvedLayerEntry } from '../layer/types.ts';
import { FieldHasher } from './field-hasher.ts';

/** Version of the key encoding; bump it when the encoding or the writer's output changes. */
export const LAYER_KEY_VERSION = 'ocibuild-layer-key/1';

/** Writer settings that change a layer's bytes. */
export interface LayerWriterSettings {
  /** `gzip`, `zstd` or `none`. */
  compression: 'gzip' | 'zstd' | 'none';
  /** Encoder identity (`libdeflate-wasm/0.1.0/6`, `fflate/6`, `node:zlib/6/1.3.0.1-motley`, `zstd-wasm/0.0.27/3/4194304`); empty without compression. */
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
 * Accumulates a layer key in the `FieldHasher` encoding (length-prefixed fields), so no
 * two different inputs can encode the same (a path containing a separator cannot imitate two
 * fields).
 */
export class LayerKeyBuilder {
  readonly #fields = new FieldHasher();

  constructor(settings: LayerWriterSettings) {
    this.#fields.field(LAYER_KEY_VERSION).field(settings.compression).field(settings.encoder).field(settings.mediaType);
  }

  /** Adds one entry in write order. */
  add({ entry, contentDigest }: KeyedEntry): void {
    this.#fields.field('entry').field(entry.path).field(entry.type).field(entry.mode);
    this.#fields.field(entry.uid).field(entry.gid).field(entry.uname).field(entry.gname);
    this.#fields.field(entry.mtime).field(entry.size).field(entry.linkname);
    this.#fields.field(entry.devmajor).field(entry.devminor).field(contentDigest);
  }

  /** The key as 64 lower-case hex digits. The builder must not be used afterwards. */
  digest(): string {
    return this.#fields.field('end').hex();
  }
}

/** Computes the key of a whole entry list at once. */
export function layerCacheKey(entries: Iterable<KeyedEntry>, settings: LayerWriterSettings): string {
  const builder = new LayerKeyBuilder(settings);
  for (const entry of entries) builder.add(entry);
  return builder.digest();
}

/**
 * The identity of an encoder for keys: implementation and level (and zlib's version for
 * node:zlib, whose bytes vary by build; the frame size for zstd). gzip identities carry no
 * format prefix, so keys made before zstd existed stay valid; a zstd identity names its
 * library (`zstd-wasm/...`), so it never equals a gzip one.
 */
export function encoderIdentity(
  encoder: { implementation: string; level: number; chunkSize?: number } | undefined,
  compression: 'gzip' | 'zstd' | 'none',
): string {
  if (compression === 'none') return '';
  if (encoder === undefined) return compression === 'zstd' ? 'zstd' : 'fflate/6';
  const parts = [encoder.implementation, String(encoder.level)];
  if (compression === 'zstd') parts.push(String(encoder.chunkSize ?? ''));
  if (encoder.implementation.startsWith('node')) parts.push(process.versions.zlib ?? '');
  return parts.join('/');
}
