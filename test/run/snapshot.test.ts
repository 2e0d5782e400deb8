import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diffSnapshots, takeSnapshot } from '../../src/run/snapshot.ts';
import type { LayerEntry } from '../../src/layer/types.ts';

function byPath(entries: LayerEntry[]): Map<string, LayerEntry[]> {
  const m = new Map<string, LayerEntry[]>();
  for (const e of entries) m.set(e.path, [...(m.get(e.path) ?? []), e]);
  return m;
}

describe('snapshots', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-snapshot-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reports nothing when nothing changed', () => {
    const root = path.join(tmp, 'same');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/a'), 'a');
    assert.deepEqual(diffSnapshots(takeSnapshot(root), takeSnapshot(root)), []);
  });

  it('finds additions, changes, deletions, replaced directories, links and owner changes', () => {
    const root = path.join(tmp, 'diff');
    for (const d of ['etc', 'tmp', 'old/sub', 'gone/deep', 'proc', 'dev']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.chmodSync(path.join(root, 'tmp'), 0o1777);
    fs.writeFileSync(path.join(root, 'etc/keep'), 'keep');
    fs.writeFileSync(path.join(root, 'etc/edit'), 'v1');
    fs.writeFileSync(path.join(root, 'etc/mode'), 'm');
    fs.writeFileSync(path.join(root, 'old/sub/x'), 'x');
    fs.writeFileSync(path.join(root, 'gone/deep/y'), 'y');
    const t = new Date('2020-01-01T00:00:00Z');
    fs.utimesSync(path.join(root, 'etc/edit'), t, t);
    const s0 = takeSnapshot(root);

    fs.writeFileSync(path.join(root, 'tmp/new'), 'new');
    // Same size and mtime, different content: only ctime tells.
    fs.writeFileSync(path.join(root, 'etc/edit'), 'v2');
    fs.utimesSync(path.join(root, 'etc/edit'), t, t);
    fs.chmodSync(path.join(root, 'etc/mode'), 0o600);
    fs.rmSync(path.join(root, 'gone'), { recursive: true });
    fs.rmSync(path.join(root, 'old'), { recursive: true });
    fs.mkdirSync(path.join(root, 'old'));
    fs.writeFileSync(path.join(root, 'old/z'), 'z');
    fs.symlinkSync('/etc/keep', path.join(root, 'tmp/sym'));
    fs.linkSync(path.join(root, 'tmp/new'), path.join(root, 'tmp/hard'));
    fs.writeFileSync(path.join(root, 'proc/ignored'), '');
    fs.writeFileSync(path.join(root, 'dev/ignored'), '');
    const s1 = takeSnapshot(root);

    const clamp = new Date('2021-01-01T00:00:00Z');
    const diff = diffSnapshots(s0, s1, { clampMtime: clamp });
    const m = byPath(diff);
    const paths = diff.map((e) => `${e.type} ${e.path}`);
    assert.deepEqual(paths, [
      'directory /etc',
      'file /etc/edit',
      'file /etc/mode',
      'whiteout /gone',
      'opaque /old',
      'directory /old',
      'file /old/z',
      'directory /tmp',
      'file /tmp/hard',
      'hardlink /tmp/new',
      'symlink /tmp/sym',
    ]);
    const tmpDir = m.get('/tmp')?.[0];
    assert.equal(tmpDir?.type === 'directory' && tmpDir.mode, 0o1777);
    const mode = m.get('/etc/mode')?.[0];
    assert.equal(mode?.type === 'file' && mode.mode, 0o600);
    // The first path of a hardlink group (in sorted order) carries the content.
    const link = m.get('/tmp/new')?.[0];
    assert.equal(link?.type === 'hardlink' && link.target, '/tmp/hard');
    const first = m.get('/tmp/hard')?.[0];
    assert.equal(first?.type === 'file' && first.source, path.join(root, 'tmp/hard'));
    for (const e of diff) if ('mtime' in e && e.mtime !== undefined) assert.ok(e.mtime.getTime() <= clamp.getTime(), e.path);
  });

  it('translates host owners back to container ids', () => {
    const root = path.join(tmp, 'owners');
    fs.mkdirSync(root);
    const s0 = takeSnapshot(root);
    fs.writeFileSync(path.join(root, 'f'), '');
    const s1 = takeSnapshot(root);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const mapping = { uids: [{ inside: 1000, outside: uid, count: 1 }], gids: [{ inside: 2000, outside: gid, count: 1 }] };
    const [entry] = diffSnapshots(s0, s1, { mapping });
    assert.equal(entry?.type, 'file');
    assert.deepEqual(entry?.type === 'file' && [entry.uid, entry.gid], [1000, 2000]);
  });

  it('snapshots 50,000 files quickly', () => {
    const root = path.join(tmp, 'big');
    const names: string[] = [];
    for (let d = 0; d < 100; d++) {
      fs.mkdirSync(path.join(root, `d${d}`), { recursive: true });
      for (let f = 0; f < 500; f++) names.push(`d${d}/f${f}`);
    }
    // xargs touch is several times faster than 50,000 writeFileSync calls.
    const made = spawnSync('xargs', ['touch'], { cwd: root, input: names.join('\n') });
    assert.equal(made.status, 0, String(made.stderr));
    const s0 = takeSnapshot(root);
    fs.writeFileSync(path.join(root, 'd7/f7'), 'changed');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const s1 = takeSnapshot(root);
    const diff = diffSnapshots(s0, s1);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    assert.equal(s1.entries.size, 50_100);
    assert.deepEqual(diff.map((e) => e.path), ['/d7', '/d7/f7']);
    process.stdout.write(`# snapshot+diff of 50,100 entries: ${cpuMs.toFixed(0)} ms CPU, ${wallMs.toFixed(0)} ms wall\n`);
    // "Well under a second" on the reference machine; leave room for slow CI runners.
    assert.ok(cpuMs < 2000, `${cpuMs} ms CPU`);
  });
});
