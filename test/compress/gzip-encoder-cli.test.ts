// --gzip-encoder on the command line: each name writes exactly the bytes of its encoder (checked
// by re-encoding the layer's tar with that encoder in-process), libdeflate is the default, and
// bad values name the flag.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { defaultGzipEncoder, fflateGzip, nodeGzip, type GzipEncoder } from '../../src/compress/index.ts';
import { runCli } from '../helpers/cli.ts';
import { collect, prng } from '../helpers/data.ts';
import { readImage } from '../helpers/tree.ts';

let tmp: string;
let app: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-gzip-encoder-cli-'));
  app = path.join(tmp, 'app');
  await fs.mkdir(app);
  const rand = prng(3);
  const words = ['alpha ', 'beta ', 'gamma\n', 'delta ', '42 '];
  // Over 1 MiB of tar, so the libdeflate layer has two members.
  await fs.writeFile(path.join(app, 'data.txt'), Array.from({ length: 300_000 }, () => words[Math.floor(rand() * words.length)]).join(''));
  await fs.writeFile(path.join(app, 'index.js'), 'console.log("hi")\n');
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** Runs `append` with `flags` and returns the new layer's bytes. */
async function appendLayer(name: string, flags: string[]): Promise<Buffer> {
  const out = path.join(tmp, name);
  const result = await runCli(['append', '--layer', `${app}:/app`, ...flags, '--to', `oci:${out}:latest`, '--progress', 'quiet']);
  assert.equal(result.code, 0, result.stderr);
  const { manifest } = await readImage(out, 'latest');
  const layer = manifest.layers.at(-1)!;
  return fs.readFile(path.join(out, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)));
}

/** The layer's tar re-encoded with `encoder`. */
async function reencoded(layer: Buffer, encoder: GzipEncoder): Promise<Buffer> {
  const tar = gunzipSync(layer);
  return Buffer.from(await collect(encoder.encode((async function* () { yield tar; })())));
}

describe('--gzip-encoder', () => {
  it('picks the encoder whose bytes the layer has; libdeflate is the default', async () => {
    const byDefault = await appendLayer('default', []);
    assert.ok(byDefault.equals(await reencoded(byDefault, defaultGzipEncoder)), 'default = libdeflate');
    assert.equal(byDefault[9], 0xff, 'libdeflate member header');
    assert.ok((await appendLayer('libdeflate', ['--gzip-encoder', 'libdeflate'])).equals(byDefault));

    const fflate = await appendLayer('fflate', ['--gzip-encoder', 'fflate']);
    assert.ok(fflate.equals(await reencoded(fflate, fflateGzip())), 'fflate bytes');
    assert.ok(!fflate.equals(byDefault));
    const fflate9 = await appendLayer('fflate9', ['--gzip-encoder', 'fflate', '--compression-level', '9']);
    assert.ok(fflate9.equals(await reencoded(fflate9, fflateGzip({ level: 9 }))), 'fflate level 9 bytes');

    const zlib = await appendLayer('zlib', ['--gzip-encoder', 'zlib', '--compression', 'gzip']);
    assert.ok(zlib.equals(await reencoded(zlib, nodeGzip())), 'node:zlib bytes');
  });

  it('refuses unknown names and zstd, naming the flag', async () => {
    const bad = await runCli(['append', '--layer', app, '--gzip-encoder', 'pigz', '--to', `oci:${path.join(tmp, 'bad')}`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--gzip-encoder must be libdeflate, fflate or zlib, got "pigz"/);
    const zstd = await runCli(['append', '--layer', app, '--gzip-encoder', 'fflate', '--compression', 'zstd', '--to', `oci:${path.join(tmp, 'bad2')}`]);
    assert.equal(zstd.code, 2);
    assert.match(zstd.stderr, /--gzip-encoder applies to gzip layers/);
  });
});
