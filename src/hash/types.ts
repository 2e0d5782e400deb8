/**
 * The hashing interface. Implementations MUST give identical output for identical input,
 * however the input is split into `update` calls.
 * @module
 */

/**
 * An incremental SHA-256 (or other) hash.
 * @category Layers
 */
export interface Hasher {
  /** Adds bytes. */
  update(data: Uint8Array): void;
  /** Returns the digest as `algorithm:hex`; the hasher must not be used afterwards. */
  digest(): string;
}

/**
 * Creates hashers of one algorithm.
 * @category Layers
 */
export interface HashFactory {
  /** Algorithm name as used in digests (`sha256`, `sha512`). */
  readonly algorithm: 'sha256' | 'sha512';
  /** Implementation name for diagnostics (`node:crypto`, `@noble/hashes`). */
  readonly implementation: string;
  /** Starts a new hash. */
  create(): Hasher;
}
