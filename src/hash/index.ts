/**
 * Hashing: the interface, both implementations, and the default.
 * @module
 */
import { nodeHash } from './node.ts';
import type { HashFactory } from './types.ts';

export type { HashFactory, Hasher } from './types.ts';
export { nodeHash } from './node.ts';
export { nobleHash } from './noble.ts';

/**
 * The default SHA-256 factory (node:crypto).
 * @category Layers
 */
export const defaultSha256: HashFactory = nodeHash('sha256');

/**
 * Hashes a whole byte array with `factory` (default SHA-256 on node:crypto).
 * @example
 * ```ts
 * import { hashBytes } from 'ocibuild';
 *
 * hashBytes(new TextEncoder().encode('{}')); // 'sha256:44136fa3...'
 * ```
 * @category Layers
 */
export function hashBytes(bytes: Uint8Array, factory: HashFactory = defaultSha256): string {
  const h = factory.create();
  h.update(bytes);
  return h.digest();
}
