/**
 * Local state is private and self-cleaning: under umask 000 every directory of the cache (and a
 * temp directory) is 0700 and every file 0600; what a SIGKILLed process left in the cache (its
 * temp directory, its partial blob, its live rootfs directory) is removed by the next run, while
 * a live process's entries, another user's and symlinks stay.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/store.ts';
import { writeLayer } from '../../src/layer/write.ts';
import { OCI_LAYER_GZIP, OCI_MANIFEST } from '../../src/oci/mediatypes.ts';
import { inspectHost } from '../../src/run/host.ts';
import { RootfsStore } from '../../src/run/rootfs-store.ts';
import { makePrivateTempDir, processTag, removeStaleTemps } from '../../src/temp.ts';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';
import { sha256 } from '../helpers/data.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-local-state-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));


/** Every path under `root` (itself included) with its permission bits. */
function modes(root: string): Map<string, { mode: number; dir: boolean }> {
  const out = new Map<string, { mode: number; dir: boolean }>();
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    out.set(path.relative(root, p) || '.', { mode: st.mode & 0o7777, dir: st.isDirectory() });
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(root);
  return out;
}

/** Runs `fn` with the process umask set to `mask`. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const saved = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(saved);
  }
}

describe('local state: modes whatever the umask', () => {
  it('creates the cache 0700/0600 under umask 000', async () => {
    const dir = path.join(tmp, 'umask', 'nested', 'cache');
    await withUmask(0, async () => {
      const cache = await openCache({ dir });
      const blob = new TextEncoder().encode('layer bytes that could hold a secret');
      const descriptor = { mediaType: OCI_LAYER_GZIP, digest: sha256(blob), size: blob.length };
      await cache.putBlob(descriptor, async function* () {
        yield blob;
      });
      const manifest = new TextEncoder().encode('{"schemaVersion":2}');
      await cache.putManifest({ mediaType: OCI_MANIFEST, digest: sha256(manifest), bytes: manifest });
      await cache.putReference('example/app', 'latest', { mediaType: OCI_MANIFEST, digest: sha256(manifest), bytes: manifest });
      await cache.putLayer('k'.repeat(64), { descriptor, diffId: descriptor.digest, uncompressedSize: 1, entryCount: 1 });
      await cache.writeJson('steps', 's'.repeat(64), { secret: 'build arg value' });
      const temp = await cache.makeTempDir();
      // A layer written elsewhere under the same umask, then adopted.
      const work = await makePrivateTempDir(path.join(tmp, 'umask-work'), 'ocibuild-');
      const layer = await writeLayer({ entries: [{ type: 'file', path: 'f', source: new TextEncoder().encode('x') }] }, { directory: work });
      assert.equal(fs.statSync(work).mode & 0o777, 0o700);
      assert.equal(fs.statSync(layer.path).mode & 0o777, 0o600);
      await cache.adoptFile(layer.path, layer.descriptor.digest);
      const loose = path.join(tmp, 'loose');
      fs.writeFileSync(loose, 'made 0666 by the umask', { mode: 0o666 });
      const looseBytes = fs.readFileSync(loose);
      await cache.adoptFile(loose, sha256(looseBytes));
      assert.ok(fs.existsSync(temp));
    });
    const seen = modes(dir);
    assert.ok(seen.size > 10, `only ${seen.size} entries`);
    for (const [p, { mode, dir: isDir }] of seen) assert.equal(mode, isDir ? 0o700 : 0o600, `${p} is ${mode.toString(8)}`);
    // The parents the cache created are private too (XDG asks 0700 for ~/.cache).
    assert.equal(fs.statSync(path.join(tmp, 'umask', 'nested')).mode & 0o777, 0o700);
  });

  it('closes an existing cache directory to others, keeping group bits set on purpose', async () => {
    const dir = path.join(tmp, 'open-cache');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    await openCache({ dir });
    assert.equal(fs.statSync(dir).mode & 0o777, 0o750);
    fs.chmodSync(dir, 0o2770);
    await openCache({ dir });
    assert.equal(fs.statSync(dir).mode & 0o7777, 0o2770);
  });
});

/** A child process that leaves a cache temp dir, a partial blob and a live rootfs dir, then waits. */
function spawnWriter(cacheDir: string): Promise<{ child: ChildProcess; left: { temp: string; live: string } }> {
  const script = `
    const { openCache } = await import(${JSON.stringify(path.join(repo, 'src/cache/store.ts'))});
    const { RootfsStore } = await import(${JSON.stringify(path.join(repo, 'src/run/rootfs-store.ts'))});
    const { inspectHost } = await import(${JSON.stringify(path.join(repo, 'src/run/host.ts'))});
    const fs = await import('node:fs');
    const cache = await openCache({ dir: ${JSON.stringify(cacheDir)} });
    const temp = await cache.makeTempDir();
    fs.writeFileSync(temp + '/layer', 'half a layer');
    const live = await new RootfsStore({ dir: ${JSON.stringify(path.join(cacheDir, 'rootfs'))}, host: inspectHost() }).liveDir();
    fs.mkdirSync(live + '/stage-0/etc', { recursive: true });
    // A blob that never finishes: its temp file stays under DIR/tmp.
    cache.putBlob({ mediaType: 'application/octet-stream', digest: 'sha256:' + 'a'.repeat(64), size: 1 << 20 }, async function* () {
      yield new Uint8Array(1000);
      await new Promise(() => {});
    }).catch(() => {});
    setTimeout(() => console.log(JSON.stringify({ temp, live })), 300);
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ child, left: JSON.parse(out) as { temp: string; live: string } });
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`writer exited with ${code} before reporting`)));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('local state: leftovers of killed processes', () => {
  it('the next run removes what a SIGKILLed build left in the cache, and nothing of a live one', async () => {
    const cacheDir = path.join(tmp, 'stale-cache');
    const store = new RootfsStore({ dir: path.join(cacheDir, 'rootfs'), host: inspectHost() });
    const killed = await spawnWriter(cacheDir);
    const live = await spawnWriter(cacheDir);
    /** Partial blobs: files under the writers' temp directories in DIR/tmp. */
    const partials = (): string[] =>
      fs.readdirSync(path.join(cacheDir, 'tmp')).flatMap((d) => {
        const full = path.join(cacheDir, 'tmp', d);
        return fs.statSync(full).isDirectory() ? fs.readdirSync(full).filter((n) => n.startsWith('.ocibuild-blob-')) : [];
      });
    try {
      await kill(killed.child);
      assert.equal(partials().length, 2, 'each writer left a partial blob');
      for (const p of [killed.left.temp, killed.left.live, live.left.temp, live.left.live]) assert.ok(fs.existsSync(p), p);

      // Entries that look stale but are not ours to remove: a symlink, and (as root) another user's.
      // A dead pid in this PID namespace: only the symlink and owner rules can keep these.
      const deadTag = `999999999.1.${processTag().split('.')[2]}`;
      const symlink = path.join(cacheDir, 'tmp', `${deadTag}-link`);
      const target = path.join(tmp, 'symlink-target');
      fs.mkdirSync(target);
      fs.symlinkSync(target, symlink);
      const foreign = path.join(cacheDir, 'tmp', `${deadTag}-foreign`);
      fs.mkdirSync(foreign);
      if (process.getuid?.() === 0) fs.chownSync(foreign, 65534, 65534);

      // The next run: a cache open, a RUN session's live directory.
      await openCache({ dir: cacheDir });
      const mine = await store.liveDir();

      assert.equal(fs.existsSync(killed.left.temp), false, 'killed temp dir removed');
      assert.equal(fs.existsSync(killed.left.live), false, 'killed live rootfs dir removed');
      assert.equal(partials().length, 1, 'the killed partial blob is removed, the live one stays');
      for (const p of [live.left.temp, live.left.live, mine]) assert.ok(fs.existsSync(p), `${p} kept`);
      assert.ok(fs.lstatSync(symlink).isSymbolicLink(), 'symlink kept');
      assert.ok(fs.existsSync(target), 'symlink target untouched');
      if (process.getuid?.() === 0) assert.ok(fs.existsSync(foreign), "another user's entry kept");
    } finally {
      if (live.child.exitCode === null) await kill(live.child);
    }
    // Once the live writer is killed too, its entries go as well.
    await openCache({ dir: cacheDir });
    await store.liveDir();
    assert.equal(fs.existsSync(live.left.temp), false);
    assert.equal(fs.existsSync(live.left.live), false);
    assert.equal(partials().length, 0);
  });

  it('judges entries by process start time (a reused pid is not alive) and other namespaces by age', async () => {
    const parent = path.join(tmp, 'tags');
    fs.mkdirSync(parent);
    const [pid, start, ns] = processTag().split('.');
    assert.ok(start !== undefined && ns !== undefined, `tag ${processTag()} has a start time and a namespace`);
    // Our own pid with another start time: the process that made it is gone.
    const reused = path.join(parent, `ocibuild-${pid}.${Number(start) + 1}.${ns}-x`);
    // Another PID namespace: kept until it is older than the bound.
    const otherNs = path.join(parent, `ocibuild-${pid}.${start}.${Number(ns) + 1}-x`);
    const otherNsOld = path.join(parent, `ocibuild-${pid}.${start}.${Number(ns) + 1}-old`);
    const ours = path.join(parent, `ocibuild-${processTag()}-x`);
    for (const d of [reused, otherNs, otherNsOld, ours]) fs.mkdirSync(d);
    const old = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(otherNsOld, old, old);
    const removed = await removeStaleTemps(parent, 'ocibuild-', { unjudgedAfterMs: 3600_000 });
    assert.deepEqual(removed.sort(), [otherNsOld, reused].sort());
  });
});

describe('local state: as an unprivileged user', () => {
  it('creates its cache 0700/0600 under umask 000 and removes only its own dead entries from a shared dir', { skip: !isRoot() && 'needs root to switch users' }, async () => {
    const user = ensureUnprivilegedUser();
    const shared = path.join(tmp, 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(tmp, 0o755);
    fs.chmodSync(shared, 0o1777); // like /tmp
    // A pid no process has, in this PID namespace (the user's process shares it): judged dead.
    const deadTag = `999999998.1.${processTag().split('.')[2]}`;
    const rootsEntry = path.join(shared, `ocibuild-${deadTag}-root`);
    fs.mkdirSync(rootsEntry);
    const usersEntry = path.join(shared, `ocibuild-${deadTag}-user`);
    fs.mkdirSync(usersEntry);
    fs.chownSync(usersEntry, user.uid, user.gid);
    const script = path.join(user.home, `local-state-${process.pid}.mts`);
    fs.writeFileSync(
      script,
      `
      process.umask(0);
      const { openCache } = await import(${JSON.stringify(path.join(repo, 'src/cache/store.ts'))});
      const { removeStaleTemps } = await import(${JSON.stringify(path.join(repo, 'src/temp.ts'))});
      const fs = await import('node:fs');
      const dir = process.env.HOME + '/cache-${process.pid}';
      const cache = await openCache({ dir });
      const bytes = new TextEncoder().encode('private');
      const digest = 'sha256:' + (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
      await cache.putBlob({ mediaType: 'application/octet-stream', digest, size: bytes.length }, async function* () { yield bytes; });
      await cache.writeJson('steps', 'x', { a: 1 });
      await cache.makeTempDir();
      const modes = {};
      const walk = (p) => { const st = fs.lstatSync(p); modes[p.slice(dir.length) || '.'] = (st.isDirectory() ? 'd' : 'f') + (st.mode & 0o777).toString(8); if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(p + '/' + n); };
      walk(dir);
      const removed = await removeStaleTemps(${JSON.stringify(shared)}, 'ocibuild-');
      console.log(JSON.stringify({ modes, removed }));
      fs.rmSync(dir, { recursive: true, force: true });
      `,
    );
    fs.chownSync(script, user.uid, user.gid);
    try {
      const result = await runAs(user, tsxArgv(script), { cwd: user.home, timeoutMs: 60_000 });
      assert.equal(result.exitCode, 0, result.stderr);
      const { modes: seen, removed } = JSON.parse(result.stdout) as { modes: Record<string, string>; removed: string[] };
      assert.ok(Object.keys(seen).length >= 6, JSON.stringify(seen));
      for (const [p, mode] of Object.entries(seen)) assert.ok(mode === 'd700' || mode === 'f600', `${p}: ${mode}`);
      assert.deepEqual(removed, [usersEntry]);
      assert.ok(fs.existsSync(rootsEntry), "root's entry is not the user's to remove");
    } finally {
      fs.rmSync(script, { force: true });
    }
  });
});
