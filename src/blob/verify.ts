/**
 * Verifying byte streams: every blob read is capped at its declared size and hashed as it
 * flows, and a mismatch throws at the end of the stream (house style rule 8).
 * @module
 */
import { concatBytes } from '../bytes.ts';
import { DigestMismatchError, SizeMismatchError } from '../errors.ts';
import { parseDigest } from '../hash/digest.ts';
import { nodeHash } from '../hash/node.ts';
import type { HashFactory } from '../hash/types.ts';

/** The part of a descriptor a verification needs. */
export interface VerifyTarget {
  /** `algorithm:hex`. */
  digest: string;
  /** Size in bytes. */
  size: number;
}

/**
 * Picks the hash factory for a digest: `hash` when its algorithm matches the digest's,
 * else node:crypto for that algorithm. Throws `ERR_INVALID_DIGEST` for a malformed digest.
 */
export function hashFactoryFor(digest: string, hash?: HashFactory): HashFactory {
  const { algorithm } = parseDigest(digest);
  if (hash !== undefined && hash.algorithm === algorithm) return hash;
  return nodeHash(algorithm);
}

// Streams that ocibuild itself has wrapped in a verification, with what they were verified
// against. Module-private, so no outside code can claim a stream is verified; a getter lets a
// lazy wrapper answer once its inner stream exists.
const verifiedStreams = new WeakMap<object, () => VerifyTarget | undefined>();

/**
 * Records that `stream` yields exactly the bytes of a stream verified against `target` (or of
 * the stream `target` returns once known), so that {@link verifyStream} over it need not hash
 * again. Only for wrappers that pass every byte through unchanged and rethrow its errors.
 */
export function markVerified(stream: object, target: VerifyTarget | (() => VerifyTarget | undefined)): void {
  verifiedStreams.set(stream, typeof target === 'function' ? target : () => target);
}

/** What `stream` is verified against, when it is a verified stream (see {@link markVerified}). */
export function verifiedTarget(stream: object): VerifyTarget | undefined {
  return verifiedStreams.get(stream)?.();
}

/**
 * Passes `source` through while checking it against `descriptor`: throws `SizeMismatchError`
 * as soon as more than `size` bytes arrive (the excess is never yielded), and at the end
 * `SizeMismatchError` when fewer arrived or `DigestMismatchError` when the hash differs.
 * `where` names the blob's location in messages (`oci:/tmp/x blob sha256:...`).
 *
 * A `source` that ocibuild already verifies against the same digest and size (a transport's
 * `getBlob` stream) is not hashed a second time: it throws before its end on a mismatch, which
 * this stream passes on, so the guarantee is the same at half the hashing cost.
 */
export function verifyStream(
  source: AsyncIterable<Uint8Array>,
  descriptor: VerifyTarget,
  where: string,
  hash?: HashFactory,
): AsyncGenerator<Uint8Array, void, undefined> {
  const stream = verifying(source, descriptor, where, hashFactoryFor(descriptor.digest, hash));
  markVerified(stream, { digest: descriptor.digest, size: descriptor.size });
  return stream;
}

async function* verifying(
  source: AsyncIterable<Uint8Array>,
  descriptor: VerifyTarget,
  where: string,
  hash: HashFactory,
): AsyncGenerator<Uint8Array, void, undefined> {
  let hasher: ReturnType<HashFactory['create']> | undefined;
  let decided = false;
  let seen = 0;
  for await (const chunk of source) {
    if (!decided) {
      // Decided at the first chunk: a lazy source knows what it verifies only once it has started.
      decided = true;
      hasher = isVerifiedFor(source, descriptor) ? undefined : hash.create();
    }
    seen += chunk.byteLength;
    if (seen > descriptor.size) {
      throw new SizeMismatchError(descriptor.size, seen, where);
    }
    hasher?.update(chunk);
    yield chunk;
  }
  if (seen !== descriptor.size) {
    throw new SizeMismatchError(descriptor.size, seen, where);
  }
  // The source threw already if its bytes were wrong.
  if (decided ? hasher === undefined : isVerifiedFor(source, descriptor)) return;
  const actual = (hasher ?? hash.create()).digest();
  if (actual !== descriptor.digest) {
    throw new DigestMismatchError(descriptor.digest, actual, where);
  }
}

function isVerifiedFor(source: object, descriptor: VerifyTarget): boolean {
  const target = verifiedTarget(source);
  return target !== undefined && target.digest === descriptor.digest && target.size === descriptor.size;
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
  return concatBytes(chunks, total);
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
