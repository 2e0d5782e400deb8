import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openCache, defaultCacheDir } from '../../src/cache/store.ts';
import { cachedWriteLayer } from '../../src/cache/layers.ts';
import { layerCacheKey, type KeyedEntry } from '../../src/cache/key.ts';
import { writeLayer } from '../../src/layer/write.ts';
import { nodeGzip } from '../../src/compress/index.ts';
import type { ResolvedLayerEntry } from '../../src/layer/types.ts';

const run = promisify(execFile);

let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cache-test-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function project(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(path.join(dir, 'src'), { recursive: true });
  await fs.writeFile(path.join(dir, 'src', 'a.js'), 'console.log("a")\n');
  await fs.writeFile(path.join(dir, 'src', 'b.js'), 'x'.repeat(300_000));
  await fs.symlink('a.js', path.join(dir, 'src', 'link.js'));
  return dir;
}

describe('layer cache keys', () => {
  const entry = (p: string, extra: Partial<ResolvedLayerEntry> = {}): KeyedEntry => ({
    entry: { path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 1, ...extra },
    contentDigest: 'sha256:' + 'a'.repeat(64),
  });
  const settings = { compression: 'gzip' as const, encoder: 'fflate/6', mediaType: 'm' };

  test('length-prefixed: shifting bytes between fields changes the key', () => {
    const a = layerCacheKey([entry('ab', { uname: 'c' })], settings);
    const b = layerCacheKey([entry('a', { uname: 'bc' })], settings);
    assert.notEqual(a, b);
  });

  test('every field and the writer settings take part', () => {
    const base = layerCacheKey([entry('x')], settings);
    for (const extra of [{ mode: 0o755 }, { uid: 1 }, { gid: 1 }, { mtime: 2 }, { size: 2 }, { linkname: 'y' }, { type: 'symlink' as const }]) {
      assert.notEqual(layerCacheKey([entry('x', extra)], settings), base, JSON.stringify(extra));
    }
    assert.notEqual(layerCacheKey([{ ...entry('x'), contentDigest: 'sha256:' + 'b'.repeat(64) }], settings), base);
    assert.notEqual(layerCacheKey([entry('x')], { ...settings, encoder: 'node:zlib/6' }), base);
    assert.notEqual(layerCacheKey([entry('x')], { ...settings, mediaType: 'n' }), base);
    assert.equal(layerCacheKey([entry('x')], settings), base);
  });

  test('the cache dir comes from the option, then OCIBUILD_CACHE_DIR, then ~/.cache', () => {
    assert.equal(defaultCacheDir({ dir: '/x/y' }, {}), '/x/y');
    assert.equal(defaultCacheDir({}, { OCIBUILD_CACHE_DIR: '/c' }), '/c');
    assert.equal(defaultCacheDir({}, { HOME: '/h' }), path.join(os.homedir(), '.cache', 'ocibuild'));
  });
});

describe('cachedWriteLayer', () => {
  test('a hit reuses digest and blob; identical to writeLayer; an edit is a miss', async () => {
    const dir = await project('p1');
    const cache = await openCache({ dir: path.join(tmp, 'cache1') });
    const work = path.join(tmp, 'work1');
    const spec = { directories: [{ source: dir, destination: '/app' }] };
    const first = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.equal(first.cached, false);
    const plain = await writeLayer(spec, { directory: path.join(tmp, 'plain'), sourceDateEpoch: 0 });
    assert.equal(first.layer.descriptor.digest, plain.descriptor.digest, 'same bytes as the plain writer');
    assert.equal(first.layer.diffId, plain.diffId);

    const second = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.equal(second.cached, true);
    assert.equal(second.key, first.key);
    assert.deepEqual(second.layer.descriptor, first.layer.descriptor);
    const bytes = await fs.readFile(second.layer.path);
    assert.equal(bytes.length, first.layer.descriptor.size);

    // Disk mtime alone does not matter.
    await fs.utimes(path.join(dir, 'src', 'a.js'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.equal((await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 })).cached, true);

    await fs.writeFile(path.join(dir, 'src', 'a.js'), 'console.log("b")\n');
    const third = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.equal(third.cached, false);
    assert.notEqual(third.layer.descriptor.digest, first.layer.descriptor.digest);
    // A different normalised mtime is a different layer.
    const fourth = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 5 });
    assert.equal(fourth.cached, false);
    // Another encoder is another key.
    const fifth = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0, encoder: nodeGzip() });
    assert.equal(fifth.cached, false);
  });

  test('same size, same mtime, new content is still seen (stat memo guarded by ctime)', async () => {
    const dir = await project('p2');
    const file = path.join(dir, 'src', 'a.js');
    const old = new Date('2000-01-01T00:00:00Z');
    await fs.utimes(file, old, old);
    const cache = await openCache({ dir: path.join(tmp, 'cache2') });
    const spec = { directories: [{ source: dir }] };
    const work = path.join(tmp, 'work2');
    // ctime is "now": wait out the racy window so the memo records this file.
    await new Promise((r) => setTimeout(r, 2100));
    const first = await cachedWriteLayer(spec, cache, { directory: work });
    assert.equal((await cachedWriteLayer(spec, cache, { directory: work })).cached, true);
    await fs.writeFile(file, 'console.log("A")\n'); // same length
    await fs.utimes(file, old, old); // and the same mtime as before
    const second = await cachedWriteLayer(spec, cache, { directory: work });
    assert.equal(second.cached, false);
    assert.notEqual(second.layer.descriptor.digest, first.layer.descriptor.digest);
  });

  test('evicted blobs are misses; prune keeps the most recently used', async () => {
    const dir = await project('p3');
    const cache = await openCache({ dir: path.join(tmp, 'cache3'), maxBytes: 1 });
    const spec = { directories: [{ source: dir }] };
    const first = await cachedWriteLayer(spec, cache, { directory: path.join(tmp, 'work3') });
    assert.equal(await cache.prune({ graceMs: 60_000 }), 0, 'recently used blobs survive');
    const freed = await cache.prune({ graceMs: 0 });
    assert.equal(freed, first.layer.descriptor.size);
    assert.equal(await cache.getLayer(first.key), undefined);
    const again = await cachedWriteLayer(spec, cache, { directory: path.join(tmp, 'work3b') });
    assert.equal(again.cached, false);
    assert.equal(again.layer.descriptor.digest, first.layer.descriptor.digest);
  });

  test('concurrent writers on one cache dir (separate processes) agree and leave no temp files', async () => {
    const dir = await project('p4');
    const cacheDir = path.join(tmp, 'cache4');
    const script = `
      import { openCache } from ${JSON.stringify(path.resolve('src/cache/store.ts'))};
      import { cachedWriteLayer } from ${JSON.stringify(path.resolve('src/cache/layers.ts'))};
      const cache = await openCache({ dir: process.argv[2] });
      const r = await cachedWriteLayer({ directories: [{ source: process.argv[3] }] }, cache, { directory: process.argv[4] });
      console.log(r.layer.descriptor.digest);
    `;
    const file = path.join(tmp, 'writer.mts');
    await fs.writeFile(file, script);
    const outs = await Promise.all(
      [0, 1, 2].map((i) => run(process.execPath, ['--import', 'tsx', file, cacheDir, dir, path.join(tmp, `work4-${i}`)])),
    );
    const digests = outs.map((o) => o.stdout.trim());
    assert.equal(new Set(digests).size, 1, digests.join(' '));
    const plain = await writeLayer({ directories: [{ source: dir }] }, { directory: path.join(tmp, 'plain4') });
    assert.equal(digests[0], plain.descriptor.digest);
    assert.deepEqual(await fs.readdir(path.join(cacheDir, 'tmp')), []);
  });
});
