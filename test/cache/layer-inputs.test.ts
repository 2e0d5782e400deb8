// Stat-only change detection of computed layers (src/cache/layer-inputs.ts): a settled tree is
// recorded and its key reused; every kind of change (same-size edit with the mtime put back,
// added, removed and renamed files, modes, symlink targets, a filter deciding otherwise) gives
// exactly the layer a cache-less writer gives; a tree changed within the racy window is not
// recorded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openCache, type LocalCache } from '../../src/cache/store.ts';
import { cachedWriteLayer } from '../../src/cache/layers.ts';
import { inputsFingerprint, LAYER_INPUTS_VERSION, snapshotInputs, RACY_WINDOW_NS, type LayerInputsRecord } from '../../src/cache/layer-inputs.ts';
import { writeLayer } from '../../src/layer/write.ts';
import type { LayerSpec } from '../../src/layer/types.ts';

let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-inputs-test-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const OLD = new Date('2000-01-01T00:00:00Z');

async function tree(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(path.join(dir, 'pkg', 'lib'), { recursive: true });
  await fs.mkdir(path.join(dir, 'dropped'), { recursive: true });
  await fs.writeFile(path.join(dir, 'pkg', 'index.js'), 'module.exports = 1;\n');
  await fs.writeFile(path.join(dir, 'pkg', 'lib', 'a.js'), 'a'.repeat(5000));
  // A whole-second mtime, so a test can put it back exactly.
  await fs.utimes(path.join(dir, 'pkg', 'lib', 'a.js'), OLD, OLD);
  await fs.writeFile(path.join(dir, 'dropped', 'secret'), 'not in the layer\n');
  await fs.symlink('index.js', path.join(dir, 'pkg', 'main.js'));
  return dir;
}

/** The record files in the cache's `inputs` folder. */
async function records(cache: LocalCache): Promise<LayerInputsRecord[]> {
  const dir = path.join(cache.dir, 'inputs');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as LayerInputsRecord));
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, Number(RACY_WINDOW_NS / 1_000_000n) + 100));

describe('layer inputs record', () => {
  test('a settled tree is recorded and its key is taken from the record', async () => {
    const dir = await tree('t1');
    const cache = await openCache({ dir: path.join(tmp, 'cache1') });
    const work = path.join(tmp, 'work1');
    const spec: LayerSpec = { directories: [{ source: dir, destination: '/app', filter: (rel) => rel !== 'dropped' }] };
    // Just written: inside the racy window, so nothing is recorded.
    const fresh = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.deepEqual(await records(cache), []);
    await settle();
    const first = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.equal(first.key, fresh.key);
    const [record] = await records(cache);
    assert.equal(record?.key, first.key);
    assert.equal(record?.version, LAYER_INPUTS_VERSION);

    // The record decides: pointed at another cached layer's key, the build takes that layer
    // without listing the tree (white-box proof that nothing else was consulted).
    const file = path.join(cache.dir, 'inputs', (await fs.readdir(path.join(cache.dir, 'inputs')))[0] as string);
    const other = await cachedWriteLayer({ directories: [{ source: path.join(dir, 'dropped') }] }, cache, { directory: work, sourceDateEpoch: 0 });
    assert.notEqual(other.key, first.key);
    await fs.writeFile(file, JSON.stringify({ ...record, key: other.key }));
    const lied = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.equal(lied.cached, true);
    assert.equal(lied.key, other.key);
    await fs.writeFile(file, JSON.stringify(record));

    const again = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 0 });
    assert.equal(again.cached, true);
    assert.equal(again.key, first.key);
    assert.deepEqual(again.layer.descriptor, first.layer.descriptor);
    const plain = await writeLayer(spec, { directory: path.join(tmp, 'plain1'), sourceDateEpoch: 0 });
    assert.equal(again.layer.descriptor.digest, plain.descriptor.digest, 'the reused layer is the one a plain writer makes');
    assert.equal(again.layer.diffId, plain.diffId);

    // Other writer settings or another default mtime are another fingerprint: not reused.
    const epoch5 = await cachedWriteLayer(spec, cache, { directory: work, sourceDateEpoch: 5 });
    assert.notEqual(epoch5.key, first.key);
  });

  test('every change is seen: the result is always what a cache-less writer makes', async () => {
    // One tree per change, each recorded first, so every change is checked against a record of
    // the state just before it.
    const changes: [string, (dir: string, flags: { drop: boolean }) => Promise<void>][] = [
      ['same-size edit with the mtime put back (only ctime tells)', async (dir) => {
        const a = path.join(dir, 'pkg', 'lib', 'a.js');
        await fs.writeFile(a, 'b'.repeat(5000));
        await fs.utimes(a, OLD, OLD);
      }],
      ['added file', (dir) => fs.writeFile(path.join(dir, 'pkg', 'lib', 'new.js'), 'new\n')],
      ['renamed file', (dir) => fs.rename(path.join(dir, 'pkg', 'lib', 'a.js'), path.join(dir, 'pkg', 'lib', 'b.js'))],
      ['removed file', (dir) => fs.rm(path.join(dir, 'pkg', 'index.js'))],
      ['mode', (dir) => fs.chmod(path.join(dir, 'pkg', 'lib', 'a.js'), 0o755)],
      ['symlink target', async (dir) => {
        await fs.rm(path.join(dir, 'pkg', 'main.js'));
        await fs.symlink('lib/a.js', path.join(dir, 'pkg', 'main.js'));
      }],
      ['filter deciding otherwise (nothing on disk changed)', async (_dir, flags) => {
        flags.drop = false;
      }],
    ];
    const cache = await openCache({ dir: path.join(tmp, 'cache2') });
    const work = path.join(tmp, 'work2');
    const cases = await Promise.all(
      changes.map(async ([what, change], i) => {
        const dir = await tree(`t2-${i}`);
        const flags = { drop: true };
        const spec: LayerSpec = { directories: [{ source: dir, destination: '/app', filter: (rel) => !(flags.drop && rel === 'dropped') }] };
        return { what, change, dir, flags, spec };
      }),
    );
    await settle();
    for (const c of cases) {
      const recorded = await cachedWriteLayer(c.spec, cache, { directory: work, sourceDateEpoch: 0 });
      await c.change(c.dir, c.flags);
      const got = await cachedWriteLayer(c.spec, cache, { directory: work, sourceDateEpoch: 0 });
      const plain = await writeLayer(c.spec, { directory: path.join(tmp, `plain2-${c.what.length}`), sourceDateEpoch: 0 });
      assert.equal(got.layer.descriptor.digest, plain.descriptor.digest, c.what);
      assert.notEqual(got.key, recorded.key, `${c.what}: not the recorded layer`);
    }
    assert.equal((await records(cache)).length, cases.length, 'one record per tree');
  });

  test('the snapshot: racy window, sockets-free trees only where recordable, fingerprints of plain data', async () => {
    const dir = await tree('t3');
    const spec: LayerSpec = { directories: [{ source: dir }] };
    const now = BigInt(Date.now()) * 1_000_000n;
    const fresh = snapshotInputs(spec, now);
    assert.equal(fresh?.racy, true);
    const later = snapshotInputs(spec, now + RACY_WINDOW_NS + 1_000_000n);
    assert.equal(later?.racy, false);
    assert.equal(later?.digest, fresh?.digest, 'same inputs, same digest');
    assert.equal(later?.count, 1 + 7, 'the root and every path below it');
    assert.equal(snapshotInputs({ directories: [{ source: path.join(dir, 'missing') }] }), undefined);
    const settings = { compression: 'gzip' as const, encoder: 'fflate/6', mediaType: 'm' };
    assert.notEqual(inputsFingerprint(spec, settings, 0), undefined);
    assert.notEqual(inputsFingerprint(spec, settings, 0), inputsFingerprint(spec, { ...settings, encoder: 'x' }, 0));
    assert.notEqual(inputsFingerprint(spec, settings, 0), inputsFingerprint({ directories: [{ source: dir, destination: '/b' }] }, settings, 0));
    // Globs, host files named one by one, and prebuilt layers go the full way.
    assert.equal(inputsFingerprint({ directories: [{ source: dir, include: ['pkg/**'] }] }, settings, 0), undefined);
    assert.equal(inputsFingerprint({ directories: [{ source: dir, exclude: ['dropped'] }] }, settings, 0), undefined);
    assert.equal(inputsFingerprint({ directories: [{ source: dir }], entries: [{ type: 'file', path: '/x', source: path.join(dir, 'pkg', 'index.js') }] }, settings, 0), undefined);
    assert.equal(inputsFingerprint({ entries: [{ type: 'directory', path: '/x' }] }, settings, 0), undefined);
  });
});
