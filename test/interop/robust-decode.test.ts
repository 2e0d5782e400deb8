/**
 * `openLayerTar` / `openLayerBlob` (src/layer/decode.ts): one tar made by the system `tar`,
 * compressed by the system `gzip`, `zstd` and `xz`, read back under honest and lying media types;
 * a missing zstd program and corrupt data give typed errors; a foreign layer that the source
 * lacks is fetched from its `urls` (a loopback HTTP server) and verified.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OcibuildError, UnsupportedError } from '../../src/errors.ts';
import { detectLayerCompression, openLayerBlob, openLayerTar } from '../../src/layer/decode.ts';
import { DOCKER_LAYER_FOREIGN, DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';

let tmp: string;
let plain: Buffer;
const blobs: Record<string, Buffer> = {};

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-robust-decode-'));
  await fs.mkdir(path.join(tmp, 'root', 'etc'), { recursive: true });
  await fs.writeFile(path.join(tmp, 'root', 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await fs.writeFile(path.join(tmp, 'root', 'big'), randomBytes(3 << 20)); // incompressible: many chunks through the pipes
  execFileSync('tar', ['-cf', path.join(tmp, 'layer.tar'), '-C', path.join(tmp, 'root'), '.']);
  plain = await fs.readFile(path.join(tmp, 'layer.tar'));
  blobs['none'] = plain;
  blobs['gzip'] = execFileSync('gzip', ['-c', path.join(tmp, 'layer.tar')], { maxBuffer: 64 << 20 });
  blobs['zstd'] = execFileSync('zstd', ['-q', '-c', path.join(tmp, 'layer.tar')], { maxBuffer: 64 << 20 });
  blobs['xz'] = execFileSync('xz', ['-c', path.join(tmp, 'layer.tar')], { maxBuffer: 64 << 20 });
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** The bytes in pieces: the first few one byte long (the magic spans chunks), then `size`. */
async function* chunked(bytes: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  const small = Math.min(3, bytes.length);
  for (let i = 0; i < small; i++) yield bytes.subarray(i, i + 1);
  for (let i = small; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const descriptorOf = (bytes: Uint8Array, mediaType: string, urls?: string[]): Descriptor => ({
  mediaType,
  digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  size: bytes.length,
  ...(urls ? { urls } : {}),
});

describe('openLayerTar', () => {
  it('detects gzip, zstd, xz and plain tars by their first bytes', () => {
    for (const kind of ['gzip', 'zstd', 'xz', 'none'] as const) assert.equal(detectLayerCompression(blobs[kind] as Buffer), kind);
  });

  it('reads every compression under every layer media type (a lying label does not matter)', async () => {
    for (const kind of ['gzip', 'zstd', 'xz', 'none']) {
      for (const mediaType of [OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_TAR, DOCKER_LAYER_GZIP, 'application/vnd.docker.image.rootfs.diff.tar']) {
        const bytes = blobs[kind] as Buffer;
        const out = await collect(openLayerTar(descriptorOf(bytes, mediaType), chunked(bytes)));
        assert.ok(out.equals(plain), `${kind} labelled ${mediaType}`);
      }
    }
  });

  it('reads an empty blob as an empty layer and refuses a JSON media type', async () => {
    assert.equal((await collect(openLayerTar(OCI_LAYER_GZIP, chunked(new Uint8Array(0))))).length, 0);
    await assert.rejects(collect(openLayerTar('application/vnd.oci.image.config.v1+json', chunked(plain))), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_LAYER');
  });

  it('says which program to install when zstd is missing and the built-in decoder cannot read the layer', async () => {
    // Without the program, frames that declare their size are decoded by the built-in WASM
    // decoder (test/compress/zstd-decode.test.ts); a stream compressed from stdin has none.
    const streamed = execFileSync('zstd', ['-q', '-c'], { input: readFileSync(path.join(tmp, 'layer.tar')), maxBuffer: 64 << 20 });
    const saved = process.env['PATH'];
    process.env['PATH'] = path.join(tmp, 'empty-path');
    try {
      await assert.rejects(collect(openLayerTar(descriptorOf(streamed, OCI_LAYER_ZSTD), chunked(streamed))), (e: unknown) => {
        assert.ok(e instanceof UnsupportedError);
        assert.match(e.message, /layer sha256:[0-9a-f]{64} .*zstd.*: decoding it needs the "zstd" program on PATH/);
        return true;
      });
    } finally {
      process.env['PATH'] = saved;
    }
  });

  it('turns corrupt zstd and gzip data into ERR_LAYER, and passes input errors on', async () => {
    const zstd = Buffer.from(blobs['zstd'] as Buffer);
    zstd.fill(0x55, 20, 4000);
    await assert.rejects(collect(openLayerTar(OCI_LAYER_ZSTD, chunked(zstd))), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_LAYER' && /zstd -dc failed/.test(e.message));
    const gzip = Buffer.from(blobs['gzip'] as Buffer);
    gzip.fill(0x55, 20, 4000);
    await assert.rejects(collect(openLayerTar(OCI_LAYER_GZIP, chunked(gzip))), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_LAYER');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield (blobs['zstd'] as Buffer).subarray(0, 100);
      throw new Error('network went away');
    }
    await assert.rejects(collect(openLayerTar(OCI_LAYER_ZSTD, failing())), /network went away/);
  });

  it('stops the decoder when the reader stops early', async () => {
    for await (const chunk of openLayerTar(OCI_LAYER_ZSTD, chunked(blobs['zstd'] as Buffer))) {
      assert.ok(chunk.length > 0);
      break;
    }
  });
});

describe('openLayerBlob (foreign / non-distributable layers)', () => {
  let server: http.Server;
  let base: string;
  const requests: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/layer.tar.gz') res.end(blobs['gzip']);
      else if (req.url === '/wrong.tar.gz') res.end(blobs['zstd']);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const notInSource = (): never => {
    throw new OcibuildError('ERR_NOT_FOUND', 'blob not in source');
  };

  it('uses the source when it has the blob, without touching the urls', async () => {
    const gz = blobs['gzip'] as Buffer;
    const d = descriptorOf(gz, DOCKER_LAYER_FOREIGN, [`${base}/layer.tar.gz`]);
    requests.length = 0;
    const out = await collect(openLayerTar(d, await openLayerBlob(d, () => chunked(gz))));
    assert.ok(out.equals(plain));
    assert.deepEqual(requests, []);
  });

  it('fetches a foreign layer the source lacks from its urls (first failing url skipped), verified', async () => {
    const gz = blobs['gzip'] as Buffer;
    const d = descriptorOf(gz, DOCKER_LAYER_FOREIGN, [`${base}/missing`, `${base}/layer.tar.gz`]);
    const out = await collect(openLayerTar(d, await openLayerBlob(d, notInSource)));
    assert.ok(out.equals(plain));
  });

  it('rejects bytes from a url that do not match the digest', async () => {
    const gz = blobs['gzip'] as Buffer;
    const d = { ...descriptorOf(gz, DOCKER_LAYER_FOREIGN, [`${base}/wrong.tar.gz`]), size: (blobs['zstd'] as Buffer).length };
    await assert.rejects(async () => collect(await openLayerBlob(d, notInSource)), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_DIGEST_MISMATCH');
  });

  it('says why when a non-distributable layer is nowhere', async () => {
    const d = descriptorOf(blobs['gzip'] as Buffer, 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip');
    await assert.rejects(openLayerBlob(d, notInSource, { source: 'oci:/x' }), (e: unknown) => {
      assert.ok(e instanceof OcibuildError && e.code === 'ERR_NOT_FOUND');
      assert.match(e.message, /is not distributed with the image and is missing in oci:\/x; it lists no urls/);
      return true;
    });
    // An ordinary layer missing from the source keeps the source's own error.
    await assert.rejects(openLayerBlob(descriptorOf(plain, OCI_LAYER_TAR), notInSource), /blob not in source/);
  });
});
