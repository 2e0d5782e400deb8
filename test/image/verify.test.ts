import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { DigestMismatchError, SizeMismatchError } from '../../src/errors.ts';
import { nodeHash } from '../../src/hash/node.ts';
import type { HashFactory } from '../../src/hash/types.ts';
import { readAll, verifiedTarget, VerifiedStream, verifyStream } from '../../src/blob/verify.ts';

const digestOf = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function* chunks(bytes: Uint8Array, size = 1000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** A node:crypto SHA-256 that counts the bytes it hashes. */
function countingHash(): HashFactory & { hashed: number } {
  const inner = nodeHash('sha256');
  const factory = {
    algorithm: 'sha256' as const,
    implementation: 'counting',
    hashed: 0,
    create() {
      const hasher = inner.create();
      return {
        update(data: Uint8Array) {
          factory.hashed += data.byteLength;
          hasher.update(data);
        },
        digest: () => hasher.digest(),
      };
    },
  };
  return factory;
}

describe('verifyStream', () => {
  const bytes = randomBytes(10_000);
  const target = { digest: digestOf(bytes), size: bytes.length };

  it('marks its own stream as verified against the descriptor', () => {
    const stream = verifyStream(chunks(bytes), target, 'test');
    assert.deepEqual(verifiedTarget(stream), target);
    assert.equal(verifiedTarget(chunks(bytes)), undefined, 'an arbitrary stream is not verified');
    assert.ok(stream instanceof VerifiedStream);
    assert.deepEqual(stream.verified, target);
    const lookalike = Object.assign(chunks(bytes), { verified: target });
    assert.equal(VerifiedStream.targetOf(lookalike), undefined, 'a look-alike cannot claim to be verified');
  });

  it('hashes a stream verified against the same descriptor only once', async () => {
    const inner = countingHash();
    const outer = countingHash();
    const out = await readAll(verifyStream(verifyStream(chunks(bytes), target, 'inner', inner), target, 'outer', outer));
    assert.deepEqual(out, new Uint8Array(bytes));
    assert.equal(inner.hashed, bytes.length);
    assert.equal(outer.hashed, 0, 'the outer verification relies on the inner one');
  });

  it('hashes again when the source was verified against something else', async () => {
    const other = { digest: digestOf(bytes.subarray(1)), size: bytes.length - 1 };
    const outer = countingHash();
    // The inner verification fails at the end; the outer one hashed everything on its own.
    await assert.rejects(readAll(verifyStream(verifyStream(chunks(bytes), other, 'inner'), target, 'outer', outer)), SizeMismatchError);
    const sameSize = { digest: digestOf(randomBytes(bytes.length)), size: bytes.length };
    const outer2 = countingHash();
    await assert.rejects(
      readAll(verifyStream(verifyStream(chunks(bytes), target, 'inner'), sameSize, 'outer', outer2)),
      (error: unknown) => error instanceof DigestMismatchError && error.message.includes('outer'),
    );
    assert.equal(outer2.hashed, bytes.length);
  });

  it('still fails when a verified source carries wrong bytes', async () => {
    const corrupt = Buffer.from(bytes);
    corrupt[5000] = corrupt[5000]! ^ 1;
    const outer = countingHash();
    await assert.rejects(readAll(verifyStream(verifyStream(chunks(corrupt), target, 'inner'), target, 'outer', outer)), DigestMismatchError);
    await assert.rejects(readAll(verifyStream(verifyStream(chunks(bytes.subarray(0, 9000)), target, 'inner'), target, 'outer')), SizeMismatchError);
  });

  it('asks a lazy wrapper what it verifies once it has started, and handles empty blobs', async () => {
    let inner: AsyncIterable<Uint8Array> | undefined;
    const lazySource: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        let it: AsyncIterator<Uint8Array> | undefined;
        return {
          next: async () => {
            inner ??= verifyStream(chunks(bytes), target, 'inner');
            it ??= inner[Symbol.asyncIterator]();
            return it.next();
          },
        };
      },
    };
    const lazy = new VerifiedStream(lazySource, () => VerifiedStream.targetOf(inner));
    assert.equal(verifiedTarget(lazy), undefined, 'not known before the first read');
    const outer = countingHash();
    assert.equal((await readAll(verifyStream(lazy, target, 'outer', outer))).length, bytes.length);
    assert.equal(outer.hashed, 0);

    const empty = { digest: digestOf(new Uint8Array(0)), size: 0 };
    assert.equal((await readAll(verifyStream(verifyStream(chunks(new Uint8Array(0)), empty, 'inner'), empty, 'outer'))).length, 0);
    await assert.rejects(readAll(verifyStream(chunks(new Uint8Array(0)), target, 'x')), SizeMismatchError);
  });
});
