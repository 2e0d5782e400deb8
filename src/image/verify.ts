/**
 * Verifying byte streams: every blob read is capped at its declared size and hashed as it
 * flows, and a mismatch throws at the end of the stream (house style rule 8).
 * @module
 */
import { DigestMismatchError, SizeMismatchError } from '../errors.ts';
import { parseDigest } from '../oci/digest.ts';
import { nodeHash } from '../hash/node.ts';
import type { HashFactory } from '../hash/types.ts';
import type { Descriptor } from '../oci/types.ts';

/** The part of a descriptor a verification needs. */
export type VerifyTarget = Pick<Descriptor, 'digest' | 'size'>;

/**
 * Picks the hash factory for a digest: `hash` when its algorithm matches the digest's,
 * else node:crypto for that algorithm. Throws `ERR_INVALID_DIGEST` for a malformed digest.
 */
export function hashFactoryFor(digest: string, hash?: HashFactory): HashFactory {
  const { algorithm } = parseDigest(digest);
  if (hash !== undefined && hash.algorithm === algorithm) return hash;
  return nodeHash(algorithm);
}

/**
 * Passes `source` through while checking it against `descriptor`: throws `SizeMismatchError`
 * as soon as more than `size` bytes arrive (the excess is never yielded), and at the end
 * `SizeMismatchError` when fewer arrived or `DigestMismatchError` when the hash differs.
 * `where` names the blob's location in messages (`oci:/tmp/x blob sha256:...`).
 */
export async function* verifyStream(
  source: AsyncIterable<Uint8Array>,
  descriptor: VerifyTarget,
  where: string,
  hash?: HashFactory,
): AsyncGenerator<Uint8Array, void, undefined> {
  const hasher = hashFactoryFor(descriptor.digest, hash).create();
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > descriptor.size) {
      throw new SizeMismatchError(descriptor.size, seen, where);
    }
    hasher.update(chunk);
    yield chunk;
  }
  if (seen !== descriptor.size) {
    throw new SizeMismatchError(descriptor.size, seen, where);
  }
  const actual = hasher.digest();
  if (actual !== descriptor.digest) {
    throw new DigestMismatchError(descriptor.digest, actual, where);
  }
}

/**
 * Reads a whole stream into one byte array, verified against `descriptor` (for manifests and
 * configs, which are small).
 */
export async function readVerified(
  source: AsyncIterable<Uint8Array>,
  descriptor: VerifyTarget,
  where: string,
  hash?: HashFactory,
): Promise<Uint8Array> {
  const out = new Uint8Array(descriptor.size);
  let offset = 0;
  for await (const chunk of verifyStream(source, descriptor, where, hash)) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Reads a whole stream into one byte array, unverified. */
export async function readAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Hashes a stream, returning its digest and size (the stream is consumed). */
export async function digestStream(
  source: AsyncIterable<Uint8Array>,
  hash: HashFactory = nodeHash('sha256'),
): Promise<{ digest: string; size: number }> {
  const hasher = hash.create();
  let size = 0;
  for await (const chunk of source) {
    hasher.update(chunk);
    size += chunk.byteLength;
  }
  return { digest: hasher.digest(), size };
}
