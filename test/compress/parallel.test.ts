import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { fflateGzip } from '../../src/compress/index.ts';
import { deflateBlock } from '../../src/compress/worker.ts';
import { chunked, collect, prng, mixedData } from '../helpers/data.ts';

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');


describe('parallel fflate gzip', () => {
  const BLOCK = 64 * 1024;
  const data = mixedData(BLOCK * 23 + 777, 1);

  it('gives the same bytes inline, with 1 and with 3 workers, for any input chunking', async () => {
    const inline = await collect(fflateGzip({ blockSize: BLOCK, worker: false }).encode(chunked(data, () => BLOCK)));
    const rand = prng(5);
    const runs: [string, Uint8Array][] = [
      ['1 worker, 1-block chunks', await collect(fflateGzip({ blockSize: BLOCK, workers: 1 }).encode(chunked(data, () => BLOCK)))],
      ['3 workers, random chunks', await collect(fflateGzip({ blockSize: BLOCK, workers: 3 }).encode(chunked(data, () => Math.max(1, Math.floor(rand() * 3 * BLOCK)))))],
      ['3 workers, tiny chunks', await collect(fflateGzip({ blockSize: BLOCK, workers: 3 }).encode(chunked(data, () => 1 + Math.floor(rand() * 700))))],
      ['1 worker, whole input', await collect(fflateGzip({ blockSize: BLOCK, workers: 1 }).encode(chunked(data, () => data.length)))],
      ['inline, odd chunks', await collect(fflateGzip({ blockSize: BLOCK, worker: false }).encode(chunked(data, () => BLOCK + 1)))],
    ];
    for (const [name, out] of runs) assert.equal(sha(out), sha(inline), name);
    assert.ok(gunzipSync(inline).equals(data), 'node:zlib reads it');
    const sys = spawnSync('gzip', ['-dc'], { input: inline, maxBuffer: 1 << 26 });
    assert.equal(sys.status, 0, String(sys.stderr));
    assert.ok(sys.stdout.equals(data), 'gzip -d reads it');
    assert.ok(inline.length < data.length * 0.8, 'it compresses');
  });

  it('round-trips at levels 0, 1 and 9, exact multiples of the block size and the default block size', async () => {
    for (const level of [0, 1, 9]) {
      const out = await collect(fflateGzip({ blockSize: BLOCK, level, workers: 2 }).encode(chunked(data, () => 50_000)));
      assert.ok(gunzipSync(out).equals(data), `level ${level}`);
    }
    const exact = data.subarray(0, BLOCK * 4);
    const out = await collect(fflateGzip({ blockSize: BLOCK, workers: 2 }).encode(chunked(exact, () => 10_000)));
    assert.ok(gunzipSync(out).equals(exact));
    const big = mixedData(3 * 1024 * 1024 + 5, 2);
    const parallel = await collect(fflateGzip({ workers: 2 }).encode(chunked(big, () => 300_000)));
    const inline = await collect(fflateGzip({ worker: false }).encode(chunked(big, () => 1 << 20)));
    assert.equal(sha(parallel), sha(inline));
    assert.ok(gunzipSync(parallel).equals(big));
  });

  it('ends every non-final block with a byte-aligned sync flush', () => {
    const rand = prng(9);
    let previous: Uint8Array | undefined;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const block = mixedData(1 + Math.floor(rand() * 30_000), 100 + i);
      const out = Buffer.concat(deflateBlock(block, previous?.subarray(-32768), 6, false));
      assert.deepEqual([...out.subarray(-4)], [0, 0, 0xff, 0xff], `block ${i}`);
      // The stream so far decodes to exactly the input so far (inflateRaw stops at the flush).
      parts.push(out);
      previous = block;
    }
    parts.push(...deflateBlock(new Uint8Array(0), previous?.subarray(-32768), 6, true));
    assert.doesNotThrow(() => inflateRawSync(Buffer.concat(parts)));
  });

  it('pulls at most a few blocks ahead of what the consumer took', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 200; i++) {
        pulled += BLOCK;
        yield mixedData(BLOCK, 50 + i);
      }
    }
    const iterator = fflateGzip({ blockSize: BLOCK, workers: 1 }).encode(endless())[Symbol.asyncIterator]();
    for (let i = 0; i < 4; i++) await iterator.next();
    await iterator.return?.(undefined);
    assert.ok(pulled <= 7 * BLOCK, `pulled ${pulled / BLOCK} blocks`);
  });
});
