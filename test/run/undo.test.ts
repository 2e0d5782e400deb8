/**
 * Rewinding a live rootfs (undo records) and keeping trees between builds (the rootfs store):
 * a rewound tree must equal a fresh extraction of the same layers, lossy layers force a rebuild,
 * forged records cannot delete outside the root, and a stored tree is taken by one build only.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import tar from 'tar-stream';
import { inspectHost } from '../../src/run/host.ts';
import { StageRootfs, type RootfsLayer } from '../../src/run/rootfs.ts';
import { RootfsStore, usablePrefix } from '../../src/run/rootfs-store.ts';
import { takeSnapshot } from '../../src/run/snapshot.ts';
import { undoFromSnapshots, undoLayer } from '../../src/run/undo.ts';

type Member = tar.Headers & { body?: string };

async function tarBytes(members: Member[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => pack.on('end', resolve));
  for (const { body, ...header } of members) pack.entry({ mode: header.type === 'directory' ? 0o755 : 0o644, mtime: new Date(1_000_000), ...header }, body ?? '');
  pack.finalize();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

async function layer(key: string, members: Member[]): Promise<RootfsLayer> {
  const bytes = await tarBytes(members);
  return {
    key,
    tar: async () =>
      (async function* () {
        yield bytes;
      })(),
  };
}

/** When this test file started: file times from then on are the wall clock's, not a layer's. */
const treesSince = Date.now() - 1000;

/** Everything that matters about a tree (paths, types, modes, owners, contents, link targets, mtimes of files and dirs). */
function describeTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const host = path.join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(host);
      // A folder a later layer adds to gets the wall clock's time (as on any extraction): two
      // trees made a moment apart can straddle a second, so such times compare as "now".
      const mtime = st.mtimeMs >= treesSince ? 'now' : String(Math.floor(st.mtimeMs / 1000));
      const common = `${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${mtime}`;
      if (st.isDirectory()) {
        out.push(`d ${common}`);
        walk(host, r);
      } else if (st.isSymbolicLink()) out.push(`l ${r} -> ${fs.readlinkSync(host)}`);
      else out.push(`f ${common} ${fs.readFileSync(host, 'utf8')}`);
    }
  };
  walk(root, '');
  return out;
}

describe('rootfs rewind and store', () => {
  let tmp: string;
  let base: RootfsLayer;
  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-undo-'));
    base = await layer('base', [
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/conf', body: 'base\n' },
      { name: 'app/', type: 'directory', mode: 0o750 },
      { name: 'app/lib/', type: 'directory', mode: 0o755 },
      { name: 'app/lib/a.js', body: 'a\n' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    ]);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('undoes layers that only added paths, giving the same tree as a fresh extraction', async () => {
    const addSrc = await layer('src-1', [
      { name: 'app/', type: 'directory', mode: 0o755, mtime: new Date(2_000_000) },
      { name: 'app/src/', type: 'directory' },
      { name: 'app/src/index.js', body: 'one\n' },
      { name: 'app/lib/new/deep/x', body: 'implicit parents\n' },
    ]);
    const addSrc2 = await layer('src-2', [{ name: 'app/src/index.js', body: 'two\n' }, { name: 'app/other', body: 'o\n' }]);
    const live = new StageRootfs(path.join(tmp, 'live'));
    await live.sync([base, addSrc]);
    // A RUN-like change on top, recorded from snapshots.
    const before = takeSnapshot(live.dir);
    fs.mkdirSync(path.join(live.dir, 'app/dist'));
    fs.writeFileSync(path.join(live.dir, 'app/dist/out'), 'built\n');
    live.markApplied('run-1', undoFromSnapshots(before, takeSnapshot(live.dir)));

    await live.sync([base, addSrc2]);
    assert.deepEqual(live.stats, { rebuilds: 1, incremental: 1, undone: 2 });
    const fresh = new StageRootfs(path.join(tmp, 'fresh'));
    await fresh.sync([base, addSrc2]);
    assert.deepEqual(describeTree(live.dir), describeTree(fresh.dir));
  });

  it('rebuilds when a layer above the common prefix replaced or deleted something', async () => {
    const overwrite = await layer('over', [{ name: 'etc/conf', body: 'changed\n' }]);
    const whiteout = await layer('wh', [{ name: 'app/lib/.wh.a.js' }]);
    const next = await layer('next', [{ name: 'etc/more', body: 'm\n' }]);
    for (const lossy of [overwrite, whiteout]) {
      const live = new StageRootfs(path.join(tmp, `live-${lossy.key}`));
      await live.sync([base, lossy]);
      await live.sync([base, next]);
      assert.equal(live.stats.rebuilds, 2, lossy.key);
      assert.equal(live.stats.undone, 0);
      assert.equal(fs.readFileSync(path.join(live.dir, 'etc/conf'), 'utf8'), 'base\n');
      assert.equal(fs.existsSync(path.join(live.dir, 'app/lib/a.js')), true);
    }
    // A RUN that modified a file in place cannot be undone either.
    const live = new StageRootfs(path.join(tmp, 'live-run'));
    await live.sync([base]);
    const before = takeSnapshot(live.dir);
    fs.appendFileSync(path.join(live.dir, 'etc/conf'), 'more\n');
    assert.equal(undoFromSnapshots(before, takeSnapshot(live.dir)), null);
  });

  it('refuses an undo record whose path now runs through a symlink', () => {
    const root = path.join(tmp, 'forged');
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(path.join(outside, 'victim'), { recursive: true });
    fs.mkdirSync(root);
    fs.symlinkSync(outside, path.join(root, 'escape'));
    assert.throws(() => undoLayer(root, { added: ['escape/victim'], dirs: [] }, false), { code: 'ERR_LAYER' });
    assert.throws(() => undoLayer(root, { added: ['../outside'], dirs: [] }, false), { code: 'ERR_LAYER' });
    assert.equal(fs.existsSync(path.join(outside, 'victim')), true);
  });

  it('moves a finished tree into the store and gives it to one later build only', async () => {
    const host = inspectHost();
    const store = new RootfsStore({ dir: path.join(tmp, 'store'), host });
    const src1 = await layer('src-1', [{ name: 'app/src/index.js', body: 'one\n' }]);
    const src2 = await layer('src-2', [{ name: 'app/src/index.js', body: 'two\n' }]);
    const first = new StageRootfs(path.join(await store.liveDir(), 'rootfs'));
    await first.sync([base, src1]);
    const state = first.storable();
    assert.ok(state);
    assert.equal(await store.put(first.dir, state), true);
    assert.equal(fs.existsSync(first.dir), false);

    // Another layer list with nothing in common is not served; the matching one is, once.
    assert.equal(await store.take(['other'], path.join(tmp, 'x')), undefined);
    const live = await store.liveDir();
    const takers = [new StageRootfs(path.join(live, 'a')), new StageRootfs(path.join(live, 'b'))];
    const taken = await Promise.all(takers.map((r) => store.take(['base', 'src-2'], r.dir)));
    assert.equal(taken.filter((t) => t !== undefined).length, 1);
    const winner = takers[taken.findIndex((t) => t !== undefined)] as StageRootfs;
    winner.adopt(taken.find((t) => t !== undefined) as NonNullable<(typeof taken)[number]>);
    await winner.sync([base, src2]);
    assert.deepEqual(winner.stats, { rebuilds: 0, incremental: 1, undone: 1 });
    assert.equal(fs.readFileSync(path.join(winner.dir, 'app/src/index.js'), 'utf8'), 'two\n');
    assert.deepEqual(fs.readdirSync(store.dir).filter((n) => n.startsWith('e-')), []);
  });

  it('keeps a limited number of trees and skips trees of another owner identity', async () => {
    const host = inspectHost();
    const store = new RootfsStore({ dir: path.join(tmp, 'store'), host, keep: 2 });
    for (let i = 0; i < 3; i++) {
      const r = new StageRootfs(path.join(await store.liveDir(), 'rootfs'));
      await r.sync([base, await layer(`l${i}`, [{ name: `f${i}`, body: String(i) }])]);
      await store.put(r.dir, r.storable() ?? assert.fail('not storable'));
    }
    assert.equal(fs.readdirSync(store.dir).filter((n) => n.startsWith('e-')).length, 2);
    const other = new RootfsStore({ dir: store.dir, host: { ...host, mapping: { uids: [{ inside: 0, outside: 4242, count: 1 }], gids: [] } } });
    assert.equal(await other.take(['base'], path.join(tmp, 'y')), undefined);
    assert.equal(usablePrefix({ chain: ['a', 'b', 'c'], undo: [null, null, { added: [], dirs: [] }] }, ['a', 'b', 'x']), 2);
    assert.equal(usablePrefix({ chain: ['a', 'b', 'c'], undo: [null, null, null] }, ['a', 'b', 'x']), 0);
  });
});
