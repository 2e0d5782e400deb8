import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { crc32, defaultGzipEncoder, fflateGzip, nodeGunzip, nodeGzip } from '../../src/compress/index.ts';
import { crc32Portable } from '../../src/compress/crc32.ts';
import type { GzipEncoder } from '../../src/compress/index.ts';
import { chunked, collect, prng } from '../helpers/data.ts';

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function textLike(size: number, rand: () => number): Uint8Array {
  const words = ['function', 'return', 'const', 'module.exports', 'require', '{', '}', '(', ')', ';\n', 'this', 'value', 'index'];
  let s = '';
  while (s.length < size) s += words[Math.floor(rand() * words.length)] + ' ';
  return Buffer.from(s.slice(0, size));
}

const BLOCK = 4096; // small block so the inputs below span many blocks quickly
const inputs: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['one byte', Uint8Array.of(42)],
  ['exactly one block', textLike(BLOCK, prng(1))],
  ['text, many blocks', textLike(BLOCK * 7 + 123, prng(2))],
  ['incompressible', randomBytes(BLOCK * 5 + 17)],
];

describe('fflateGzip', () => {
  for (const [name, data] of inputs) {
    it(`gives one digest for any chunking: ${name}`, async () => {
      const enc = fflateGzip({ blockSize: BLOCK });
      const reference = sha(await collect(enc.encode(chunked(data, () => data.length || 1))));
      const rand = prng(data.length + 7);
      const chunkers: (() => number)[] = [
        () => 1,
        () => BLOCK - 1,
        () => BLOCK + 1,
        () => Math.floor(rand() * 3 * BLOCK),
        () => Math.floor(rand() * 10),
      ];
      for (const sizes of chunkers) {
        const out = await collect(enc.encode(chunked(data, sizes)));
        assert.equal(sha(out), reference);
      }
      // An explicit empty chunk in the middle changes nothing.
      async function* withEmpty(): AsyncGenerator<Uint8Array> {
        yield data.subarray(0, 3);
        yield new Uint8Array(0);
        yield data.subarray(3);
      }
      assert.equal(sha(await collect(enc.encode(withEmpty()))), reference);
    });
  }

  it('writes a reproducible header (mtime 0, no name) and level-dependent output', async () => {
    const data = textLike(50_000, prng(3));
    const out6 = await collect(fflateGzip().encode(chunked(data, () => 999)));
    assert.deepEqual([...out6.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    const out1 = await collect(fflateGzip({ level: 1 }).encode(chunked(data, () => 999)));
    assert.notEqual(sha(out1), sha(out6));
    assert.equal(out1[8], 4);
  });

  it('gives the same bytes with and without the worker thread', async () => {
    for (const [, data] of inputs) {
      const inline = await collect(fflateGzip({ blockSize: BLOCK, worker: false }).encode(chunked(data, () => 5000)));
      const worker = await collect(fflateGzip({ blockSize: BLOCK, worker: true }).encode(chunked(data, () => 3000)));
      assert.equal(sha(worker), sha(inline));
    }
  });

  it('rejects bad options', () => {
    assert.throws(() => fflateGzip({ level: 10 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => fflateGzip({ blockSize: 0 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => nodeGzip({ level: -1 }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('round trips', () => {
  const encoders: GzipEncoder[] = [defaultGzipEncoder, fflateGzip({ blockSize: BLOCK, level: 9 }), fflateGzip({ level: 0 }), nodeGzip()];
  for (const enc of encoders) {
    it(`gunzip(gzip(x)) = x with ${enc.implementation} level ${enc.level}, also for system gzip -d`, async () => {
      for (const [, data] of inputs) {
        const gz = await collect(enc.encode(chunked(data, () => 1000)));
        const back = await collect(nodeGunzip().decode(chunked(gz, () => 77)));
        assert.equal(sha(back), sha(data));
        const sys = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 26 });
        assert.equal(sys.status, 0, String(sys.stderr));
        assert.equal(sha(sys.stdout), sha(data));
      }
    });
  }

  it('decodes concatenated members', async () => {
    const a = await collect(defaultGzipEncoder.encode(chunked(Buffer.from('hello '), () => 100)));
    const b = await collect(nodeGzip().encode(chunked(Buffer.from('world'), () => 100)));
    const out = await collect(nodeGunzip().decode(chunked(Buffer.concat([a, b]), () => 5)));
    assert.equal(Buffer.from(out).toString(), 'hello world');
  });

  it('fails on corrupt input with ERR_LAYER', async () => {
    const gz = await collect(defaultGzipEncoder.encode(chunked(textLike(10_000, prng(4)), () => 100)));
    const bad = Buffer.from(gz);
    bad[20] = bad[20]! ^ 0xff;
    bad[gz.length - 6] = bad[gz.length - 6]! ^ 0xff; // break the CRC too, whatever the block damage does
    await assert.rejects(collect(nodeGunzip().decode(chunked(bad, () => 100))), { code: 'ERR_LAYER' });
  });
});

describe('crc32', () => {
  it('matches the check value and is incremental; portable and native agree', () => {
    const check = Buffer.from('123456789');
    assert.equal(crc32(check), 0xcbf43926);
    assert.equal(crc32Portable(check), 0xcbf43926);
    const data = randomBytes(10_001);
    assert.equal(crc32(data.subarray(5000), crc32(data.subarray(0, 5000))), crc32(data));
    assert.equal(crc32Portable(data.subarray(5000), crc32Portable(data.subarray(0, 5000))), crc32(data));
  });
});
