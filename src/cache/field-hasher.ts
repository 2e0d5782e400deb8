/**
 * The field encoding every cache key uses (layer keys, step keys, source node digests): each
 * field is a marker byte, a 4-byte big-endian length and the UTF-8 bytes; a missing value is
 * one `0` byte. docs/cache.md documents it; changing it changes every key. Pure: no I/O.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';

/** Writes length-prefixed fields into a SHA-256 hash: a field can never imitate two. */
export class FieldHasher {
  readonly #hash: Hash = createHash('sha256');

  /** Adds one field; `undefined` and `''` encode differently. */
  field(value: string | number | undefined): this {
    // undefined and '' must differ: a marker byte says which one it is.
    if (value === undefined) {
      this.#hash.update(Uint8Array.of(0));
      return this;
    }
    const bytes = Buffer.from(typeof value === 'number' ? String(value) : value, 'utf8');
    const header = Buffer.alloc(5);
    header[0] = 1;
    header.writeUInt32BE(bytes.length, 1);
    this.#hash.update(header);
    this.#hash.update(bytes);
    return this;
  }

  /** Adds a map as a count followed by sorted name/value pairs. */
  map(values: Readonly<Record<string, string>>): this {
    const names = Object.keys(values).sort();
    this.field(names.length);
    for (const name of names) this.field(name).field(values[name]);
    return this;
  }

  /** The digest as 64 lower-case hex digits. The hasher must not be used afterwards. */
  hex(): string {
    return this.#hash.digest('hex');
  }
}
