import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getEventListeners } from 'node:events';
import { DigestMismatchError, OcibuildError } from '../../src/errors.ts';
import { writeVerifiedFile } from '../../src/image/files.ts';
import type { Descriptor } from '../../src/oci/types.ts';

const descriptorOf = (bytes: Uint8Array): Descriptor => ({
  mediaType: 'application/octet-stream',
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
});

/** Yields `bytes` in pseudo-random piece sizes from 1 byte to 700 KiB (seeded). */
async function* randomPieces(bytes: Uint8Array, seed: number): AsyncGenerator<Uint8Array> {
  let s = seed;
  for (let i = 0; i < bytes.length; ) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = s % 4 === 0 ? 1 + (s % 100) : 1 + (s % (700 * 1024));
    yield bytes.subarray(i, i + n);
    i += n;
  }
}

describe('writeVerifiedFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-files-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes exactly the bytes, whatever the chunking, with monotonic progress', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 12345);
    const descriptor = descriptorOf(bytes);
    for (const seed of [1, 2, 3]) {
      const path = join(dir, `blob-${seed}`);
      const progress: number[] = [];
      await writeVerifiedFile(path, descriptor, () => randomPieces(bytes, seed), { tempDir: dir, where: 'test', onProgress: (n) => progress.push(n) });
      assert.ok((await readFile(path)).equals(bytes), `seed ${seed}`);
      assert.equal(progress.at(-1), bytes.length);
      assert.ok(progress.every((n, i) => i === 0 || n >= progress[i - 1]!));
    }
    // Small and empty blobs.
    for (const small of [new Uint8Array(0), Uint8Array.of(1, 2, 3)]) {
      const path = join(dir, `small-${small.length}`);
      await writeVerifiedFile(path, descriptorOf(small), async function* () {
        if (small.length > 0) yield small;
      }, { tempDir: dir, where: 'test' });
      assert.deepEqual(new Uint8Array(await readFile(path)), small);
    }
  });

  it('leaves nothing behind on a digest mismatch', async () => {
    const bytes = randomBytes(600_000);
    const wrong = Buffer.from(bytes);
    wrong[599_999] = wrong[599_999]! ^ 0xff;
    const path = join(dir, 'mismatch');
    await assert.rejects(
      writeVerifiedFile(path, descriptorOf(bytes), () => randomPieces(wrong, 9), { tempDir: dir, where: 'test' }),
      DigestMismatchError,
    );
    await assert.rejects(stat(path), { code: 'ENOENT' });
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.ocibuild-blob')), []);
  });

  it('stops a body that never ends when aborted, removes its temp file and its listener', async () => {
    const controller = new AbortController();
    const path = join(dir, 'aborted');
    let yielded = 0;
    const body = async function* (): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1000);
      yielded++;
      await new Promise(() => undefined); // hangs: only the abort can end the write
    };
    const write = writeVerifiedFile(path, descriptorOf(new Uint8Array(5000)), body, { tempDir: dir, where: 'test', signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1, 'one listener for the whole write');
    controller.abort();
    await assert.rejects(write, (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_ABORTED');
    assert.equal(yielded, 1);
    await assert.rejects(stat(path), { code: 'ENOENT' });
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.ocibuild-blob')), []);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);

    // A completed write removes its listener too.
    const done = new AbortController();
    const bytes = randomBytes(1000);
    await writeVerifiedFile(join(dir, 'done'), descriptorOf(bytes), async function* () {
      yield bytes;
    }, { tempDir: dir, where: 'test', signal: done.signal });
    assert.equal(getEventListeners(done.signal, 'abort').length, 0);
  });
});
