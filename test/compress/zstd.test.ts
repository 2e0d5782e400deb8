import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_ZSTD_CHUNK_SIZE,
  defaultGzipEncoder,
  defaultZstdEncoder,
  fflateGzip,
  layerEncoder,
  zstdWasm,
  ZSTD_WASM_VERSION,
} from '../../src/compress/index.ts';
import { encoderIdentity } from '../../src/cache/key.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { chunked, collect, prng } from '../helpers/data.ts';
import { repoRoot } from '../helpers/cli.ts';

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function textLike(size: number, rand: () => number): Uint8Array {
  const words = ['function', 'return', 'const', 'module.exports', 'require', '{', '}', '(', ')', ';\n', 'this', 'value', 'index'];
  let s = '';
  while (s.length < size) s += `${words[Math.floor(rand() * words.length)]} `;
  return Buffer.from(s.slice(0, size));
}

/** Decodes with the zstd CLI (an implementation independent of the encoder's WASM build). */
function zstdCli(data: Uint8Array): Buffer {
  const run = spawnSync('zstd', ['-dc'], { input: data, maxBuffer: 1 << 28 });
  assert.equal(run.status, 0, `zstd -dc failed: ${run.stderr?.toString()}`);
  return run.stdout;
}

/** Counts the zstd frames of `data` with `zstd -l -v` (which reads files only). */
function frameCount(data: Uint8Array): number {
  const dir = mkdtempSync(path.join(tmpdir(), 'ocibuild-zstd-'));
  try {
    const file = path.join(dir, 'x.zst');
    writeFileSync(file, data);
    const run = spawnSync('zstd', ['-l', '-v', file], { encoding: 'utf8' });
    const match = /# Zstandard Frames:\s*(\d+)/.exec(run.stdout);
    assert.ok(match, `zstd -l -v gave no frame count: ${run.stdout}${run.stderr}`);
    return Number(match[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CHUNK = 4096; // small chunks so the inputs below span many frames quickly
const inputs: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['one byte', Uint8Array.of(42)],
  ['exactly one chunk', textLike(CHUNK, prng(1))],
  ['text, many chunks', textLike(CHUNK * 7 + 123, prng(2))],
  ['incompressible', randomBytes(CHUNK * 5 + 17)],
];

describe('zstdWasm', () => {
  for (const [name, data] of inputs) {
    it(`gives one output for any input chunking, and zstd -d gives the input back: ${name}`, async () => {
      const encoder = zstdWasm({ chunkSize: CHUNK });
      const reference = await collect(encoder.encode(chunked(data, () => data.length || 1)));
      const rand = prng(data.length + 11);
      const chunkers: (() => number)[] = [() => 1, () => CHUNK - 1, () => CHUNK, () => CHUNK + 1, () => Math.floor(rand() * 3 * CHUNK), () => Math.floor(rand() * 10)];
      for (const sizes of chunkers) assert.equal(sha(await collect(encoder.encode(chunked(data, sizes)))), sha(reference));
      assert.deepEqual(zstdCli(reference), Buffer.from(data));
      // One frame per chunk; an empty input still gives one (empty) frame, a valid zstd stream.
      const frames = Math.max(1, Math.ceil(data.length / CHUNK));
      assert.equal(frameCount(reference), frames);
    });
  }

  it('concatenates independent frames: each chunk alone decodes to its slice', async () => {
    const data = textLike(CHUNK * 3, prng(5));
    const whole = await collect(zstdWasm({ chunkSize: CHUNK }).encode(chunked(data, () => 1000)));
    const first = await collect(zstdWasm({ chunkSize: CHUNK }).encode(chunked(data.subarray(0, CHUNK), () => 1000)));
    // The first frame of the whole stream is exactly the single-chunk encoding.
    assert.deepEqual(whole.subarray(0, first.length), first);
    assert.deepEqual(zstdCli(whole.subarray(0, first.length)), Buffer.from(data.subarray(0, CHUNK)));
  });

  it('keeps the output contract: the default encoder writes these exact bytes', async () => {
    // A new library version, level or chunk size changes every zstd layer digest (and must
    // change ZSTD_WASM_VERSION or the defaults with it, which are in cache keys): this pins it.
    const out = await collect(defaultZstdEncoder.encode(chunked(textLike(100_000, prng(7)), () => 999)));
    assert.equal(out.length, 18001);
    assert.equal(sha(out), 'f78e41e0029aa8e1abb9963c3ef3c07583dd4aa5eb475f5bba407d5ccfd910a8');
  });

  it('gives the same bytes in another process (a fresh WASM instance)', async () => {
    const data = textLike(DEFAULT_ZSTD_CHUNK_SIZE + 100_000, prng(42));
    const out = await collect(defaultZstdEncoder.encode(chunked(data, () => 65_536)));
    assert.deepEqual(zstdCli(out), Buffer.from(data));
    // Another process (a fresh WASM instance) writes the very same bytes.
    const script = `
      import { defaultZstdEncoder } from ${JSON.stringify(path.join(repoRoot, 'src/compress/index.ts'))};
      import { chunked, collect, prng } from ${JSON.stringify(path.join(repoRoot, 'test/helpers/data.ts'))};
      import { createHash } from 'node:crypto';
      const words = ['function', 'return', 'const', 'module.exports', 'require', '{', '}', '(', ')', ';\\n', 'this', 'value', 'index'];
      const rand = prng(42); let s = '';
      while (s.length < ${data.length}) s += words[Math.floor(rand() * words.length)] + ' ';
      const data = Buffer.from(s.slice(0, ${data.length}));
      const out = await collect(defaultZstdEncoder.encode(chunked(data, () => 1_000_003)));
      process.stdout.write(createHash('sha256').update(out).digest('hex'));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, sha(out));
    // Two frames: a full 4 MiB chunk and the rest.
    assert.equal(frameCount(out), 2);
  });

  it('changes its output with the level and the chunk size (both are in its identity)', async () => {
    const data = textLike(200_000, prng(9));
    const a = sha(await collect(zstdWasm({ level: 3 }).encode(chunked(data, () => 7000))));
    const b = sha(await collect(zstdWasm({ level: 9 }).encode(chunked(data, () => 7000))));
    const c = sha(await collect(zstdWasm({ level: 3, chunkSize: 65_536 }).encode(chunked(data, () => 7000))));
    assert.equal(new Set([a, b, c]).size, 3);
    const ids = [zstdWasm({ level: 3 }), zstdWasm({ level: 9 }), zstdWasm({ level: 3, chunkSize: 65_536 })].map((e) => encoderIdentity(e, 'zstd'));
    assert.equal(new Set(ids).size, 3);
    assert.equal(ids[0], `zstd-wasm/${ZSTD_WASM_VERSION}/3/${DEFAULT_ZSTD_CHUNK_SIZE}`);
    assert.notEqual(ids[0], encoderIdentity(defaultGzipEncoder, 'gzip'));
  });

  it('names the installed library version in its identity', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'node_modules/@bokuweb/zstd-wasm/package.json'), 'utf8')) as { version: string };
    assert.equal(ZSTD_WASM_VERSION, pkg.version);
    assert.equal(defaultZstdEncoder.implementation, `zstd-wasm/${pkg.version}`);
    const declared = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(declared.dependencies['@bokuweb/zstd-wasm'], pkg.version, 'the dependency must be pinned exactly: its version is in cache keys');
  });

  it('refuses levels and chunk sizes out of range', () => {
    for (const level of [0, 20, 22, -1, 2.5, Number.NaN]) assert.throws(() => zstdWasm({ level }), InvalidArgumentError, String(level));
    for (const chunkSize of [0, -1, 1.5, 64 * 1024 * 1024 + 1]) assert.throws(() => zstdWasm({ chunkSize }), InvalidArgumentError, String(chunkSize));
  });
});

describe('layerEncoder', () => {
  it('gives the defaults, one object per format and level', () => {
    assert.equal(layerEncoder({}), defaultGzipEncoder);
    assert.equal(layerEncoder({ compression: 'gzip', level: 6 }), defaultGzipEncoder);
    assert.equal(layerEncoder({ compression: 'zstd' }), defaultZstdEncoder);
    const z7 = layerEncoder({ compression: 'zstd', level: 7 });
    assert.equal(z7.level, 7);
    assert.equal(z7.format, 'zstd');
    assert.equal(layerEncoder({ compression: 'zstd', level: 7 }), z7);
    assert.equal(layerEncoder({ compression: 'gzip', level: 1 }).level, 1);
  });

  it('refuses a level out of range for the format, an unknown format and a mismatched encoder', () => {
    assert.throws(() => layerEncoder({ compression: 'zstd', level: 0 }), /zstd level must be an integer 1-19/);
    assert.throws(() => layerEncoder({ compression: 'gzip', level: 12 }), /gzip level must be an integer 0-9/);
    assert.throws(() => layerEncoder({ compression: 'brotli' as 'gzip' }), /compression must be "gzip" or "zstd"/);
    assert.throws(() => layerEncoder({ compression: 'zstd', encoder: fflateGzip({ level: 6 }) }), /encoder given writes gzip/);
    assert.throws(() => layerEncoder({ compression: 'gzip', encoder: defaultZstdEncoder }), /encoder given writes zstd/);
    assert.throws(() => layerEncoder({ level: 5, encoder: defaultZstdEncoder }), /differs from the level of the encoder/);
    assert.equal(layerEncoder({ encoder: defaultZstdEncoder }), defaultZstdEncoder);
  });
});
