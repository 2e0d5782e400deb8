import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  DEFAULT_LIBDEFLATE_BLOCK_SIZE,
  defaultGzipDecoder,
  defaultGzipEncoder,
  fflateGzip,
  layerEncoder,
  LIBDEFLATE_VERSION,
  libdeflateGzip,
} from '../../src/compress/index.ts';
import { storedMember } from '../../src/compress/libdeflate.ts';
import { encoderIdentity, layerCacheKey } from '../../src/cache/key.ts';
import { chunked, collect, prng, sha256 as sha, mixedData } from '../helpers/data.ts';
import { repoRoot } from '../helpers/cli.ts';


const BLOCK = 64 * 1024;
const data = mixedData(BLOCK * 9 + 777, 11);

describe('libdeflateGzip', () => {
  it('gives the same bytes inline, with 1 and with 3 workers, for any input chunking', async () => {
    const inline = await collect(libdeflateGzip({ blockSize: BLOCK, worker: false }).encode(chunked(data, () => BLOCK)));
    const rand = prng(5);
    const runs: [string, Uint8Array][] = [
      ['1 worker, 1-block chunks', await collect(libdeflateGzip({ blockSize: BLOCK, workers: 1 }).encode(chunked(data, () => BLOCK)))],
      ['3 workers, random chunks', await collect(libdeflateGzip({ blockSize: BLOCK, workers: 3 }).encode(chunked(data, () => Math.max(1, Math.floor(rand() * 3 * BLOCK)))))],
      ['3 workers, tiny chunks', await collect(libdeflateGzip({ blockSize: BLOCK, workers: 3 }).encode(chunked(data, () => 1 + Math.floor(rand() * 700))))],
      ['1 worker, whole input', await collect(libdeflateGzip({ blockSize: BLOCK, workers: 1 }).encode(chunked(data, () => data.length)))],
      ['inline, odd chunks', await collect(libdeflateGzip({ blockSize: BLOCK, worker: false }).encode(chunked(data, () => BLOCK + 1)))],
    ];
    for (const [name, out] of runs) assert.equal(sha(out), sha(inline), name);
    assert.ok(gunzipSync(inline).equals(data), 'node:zlib reads it');
    assert.ok(inline.length < data.length * 0.8, 'it compresses');
  });

  it('writes one gzip member per block, which gzip, zcat, node:zlib and our decoder read as one stream', async () => {
    const out = await collect(libdeflateGzip({ blockSize: BLOCK }).encode(chunked(data, () => 10_000)));
    // Every member starts with the 10-byte header libdeflate writes (mtime 0, OS unknown); ten
    // fixed bytes do not turn up by chance in this little compressed data.
    let members = 0;
    for (let i = 0; i + 10 <= out.length; i++) {
      if (out[i] === 0x1f && out[i + 1] === 0x8b && out[i + 2] === 8 && out[i + 3] === 0 && out[i + 4] === 0 && out[i + 7] === 0 && out[i + 9] === 0xff) members++;
    }
    assert.equal(members, Math.ceil(data.length / BLOCK), 'one member per block');
    assert.deepEqual([...out.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    const test = spawnSync('gzip', ['-t'], { input: out });
    assert.equal(test.status, 0, String(test.stderr));
    const zcat = spawnSync('zcat', [], { input: out, maxBuffer: 1 << 26 });
    assert.equal(zcat.status, 0, String(zcat.stderr));
    assert.ok(zcat.stdout.equals(data), 'zcat gives the input back');
    assert.ok(Buffer.from(await collect(defaultGzipDecoder.decode(chunked(out, () => 333)))).equals(data), 'defaultGzipDecoder reads it');
  });

  it('round-trips at levels 0, 1, 6 and 9, empty input, exact multiples of the block size', async () => {
    for (const level of [0, 1, 6, 9]) {
      const out = await collect(libdeflateGzip({ blockSize: BLOCK, level, workers: 2 }).encode(chunked(data, () => 50_000)));
      assert.ok(gunzipSync(out).equals(data), `level ${level}`);
      assert.equal(out[8], level === 9 ? 2 : level < 2 ? 4 : 0, `XFL at level ${level}`);
    }
    const exact = data.subarray(0, BLOCK * 4);
    assert.ok(gunzipSync(await collect(libdeflateGzip({ blockSize: BLOCK }).encode(chunked(exact, () => BLOCK)))).equals(exact));
    const empty = await collect(defaultGzipEncoder.encode(chunked(new Uint8Array(0), () => 1)));
    assert.equal(gunzipSync(empty).length, 0);
    assert.ok(empty.length > 0, 'an empty input still gives a valid gzip file');
    // Level 0 in large pieces: stored blocks are at most 65535 bytes each.
    const big = randomBytes(200_000);
    assert.ok(gunzipSync(storedMember(big)).equals(big));
    assert.ok(gunzipSync(storedMember(new Uint8Array(0))).length === 0);
  });

  it('keeps the output contract: the default encoder writes these exact bytes', async () => {
    // A new libdeflate version, level or block size changes every gzip layer digest (and must
    // change LIBDEFLATE_VERSION or the defaults with it, which name the encoder in cache keys).
    const input = mixedData(DEFAULT_LIBDEFLATE_BLOCK_SIZE + 100_000, 7);
    const out = await collect(defaultGzipEncoder.encode(chunked(input, () => 999)));
    assert.equal(sha(out), 'sha256:0848bf46773c0a244e4191cb471cd9caef294b88b8295d3a6165e6a0cc6c90e5');
  });

  it('names its package version, and the installed and declared versions agree with it', () => {
    assert.equal(defaultGzipEncoder.implementation, `libdeflate-wasm/${LIBDEFLATE_VERSION}`);
    assert.equal(defaultGzipEncoder.level, 6);
    const installed = JSON.parse(readFileSync(path.join(repoRoot, 'node_modules/libdeflate/package.json'), 'utf8')) as { version: string };
    assert.equal(installed.version, LIBDEFLATE_VERSION, 'node_modules/libdeflate differs from LIBDEFLATE_VERSION: new bytes, so new layer digests');
    const declared = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(declared.dependencies['libdeflate'], LIBDEFLATE_VERSION, 'libdeflate must be pinned exactly');
  });

  it('puts implementation, version, level and block size into layer cache keys', () => {
    const identities = [
      encoderIdentity(defaultGzipEncoder, 'gzip'),
      encoderIdentity(libdeflateGzip({ level: 9 }), 'gzip'),
      encoderIdentity(libdeflateGzip({ blockSize: 512 * 1024 }), 'gzip'),
      encoderIdentity(fflateGzip(), 'gzip'),
      encoderIdentity(fflateGzip({ blockSize: 64 * 1024 }), 'gzip'),
    ];
    assert.equal(identities[0], `libdeflate-wasm/${LIBDEFLATE_VERSION}/6`);
    assert.equal(identities[3], 'fflate/6', 'the default fflate identity keeps the keys made before libdeflate');
    assert.equal(new Set(identities).size, identities.length, identities.join(' '));
    const entries = [{ entry: { path: 'a', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: 1 }, contentDigest: `sha256:${'1'.repeat(64)}` }];
    const keys = identities.map((encoder) => layerCacheKey(entries, { compression: 'gzip', encoder, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }));
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(layerEncoder({}), defaultGzipEncoder);
    assert.match(layerEncoder({ level: 1 }).implementation, /^libdeflate-wasm\//);
  });

  it('adds no process listeners (the Emscripten glue would)', async () => {
    const before = process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');
    await collect(libdeflateGzip({ level: 3 }).encode(chunked(data, () => data.length)));
    assert.equal(process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection'), before);
  });

  it('fails with ERR_UNSUPPORTED naming fflate where WebAssembly is missing (node --jitless), never switching encoders', () => {
    // tsx itself needs WebAssembly, so the child drops the global after tsx has loaded (its
    // loader runs on another thread), which is what --jitless leaves the encoder to see.
    const script = `
      delete globalThis.WebAssembly;
      const { defaultGzipEncoder } = await import(${JSON.stringify(path.join(repoRoot, 'src/compress/index.ts'))});
      async function* one() { yield new Uint8Array(10); }
      try {
        for await (const _ of defaultGzipEncoder.encode(one())) {}
        console.log('encoded');
      } catch (error) {
        console.log(error.code, error.message);
      }
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    assert.match(child.stdout, /^ERR_UNSUPPORTED .*WebAssembly.*--gzip-encoder fflate/, child.stdout + child.stderr);
  });

  it('rejects bad options', () => {
    assert.throws(() => libdeflateGzip({ level: 10 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => libdeflateGzip({ blockSize: 0 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => libdeflateGzip({ blockSize: 65 * 1024 * 1024 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => libdeflateGzip({ workers: 0 }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
