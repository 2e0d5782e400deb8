import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { nodeGzip } from '../../src/compress/index.ts';
import { nobleHash } from '../../src/hash/index.ts';
import { listLayerEntries, writeLayer } from '../../src/layer/index.ts';
import type { LayerSpec } from '../../src/layer/index.ts';
import { readLayerFile } from './util.ts';

let tmp: string;
let out: string;

async function makeTree(root: string, mtime: Date): Promise<void> {
  await fs.mkdir(path.join(root, 'pkg/lib'), { recursive: true });
  await fs.mkdir(path.join(root, 'pkg/test'), { recursive: true });
  await fs.writeFile(path.join(root, 'pkg/index.js'), 'module.exports = 1;\n'.repeat(500));
  await fs.writeFile(path.join(root, 'pkg/lib/x.js'), 'x');
  await fs.writeFile(path.join(root, 'pkg/lib/x.js.map'), '{}');
  await fs.writeFile(path.join(root, 'pkg/test/t.js'), 't');
  await fs.writeFile(path.join(root, 'pkg/run.sh'), '#!/bin/sh\n', { mode: 0o700 });
  await fs.chmod(path.join(root, 'pkg/run.sh'), 0o700);
  for (const p of ['pkg/index.js', 'pkg/lib/x.js', 'pkg/lib/x.js.map', 'pkg/test/t.js', 'pkg/run.sh', 'pkg/lib', 'pkg/test', 'pkg']) {
    await fs.utimes(path.join(root, p), mtime, mtime);
  }
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-repro-'));
  out = path.join(tmp, 'out');
  await makeTree(path.join(tmp, 'one'), new Date('2001-01-01'));
  await makeTree(path.join(tmp, 'two'), new Date('2022-02-02'));
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const spec = (dir: string, extra: Partial<LayerSpec> = {}): LayerSpec => ({ directories: [{ source: path.join(tmp, dir), destination: '/srv' }], ...extra });

describe('reproducibility', () => {
  it('gives one digest for the same tree in two places with different mtimes', async () => {
    const a = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0 });
    const b = await writeLayer(spec('two'), { directory: out, sourceDateEpoch: 0 });
    assert.equal(a.descriptor.digest, b.descriptor.digest);
    assert.equal(a.diffId, b.diffId);
  });

  it('uses SOURCE_DATE_EPOCH (env or option), else 1970-01-01T00:00:01Z', async () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    try {
      delete process.env.SOURCE_DATE_EPOCH;
      const plain = await writeLayer(spec('one'), { directory: out });
      assert.ok((await readLayerFile(plain.path)).every((e) => e.header.mtime?.getTime() === 1000));
      process.env.SOURCE_DATE_EPOCH = '1234567890';
      const env = await writeLayer(spec('one'), { directory: out });
      assert.ok((await readLayerFile(env.path)).every((e) => e.header.mtime?.getTime() === 1_234_567_890_000));
      const option = await writeLayer(spec('two'), { directory: out, sourceDateEpoch: 1_234_567_890 });
      assert.notEqual(plain.descriptor.digest, env.descriptor.digest);
      assert.equal(option.descriptor.digest, env.descriptor.digest);
      // spec.mtime wins over SOURCE_DATE_EPOCH.
      const fixed = await writeLayer(spec('one', { mtime: new Date(1000) }), { directory: out });
      assert.equal(fixed.descriptor.digest, plain.descriptor.digest);
      process.env.SOURCE_DATE_EPOCH = 'yesterday';
      await assert.rejects(writeLayer(spec('one'), { directory: out }), { code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it('has diffID = sha256 of the gunzipped blob and digest = sha256 of the blob', async () => {
    const layer = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0 });
    const blob = await fs.readFile(layer.path);
    const tar = gunzipSync(blob);
    assert.equal(layer.descriptor.digest, `sha256:${createHash('sha256').update(blob).digest('hex')}`);
    assert.equal(layer.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.equal(layer.uncompressedSize, tar.length);
  });

  it('gives identical digests with node:crypto and @noble/hashes', async () => {
    const a = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0 });
    const b = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0, hash: nobleHash() });
    assert.deepEqual([b.descriptor.digest, b.diffId], [a.descriptor.digest, a.diffId]);
  });

  it('gives the same diffID with node:zlib (different blob) and without compression', async () => {
    const a = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0 });
    const z = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0, encoder: nodeGzip() });
    const none = await writeLayer(spec('one'), { directory: out, sourceDateEpoch: 0, compression: 'none' });
    assert.equal(z.diffId, a.diffId);
    assert.equal(none.diffId, a.diffId);
    assert.equal(none.descriptor.digest, a.diffId);
    assert.equal(none.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  });

  it('normalises modes on request', async () => {
    const layer = await writeLayer(spec('one', { normalizeModes: true }), { directory: out });
    const modes = Object.fromEntries((await readLayerFile(layer.path)).map((e) => [e.header.name, e.header.mode]));
    assert.equal(modes['srv/pkg/run.sh'], 0o755);
    assert.equal(modes['srv/pkg/index.js'], 0o644);
    assert.equal(modes['srv/pkg/lib/'], 0o755);
  });

  it('honours include, exclude (pruning directories) and filter', async () => {
    const list = async (source: Partial<NonNullable<LayerSpec['directories']>[number]>): Promise<string[]> => {
      const names: string[] = [];
      for await (const e of listLayerEntries({ directories: [{ source: path.join(tmp, 'one'), ...source }] })) names.push(e.path);
      return names;
    };
    assert.deepEqual(await list({ exclude: ['pkg/test', '**/*.map'] }), ['pkg', 'pkg/index.js', 'pkg/lib', 'pkg/lib/x.js', 'pkg/run.sh']);
    assert.deepEqual(await list({ include: ['**/*.js'] }), ['pkg', 'pkg/index.js', 'pkg/lib', 'pkg/lib/x.js', 'pkg/test', 'pkg/test/t.js']);
    assert.deepEqual(await list({ include: ['pkg/lib'] }), ['pkg', 'pkg/lib', 'pkg/lib/x.js', 'pkg/lib/x.js.map']);
    assert.deepEqual(await list({ filter: (p) => !p.endsWith('.js') }), ['pkg', 'pkg/lib', 'pkg/lib/x.js.map', 'pkg/run.sh', 'pkg/test']);
  });
});

describe('failures leave nothing behind', () => {
  const clean = async (dir: string): Promise<void> => assert.deepEqual(await fs.readdir(dir).catch(() => []), []);

  it('throws ERR_SOURCE_NOT_FOUND naming a missing directory or file', async () => {
    const dir = path.join(tmp, 'fail1');
    const missing = path.join(tmp, 'nope');
    await assert.rejects(writeLayer({ directories: [{ source: missing }] }, { directory: dir }), (e: Error & { code?: string }) => e.code === 'ERR_SOURCE_NOT_FOUND' && e.message.includes(missing));
    await assert.rejects(writeLayer({ entries: [{ type: 'file', path: '/x', source: missing }] }, { directory: dir }), { code: 'ERR_SOURCE_NOT_FOUND' });
    await clean(dir);
  });

  it('throws ERR_PATH_ESCAPE naming a path that leaves the root', async () => {
    const dir = path.join(tmp, 'fail2');
    for (const bad of ['../x', 'a/../../x', '/../etc/passwd']) {
      await assert.rejects(
        writeLayer({ entries: [{ type: 'file', path: bad, source: new Uint8Array(1) }] }, { directory: dir }),
        (e: Error & { code?: string }) => e.code === 'ERR_PATH_ESCAPE' && e.message.includes(JSON.stringify(bad)),
      );
    }
    await assert.rejects(writeLayer({ directories: [{ source: path.join(tmp, 'one'), destination: '../up' }] }, { directory: dir }), { code: 'ERR_PATH_ESCAPE' });
    await assert.rejects(writeLayer({ entries: [{ type: 'hardlink', path: '/x', target: '../../y' }] }, { directory: dir }), { code: 'ERR_PATH_ESCAPE' });
    await clean(dir);
  });

  it('stops on abort with ERR_ABORTED and removes the partly written temp file', async () => {
    const dir = path.join(tmp, 'fail3');
    const controller = new AbortController();
    let written = 0;
    // A pass-through "encoder" that aborts once bytes have reached the temp file.
    const encoder = {
      implementation: 'test',
      level: 0,
      async *encode(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
        for await (const chunk of input) {
          yield chunk;
          if (++written === 2) controller.abort();
        }
      },
    };
    const spec: LayerSpec = { entries: [{ type: 'file', path: '/big', source: new Uint8Array(1_000_000) }] };
    await assert.rejects(writeLayer(spec, { directory: dir, signal: controller.signal, encoder }), { code: 'ERR_ABORTED' });
    assert.ok(written >= 2);
    await clean(dir);
  });
});
