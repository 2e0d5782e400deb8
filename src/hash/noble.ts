/**
 * SHA-256/SHA-512 on @noble/hashes: pure JavaScript, for runtimes without node:crypto.
 * Gives the same digests as {@link nodeHash}.
 * @module
 */
import { sha256 } from '@noble/hashes/sha256';
import { sha512 } from '@noble/hashes/sha512';
import { bytesToHex } from '@noble/hashes/utils';
import type { HashFactory, Hasher } from './types.ts';

/**
 * Creates a pure-JavaScript hash factory for `algorithm`.
 * @example
 * ```ts
 * import { nobleHash, writeLayer } from 'ocibuild';
 *
 * // Pure JavaScript SHA-256, for runtimes without node:crypto; same digests.
 * const layer = await writeLayer({ entries: [{ type: 'file', path: '/a', source: 'a' }] }, { hash: nobleHash() });
 * ```
 * @category Layers
 */
export function nobleHash(algorithm: 'sha256' | 'sha512' = 'sha256'): HashFactory {
  const fn = algorithm === 'sha256' ? sha256 : sha512;
  return {
    algorithm,
    implementation: '@noble/hashes',
    create(): Hasher {
      const hash = fn.create();
      return {
        update(data) {
          hash.update(data);
        },
        digest() {
          return `${algorithm}:${bytesToHex(hash.digest())}`;
        },
      };
    },
  };
}
