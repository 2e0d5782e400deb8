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

/**
 * A byte stream that yields exactly the bytes of a stream verified against a digest and size:
 * what {@link verifyStream} returns, and what a wrapper that passes every byte of a verified
 * stream through unchanged (and rethrows its errors) may return. A verifying consumer of a
 * `VerifiedStream` for the same digest and size need not hash again: the source throws before
 * its end on a mismatch.
 *
 * The claim is a private field, so only a `VerifiedStream` has it (no registry keyed by
 * objects). Iterate it once: `next`, `return` and `for await` share one iterator of the source.
 */
export class VerifiedStream implements AsyncGenerator<Uint8Array, void, undefined> {
  readonly #source: AsyncIterable<Uint8Array>;
  readonly #target: () => VerifyTarget | undefined;
  #iterator: AsyncIterator<Uint8Array, void, undefined> | undefined;

  /**
   * Wraps `source`, verified against `target`, or against what `target()` returns once known
   * (a lazy wrapper whose inner stream exists only after the first read).
   */
  constructor(source: AsyncIterable<Uint8Array>, target: VerifyTarget | (() => VerifyTarget | undefined)) {
    this.#source = source;
    this.#target = typeof target === 'function' ? target : () => ({ digest: target.digest, size: target.size });
  }

  /** What the stream is verified against (undefined while a lazy wrapper has not started). */
  get verified(): VerifyTarget | undefined {
    return this.#target();
  }

  /** What `value` is verified against when it is a `VerifiedStream`, else undefined. */
  static targetOf(value: unknown): VerifyTarget | undefined {
    return typeof value === 'object' && value !== null && #target in value ? (value as VerifiedStream).verified : undefined;
  }

  #it(): AsyncIterator<Uint8Array, void, undefined> {
    return (this.#iterator ??= this.#source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array, void, undefined>);
  }

  /** Next chunk of the source. */
  next(): Promise<IteratorResult<Uint8Array, void>> {
    return this.#it().next();
  }

  /** Stops reading: the source's `return` runs (releasing what it holds). */
  async return(value?: void | PromiseLike<void>): Promise<IteratorResult<Uint8Array, void>> {
    // Opens the source's iterator if need be: a hand-written source may release what it holds
    // (a download slot) only in its `return`.
    const iterator = this.#it();
    if (iterator.return !== undefined) return await iterator.return(await value);
    return { done: true, value: undefined };
  }

  /** Passes `error` to the source (or stops it and rethrows when it takes none). */
  async throw(error?: unknown): Promise<IteratorResult<Uint8Array, void>> {
    const iterator = this.#it();
    if (iterator.throw !== undefined) return await iterator.throw(error);
    await iterator.return?.();
    throw error;
  }

  /** The stream itself (one pass). */
  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** What `stream` is verified against, when it is a {@link VerifiedStream}. */
export function verifiedTarget(stream: object): VerifyTarget | undefined {
  return VerifiedStream.targetOf(stream);
}

/**
 * Passes `source` through while checking it against `descriptor`: throws `SizeMismatchError`
 * as soon as more than `size` bytes arrive (the excess is never yielded), and at the end
 * `SizeMismatchError` when fewer arrived or `DigestMismatchError` when the hash differs.
 * `where` names the blob's location in messages (`oci:/tmp/x blob sha256:...`).
 *
 * A `source` that is a {@link VerifiedStream} for the same digest and size (a transport's
 * `getBlob` stream) is not hashed a second time: it throws before its end on a mismatch, which
 * this stream passes on, so the guarantee is the same at half the hashing cost.
 */
export function verifyStream(
  source: AsyncIterable<Uint8Array>,
  descriptor: VerifyTarget,
  where: string,
  hash?: HashFactory,
): VerifiedStream {
  return new VerifiedStream(verifying(source, descriptor, where, hashFactoryFor(descriptor.digest, hash)), descriptor);
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
  const target = VerifiedStream.targetOf(source);
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

/**
 * Reads a whole stream into one byte array, unverified.
 * @example
 * ```ts
 * import { ociLayout, openImage, readAll } from 'ocibuild';
 *
 * const image = await openImage(ociLayout('./base'), 'latest', { platform: { os: 'linux', architecture: 'amd64' } });
 * const tar = await readAll(image.layers[0]!.openUncompressed()); // verified against the diffID
 * ```
 * @category Images
 */
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
