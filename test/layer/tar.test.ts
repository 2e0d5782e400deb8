import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHeader } from '../../src/layer/index.ts';
import type { ResolvedLayerEntry } from '../../src/layer/index.ts';
import { END_OF_ARCHIVE } from '../../src/layer/tar.ts';
import { readTar } from './util.ts';

const pax = (h: object): Record<string, string> => (h as { pax?: Record<string, string> }).pax ?? {};

const base: ResolvedLayerEntry = { path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 0 };

async function roundTrip(entry: ResolvedLayerEntry) {
  const header = encodeHeader(entry);
  const [read] = await readTar(Buffer.concat([header, END_OF_ARCHIVE]));
  assert.ok(read);
  return { header, read: read.header };
}

describe('encodeHeader', () => {
  it('writes a plain ustar header when everything fits', async () => {
    const { header, read } = await roundTrip(base);
    assert.equal(header.length, 512);
    assert.equal(Buffer.from(header.subarray(257, 265)).toString('latin1'), 'ustar\u000000');
    assert.deepEqual([read.name, read.mode, read.mtime?.getTime()], ['a', 0o644, 1000]);
  });

  it('splits a 150-byte path into prefix and name without PAX', async () => {
    const name = `${'p'.repeat(80)}/${'n'.repeat(69)}`;
    const { header, read } = await roundTrip({ ...base, path: name });
    assert.equal(header.length, 512);
    assert.equal(read.name, name);
  });

  it('adds PAX records only for what ustar cannot hold', async () => {
    const cases: [Partial<ResolvedLayerEntry>, (h: Awaited<ReturnType<typeof roundTrip>>['read']) => void][] = [
      [{ path: 'x'.repeat(150) }, (h) => assert.equal(h.name, 'x'.repeat(150))],
      [{ path: `${'y'.repeat(200)}/${'z'.repeat(120)}` }, (h) => assert.equal(h.name.length, 321)],
      [{ path: 'ünï' }, (h) => assert.equal(h.name, 'ünï')],
      [{ type: 'symlink', linkname: `/${'l'.repeat(150)}` }, (h) => assert.equal(h.linkname, `/${'l'.repeat(150)}`)],
      // tar-stream applies only path/linkpath from PAX; the other records are checked raw (GNU tar applies them, see write.test.ts).
      [{ uid: 3_000_000, gid: 4_000_000 }, (h) => assert.deepEqual([pax(h).uid, pax(h).gid], ['3000000', '4000000'])],
      [{ uname: 'u'.repeat(40) }, (h) => assert.equal(pax(h).uname, 'u'.repeat(40))],
    ];
    for (const [patch, check] of cases) {
      const { header, read } = await roundTrip({ ...base, ...patch });
      assert.ok(header.length > 512, `PAX expected for ${JSON.stringify(patch).slice(0, 40)}`);
      check(read);
    }
  });

  it('puts sizes of 8 GiB and more in PAX', () => {
    const header = Buffer.from(encodeHeader({ ...base, size: 2 ** 33 }));
    assert.match(header.subarray(512, 1024).toString('latin1'), /^\d+ size=8589934592\n/);
    assert.equal(header.subarray(1024 + 124, 1024 + 136).toString('latin1'), '00000000000\0');
  });

  it('writes directories with a trailing slash and devices with major/minor', async () => {
    assert.equal((await roundTrip({ ...base, type: 'directory', path: 'd', mode: 0o755 })).read.name, 'd/');
    const dev = (await roundTrip({ ...base, type: 'char-device', devmajor: 1, devminor: 3 })).read;
    assert.deepEqual([dev.type, dev.devmajor, dev.devminor], ['character-device', 1, 3]);
  });
});
