import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OcibuildError } from '../../src/errors.ts';
import { readHostFile, walkDirectory } from '../../src/layer/source.ts';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('readHostFile', () => {
  it('reads small (synchronous path) and large files exactly, and refuses a file that shrank, vanished or became a FIFO', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-source-'));
    try {
      const small = path.join(dir, 'small');
      const large = path.join(dir, 'large');
      const smallBytes = Buffer.alloc(5000, 7);
      const largeBytes = Buffer.alloc(700 * 1024, 9);
      await fs.writeFile(small, smallBytes);
      await fs.writeFile(large, largeBytes);
      assert.deepEqual(await collect(readHostFile(small, smallBytes.length)), smallBytes);
      assert.deepEqual(await collect(readHostFile(large, largeBytes.length)), largeBytes);
      // Bytes beyond the listed size are ignored; fewer are an error.
      assert.deepEqual(await collect(readHostFile(small, 100)), smallBytes.subarray(0, 100));
      for (const size of [6000, 800 * 1024]) {
        const file = size > 65536 ? large : small;
        await assert.rejects(collect(readHostFile(file, size)), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_LAYER' && /shrank/.test(e.message));
      }
      await assert.rejects(collect(readHostFile(path.join(dir, 'gone'), 10)), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_SOURCE_NOT_FOUND');
      // Listed as a regular file, then swapped for a FIFO with no writer: an error, not a hang.
      await fs.rm(small);
      execFileSync('mkfifo', [small]);
      await assert.rejects(collect(readHostFile(small, 10)), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_LAYER' && /no longer a regular file/.test(e.message));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('walkDirectory', () => {
  it('lists every path of a large tree (yielding to the event loop on the way) and honours exclude and filter', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-walk-'));
    try {
      for (let d = 0; d < 30; d++) {
        await fs.mkdir(path.join(dir, `d${d}`, 'sub'), { recursive: true });
        for (let f = 0; f < 200; f++) await fs.writeFile(path.join(dir, `d${d}`, 'sub', `f${f}`), '');
      }
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      const all = await walkDirectory(dir);
      clearInterval(timer);
      assert.equal(all.length, 30 * 202);
      assert.ok(ticks > 0, 'timers ran during the walk');
      const some = await walkDirectory(dir, { exclude: ['d1*'], filter: (relative) => !relative.endsWith('/f0') });
      // d1 and d10-d19 excluded (11 folders), f0 filtered out of the other 19.
      assert.equal(some.length, 19 * 201);
      assert.ok(some.every((p) => p.stats !== undefined && p.absolute === path.join(dir, p.relative)));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
