import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeLayer } from '../../src/layer/index.ts';
import type { BuiltLayer, LayerEvent } from '../../src/layer/index.ts';
import { gnuTarList, readLayerFile } from './util.ts';
import type { ReadEntry } from './util.ts';

// 150 bytes with a slash split that fits ustar prefix+name; 300 bytes needs PAX; UTF-8 needs PAX.
const LONG_DIR = 'd'.repeat(60);
const LONG_150 = `${LONG_DIR}/${'f'.repeat(89)}`;
const LONG_300 = `${'e'.repeat(200)}/${'g'.repeat(99)}`;
const UTF8 = 'données-ünïcødé-日本.txt';

let tmp: string;
let src: string;
let out: string;
let layer: BuiltLayer;
let entries: ReadEntry[];
let gnu: string[];
const events: LayerEvent[] = [];

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-layer-'));
  src = path.join(tmp, 'src');
  out = path.join(tmp, 'out');
  await fs.mkdir(path.join(src, 'bin'), { recursive: true });
  await fs.mkdir(path.join(src, 'lib/sub'), { recursive: true });
  await fs.mkdir(path.join(src, LONG_DIR));
  await fs.mkdir(path.join(src, 'e'.repeat(200)));
  await fs.writeFile(path.join(src, 'bin/run'), '#!/bin/sh\necho hi\n', { mode: 0o750 });
  await fs.chmod(path.join(src, 'bin/run'), 0o750);
  await fs.writeFile(path.join(src, 'lib/a.js'), 'a'.repeat(1000));
  await fs.chmod(path.join(src, 'lib/a.js'), 0o640);
  await fs.writeFile(path.join(src, 'lib/sub/empty'), '');
  await fs.writeFile(path.join(src, 'lib/override.txt'), 'from disk');
  await fs.link(path.join(src, 'lib/a.js'), path.join(src, 'lib/b.js'));
  await fs.link(path.join(src, 'lib/a.js'), path.join(src, 'bin/a-link'));
  await fs.symlink('../lib/a.js', path.join(src, 'bin/sym'));
  await fs.symlink(`/${'t'.repeat(120)}`, path.join(src, 'bin/longsym'));
  await fs.writeFile(path.join(src, LONG_150), 'long150');
  await fs.writeFile(path.join(src, LONG_300), 'long300');
  await fs.writeFile(path.join(src, UTF8), 'utf8');
  execFileSync('mkfifo', [path.join(src, 'lib/fifo')]);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path.join(src, 'lib/sock'), resolve));
  await fs.chmod(src, 0o700);
  layer = await writeLayer(
    {
      directories: [{ source: src, destination: '/app' }],
      entries: [
        { type: 'file', path: '/app/lib/override.txt', source: new TextEncoder().encode('explicit'), uid: 1000, gid: 1001, uname: 'node', gname: 'node' },
        { type: 'file', path: 'etc/config.json', source: new TextEncoder().encode('{}'), mode: 0o600, mtime: new Date('2020-01-02T03:04:05.678Z') },
        { type: 'symlink', path: '/usr/bin/app', target: '/app/bin/run' },
        { type: 'hardlink', path: '/usr/bin/app-hard', target: '/app/bin/run' },
        { type: 'whiteout', path: '/var/old' },
        { type: 'opaque', path: '/opt' },
      ],
      parents: { uid: 7, gid: 8 },
    },
    { directory: out, sourceDateEpoch: 1_700_000_000, onEvent: (e) => events.push(e) },
  );
  server.close();
  entries = await readLayerFile(layer.path);
  gnu = gnuTarList(layer.path);
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const find = (name: string): ReadEntry => {
  const entry = entries.find((e) => e.header.name === name);
  assert.ok(entry, `entry ${name} missing; have ${entries.map((e) => e.header.name).join(', ')}`);
  return entry;
};

describe('writeLayer tar content', () => {
  it('writes sorted, relative paths with parents first and no duplicates', () => {
    const names = entries.map((e) => e.header.name);
    const bare = names.map((n) => n.replace(/\/$/, ''));
    const sorted = [...bare].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(bare, sorted);
    assert.equal(new Set(bare).size, bare.length);
    for (const name of names) {
      assert.ok(!name.startsWith('/') && !name.startsWith('./'), name);
      const parent = path.posix.dirname(name.replace(/\/$/, ''));
      if (parent !== '.') assert.ok(names.indexOf(`${parent}/`) < names.indexOf(name), `${parent}/ before ${name}`);
    }
    assert.equal(names[0], 'app/');
    assert.ok(names.includes('usr/') && names.includes('usr/bin/'));
    assert.equal(layer.entryCount, entries.length);
  });

  it('keeps disk modes without file type bits, uid/gid 0, empty names, epoch mtimes', () => {
    const run = find('app/bin/run').header;
    assert.equal(run.mode, 0o750);
    assert.equal(run.uid, 0);
    assert.equal(run.gid, 0);
    assert.equal(run.uname, '');
    assert.equal(run.gname, '');
    assert.equal(run.mtime?.getTime(), 1_700_000_000_000);
    assert.equal(find('app/lib/a.js').header.mode, 0o640);
    assert.equal(find('app/lib/sub/').header.type, 'directory');
  });

  it('applies parent metadata, explicit overrides and per-entry mtimes', () => {
    const usr = find('usr/').header;
    assert.deepEqual([usr.uid, usr.gid, usr.mode], [7, 8, 0o755]);
    const app = find('app/').header;
    assert.deepEqual([app.uid, app.gid, app.mode], [7, 8, 0o755]);
    const override = find('app/lib/override.txt');
    assert.equal(override.content.toString(), 'explicit');
    assert.deepEqual([override.header.uid, override.header.gid, override.header.uname, override.header.gname], [1000, 1001, 'node', 'node']);
    const config = find('etc/config.json').header;
    assert.equal(config.mode, 0o600);
    assert.equal(config.mtime?.getTime(), Date.parse('2020-01-02T03:04:05Z'));
  });

  it('keeps symlinks as symlinks and stores hardlinks once', () => {
    assert.deepEqual([find('app/bin/sym').header.type, find('app/bin/sym').header.linkname], ['symlink', '../lib/a.js']);
    assert.equal(find('app/bin/longsym').header.linkname, `/${'t'.repeat(120)}`);
    // First path in sort order holds the bytes; the others link to it.
    const first = find('app/bin/a-link');
    assert.equal(first.header.type, 'file');
    assert.equal(first.content.length, 1000);
    for (const name of ['app/lib/a.js', 'app/lib/b.js']) {
      assert.deepEqual([find(name).header.type, find(name).header.linkname, find(name).header.size], ['link', 'app/bin/a-link', 0]);
    }
    assert.deepEqual([find('usr/bin/app').header.type, find('usr/bin/app').header.linkname], ['symlink', '/app/bin/run']);
    assert.deepEqual([find('usr/bin/app-hard').header.type, find('usr/bin/app-hard').header.linkname], ['link', 'app/bin/run']);
  });

  it('writes long and UTF-8 names', () => {
    assert.equal(find(`app/${LONG_150}`).content.toString(), 'long150');
    assert.equal(find(`app/${LONG_300}`).content.toString(), 'long300');
    assert.equal(find(`app/${UTF8}`).content.toString(), 'utf8');
  });

  it('writes whiteouts as empty mode-0 files, keeps FIFOs, skips sockets with a warning', () => {
    for (const name of ['var/.wh.old', 'opt/.wh..wh..opq']) {
      const w = find(name).header;
      assert.deepEqual([w.type, w.mode, w.size], ['file', 0, 0]);
    }
    assert.equal(find('app/lib/fifo').header.type, 'fifo');
    assert.ok(!entries.some((e) => e.header.name === 'app/lib/sock'));
    assert.ok(events.some((e) => e.type === 'warning' && e.path.endsWith('sock')));
  });

  it('is read the same way by GNU tar', () => {
    const names = gnu.map((line) => line.split(/\s+/).slice(5).join(' ').replace(/ -> .*| link to .*/, ''));
    assert.deepEqual(names, entries.map((e) => e.header.name));
    const run = gnu.find((line) => line.endsWith(' app/bin/run'));
    assert.match(run ?? '', /^-rwxr-x--- 0\/0 +\d+ 2023-11-14 22:13:20 app\/bin\/run$/);
    assert.ok(gnu.some((line) => /^hrw-r----- .* app\/lib\/b\.js link to app\/bin\/a-link$/.test(line)));
    assert.ok(gnu.some((line) => /^lrwx.* app\/bin\/sym -> \.\.\/lib\/a\.js$/.test(line)));
    assert.ok(gnu.some((line) => line.endsWith(` app/${LONG_300}`)));
    assert.ok(gnu.some((line) => /^p.* app\/lib\/fifo$/.test(line)));
    assert.ok(gnu.some((line) => /^-rw-r--r-- 1000\/1001 .* app\/lib\/override\.txt$/.test(line)));
  });

  it('returns a descriptor that matches the blob, and leaves only the blob', async () => {
    const blob = await fs.readFile(layer.path);
    assert.equal(layer.descriptor.size, blob.length);
    assert.equal(layer.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(path.basename(layer.path), layer.descriptor.digest.slice('sha256:'.length));
    assert.deepEqual(await fs.readdir(out), [path.basename(layer.path)]);
    const parts: Uint8Array[] = [];
    for await (const chunk of layer.open()) parts.push(chunk);
    assert.deepEqual(Buffer.concat(parts), blob);
  });
});

describe('explicit hardlinks that sort before their file', () => {
  it('writes the first name with the bytes and links the others to it, so tar can extract them', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-hardlink-order-'));
    try {
      const built = await writeLayer(
        {
          entries: [
            { type: 'file', path: '/app/run.sh', source: new TextEncoder().encode('#!/bin/sh\necho hi\n'), mode: 0o755 },
            { type: 'hardlink', path: '/app/a-link', target: '/app/run.sh' },
            { type: 'hardlink', path: '/app/b-link', target: '/app/run.sh' },
            { type: 'hardlink', path: '/app/z-link', target: '/app/run.sh' },
          ],
        },
        { directory: dir, sourceDateEpoch: 0 },
      );
      const read = await readLayerFile(built.path);
      const kinds = read.filter((e) => e.header.name.startsWith('app/') && e.header.name !== 'app/').map((e) => [e.header.name, e.header.type, e.header.linkname ?? '']);
      assert.deepEqual(kinds, [
        ['app/a-link', 'file', ''],
        ['app/b-link', 'link', 'app/a-link'],
        ['app/run.sh', 'link', 'app/a-link'],
        ['app/z-link', 'link', 'app/a-link'],
      ]);
      const into = path.join(dir, 'x');
      await fs.mkdir(into);
      execFileSync('tar', ['-xf', built.path, '-C', into]);
      const stats = await Promise.all(['a-link', 'b-link', 'run.sh', 'z-link'].map((n) => fs.stat(path.join(into, 'app', n))));
      assert.ok(stats.every((st) => st.ino === stats[0]?.ino && st.nlink === 4 && (st.mode & 0o777) === 0o755));
      assert.equal(await fs.readFile(path.join(into, 'app', 'run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
