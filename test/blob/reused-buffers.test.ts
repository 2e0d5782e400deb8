/**
 * `writeVerifiedFile` writes asynchronously from two alternating buffers (issue 15): a source
 * that refills one buffer for every chunk (as a compressor's output may) still lands exactly
 * its bytes on disk, big chunks (written without a copy) and small ones (batched) alike.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeVerifiedFile } from '../../src/blob/files.ts';

test('a source reusing its buffer for every chunk is written exactly', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ocibuild-reused-'));
  try {
    const bytes = randomBytes(5 * 1024 * 1024 + 777);
    const descriptor = { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
    for (const piece of [1024 * 1024, 300 * 1024, 256 * 1024, 40_000]) {
      const scratch = new Uint8Array(piece);
      const reusing = async function* (): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < bytes.length; i += piece) {
          const n = Math.min(piece, bytes.length - i);
          scratch.set(bytes.subarray(i, i + n));
          yield scratch.subarray(0, n);
        }
      };
      const path = join(dir, `blob-${piece}`);
      await writeVerifiedFile(path, descriptor, reusing, { tempDir: dir, where: 'test' });
      assert.ok((await readFile(path)).equals(bytes), `pieces of ${piece} bytes`);
    }
    assert.deepEqual((await readdir(dir)).filter((f) => !f.startsWith('blob-')), [], 'no temp file left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
