// The built-in zstd decoder (WASM, frame by frame), used when the `zstd` program is not on
// PATH: it reads what the encoder writes and what `zstd` writes from a file, skips skippable
// frames, and refuses truncated, corrupt and oversized input with typed errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hasZstdProgram, zstdDecoder, zstdWasm, zstdWasmDecoder } from '../../src/compress/index.ts';
import { openLayerTar } from '../../src/layer/decode.ts';
import { writeLayer } from '../../src/layer/write.ts';
import { OcibuildError, UnsupportedError } from '../../src/errors.ts';
import { chunked, collect, prng } from '../helpers/data.ts';

function textLike(size: number, rand: () => number): Buffer {
  let s = '';
  while (s.length < size) s += `${Math.floor(rand() * 1000)} lorem ipsum dolor ${rand() < 0.5 ? 'sit' : 'amet'}\n`;
  return Buffer.from(s.slice(0, size));
}

/** `zstd -q -c FILE` output: one frame with the content size in its header. */
function zstdFromFile(data: Uint8Array, extra: string[] = []): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'ocibuild-zstd-dec-'));
  try {
    const file = path.join(dir, 'in');
    writeFileSync(file, data);
    const run = spawnSync('zstd', ['-q', '-c', ...extra, file], { maxBuffer: 1 << 28 });
    assert.equal(run.status, 0, run.stderr.toString());
    return run.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function decodeAll(data: Uint8Array, sizes: () => number): Promise<Buffer> {
  return Buffer.from(await collect(zstdWasmDecoder('test')(chunked(data, sizes))));
}

describe('zstdWasmDecoder', () => {
  it('decodes the encoder output for any chunking of the compressed stream', async () => {
    const data = textLike(300_000, prng(1));
    const compressed = await collect(zstdWasm({ chunkSize: 65_536 }).encode(chunked(data, () => 10_000)));
    const rand = prng(2);
    for (const sizes of [() => compressed.length, () => 1, () => 7, () => Math.floor(rand() * 5000)]) {
      assert.deepEqual(await decodeAll(compressed, sizes), data);
    }
    assert.deepEqual(await decodeAll(await collect(zstdWasm().encode(chunked(Buffer.alloc(0), () => 1))), () => 1), Buffer.alloc(0));
  });

  it('decodes zstd CLI frames (with checksum), across several frames, and skips skippable frames', async () => {
    const a = textLike(50_000, prng(3));
    const b = randomBytes(20_000);
    const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18]), Buffer.from([3, 0, 0, 0]), Buffer.from('xyz')]);
    const stream = Buffer.concat([zstdFromFile(a, ['--check']), skippable, zstdFromFile(b, ['-19'])]);
    assert.deepEqual(await decodeAll(stream, () => 333), Buffer.concat([a, b]));
  });

  it('refuses a frame without a declared size (zstd reading stdin) as unsupported, naming the program', async () => {
    const run = spawnSync('zstd', ['-q', '-c'], { input: textLike(10_000, prng(4)) });
    await assert.rejects(decodeAll(run.stdout, () => 100), (error: unknown) => error instanceof UnsupportedError && /"zstd" program/.test(error.message));
  });

  it('refuses a frame over the size limit, or needing a dictionary, before reading its blocks', async () => {
    // Magic, descriptor (4-byte content size, single segment), 100 MiB.
    const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0x40, 0x06]);
    await assert.rejects(decodeAll(header, () => 1), (error: unknown) => error instanceof UnsupportedError && /over the 67108864/.test(error.message));
    // Magic, descriptor (single segment, 1-byte dictionary ID), dictionary 7.
    const withDictionary = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x21, 0x07, 0x05, 0x01, 0x00, 0x00]);
    await assert.rejects(decodeAll(withDictionary, () => 1), (error: unknown) => error instanceof UnsupportedError && /dictionary/.test(error.message));
  });

  it('refuses truncated, corrupt and foreign input with ERR_LAYER', async () => {
    const data = textLike(100_000, prng(5));
    const compressed = await collect(zstdWasm().encode(chunked(data, () => 4096)));
    const isLayerError = (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_LAYER';
    await assert.rejects(decodeAll(compressed.subarray(0, compressed.length - 10), () => 1000), isLayerError);
    const corrupt = Buffer.from(compressed);
    for (let i = 20; i < 60; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    await assert.rejects(decodeAll(corrupt, () => 1000), isLayerError);
    await assert.rejects(decodeAll(Buffer.from('not zstd at all'), () => 4), isLayerError);
  });
});

describe('zstdDecoder', () => {
  it('finds the zstd program on PATH, and falls back to WASM without it', async () => {
    assert.equal(hasZstdProgram({ PATH: '' }), false);
    assert.equal(hasZstdProgram({ PATH: '/nonexistent' }), false);
    assert.equal(hasZstdProgram({ PATH: path.dirname(spawnSync('sh', ['-c', 'command -v zstd']).stdout.toString().trim()) }), true);
  });

  it('reads a zstd layer through openLayerTar with and without the program, checking the diffID', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ocibuild-zstd-layer-'));
    try {
      const layer = await writeLayer(
        { entries: [{ type: 'file', path: 'a.txt', source: textLike(5_000_000, prng(6)) }] },
        { directory: dir, compression: 'zstd' },
      );
      const tarOf = async () => createHash('sha256').update(await collect(openLayerTar(layer.descriptor, layer.open(), { diffId: layer.diffId }))).digest('hex');
      const withProgram = await tarOf();
      const saved = process.env.PATH;
      process.env.PATH = '/nonexistent';
      try {
        assert.equal(hasZstdProgram(), false);
        assert.equal(await tarOf(), withProgram);
        // The default decoder is the WASM one here: it decodes what the encoder wrote.
        assert.equal(createHash('sha256').update(await collect(zstdDecoder('x')(layer.open()))).digest('hex'), layer.diffId.slice(7));
      } finally {
        process.env.PATH = saved;
      }
      assert.equal(`sha256:${withProgram}`, layer.diffId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
