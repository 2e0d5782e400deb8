/**
 * Hostile layers that extract.test.ts does not cover yet, all contained by `extractLayer`:
 * whiteouts and opaque markers behind symlinks that point out of the root, duplicate members
 * (same path with another type, a directory over a symlink, a file over a hardlink), and a
 * hardlink to a symlink. After each, everything outside the rootfs is exactly as it was.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { extractLayer } from '../../src/run/extract.ts';
import { makeTar } from '../helpers/tar.ts';

describe('extractLayer: hostile layers', () => {
  let tmp: string;
  let root: string;
  let outside: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-extract-hostile-'));
    root = path.join(tmp, 'rootfs');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'passwd'), 'host\n');
    fs.mkdirSync(path.join(outside, 'sub'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function assertOutsideUntouched(): void {
    assert.deepEqual(fs.readdirSync(tmp).sort(), ['outside', 'rootfs']);
    assert.deepEqual(fs.readdirSync(outside).sort(), ['passwd', 'sub']);
    assert.equal(fs.readFileSync(path.join(outside, 'passwd'), 'utf8'), 'host\n');
    assert.equal(fs.statSync(path.join(outside, 'passwd')).nlink, 1);
  }

  it('a whiteout or opaque marker behind a symlink out of the root removes nothing outside', async () => {
    // In one layer, and across layers (the symlink from a lower layer, the whiteout above it).
    await extractLayer(root, await makeTar([
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'abs/.wh.passwd', body: '' },
      { name: 'rel', type: 'symlink', linkname: '../../../../../outside' },
      { name: 'rel/.wh.sub', body: '' },
    ]));
    assertOutsideUntouched();
    await extractLayer(root, await makeTar([
      { name: 'abs/.wh..wh..opq', body: '' },
      { name: 'rel/.wh..wh..opq', body: '' },
      { name: 'dotdot', type: 'symlink', linkname: '..' },
    ]));
    await extractLayer(root, await makeTar([{ name: 'dotdot/.wh.outside', body: '' }, { name: 'dotdot/outside/.wh..wh..opq', body: '' }]));
    assertOutsideUntouched();
    // The links themselves are still there: the markers acted inside the root only.
    assert.equal(fs.readlinkSync(path.join(root, 'abs')), outside);
  });

  it('duplicate members: the last one wins, by replacing, never by writing through', async () => {
    await extractLayer(root, await makeTar([
      { name: 'same', body: 'first' },
      { name: 'same', body: 'second' },
      { name: 'f-then-d', body: 'file' },
      { name: 'f-then-d', type: 'directory' },
      { name: 'f-then-d/child', body: 'in dir' },
      { name: 'd-then-f', type: 'directory' },
      { name: 'd-then-f/child', body: 'gone' },
      { name: 'd-then-f', body: 'now a file' },
      // A directory entry over a symlink that points outside: the link is replaced, not followed.
      { name: 'dirlink', type: 'symlink', linkname: outside },
      { name: 'dirlink', type: 'directory', mode: 0o777 },
      { name: 'dirlink/passwd', body: 'pwned\n' },
      // A file over a hardlink: the other name keeps its content.
      { name: 'orig', body: 'original' },
      { name: 'hard', type: 'link', linkname: 'orig' },
      { name: 'hard', body: 'replaced' },
    ]));
    assertOutsideUntouched();
    assert.equal(fs.readFileSync(path.join(root, 'same'), 'utf8'), 'second');
    assert.equal(fs.readFileSync(path.join(root, 'f-then-d/child'), 'utf8'), 'in dir');
    assert.equal(fs.readFileSync(path.join(root, 'd-then-f'), 'utf8'), 'now a file');
    assert.ok(fs.lstatSync(path.join(root, 'dirlink')).isDirectory());
    assert.equal(fs.statSync(path.join(root, 'dirlink')).mode & 0o7777, 0o777);
    assert.equal(fs.readFileSync(path.join(root, 'dirlink/passwd'), 'utf8'), 'pwned\n');
    assert.equal(fs.readFileSync(path.join(root, 'orig'), 'utf8'), 'original');
    assert.equal(fs.readFileSync(path.join(root, 'hard'), 'utf8'), 'replaced');
  });

  it('a hardlink to a symlink out of the root links the symlink, and a file over it does not write out', async () => {
    await extractLayer(root, await makeTar([
      { name: 'sym', type: 'symlink', linkname: path.join(outside, 'passwd') },
      { name: 'hl', type: 'link', linkname: 'sym' },
    ]));
    assert.ok(fs.lstatSync(path.join(root, 'hl')).isSymbolicLink(), 'the link itself, not its target');
    await extractLayer(root, await makeTar([{ name: 'hl', body: 'pwned\n' }, { name: 'sym', body: 'pwned\n' }]));
    assertOutsideUntouched();
  });

  it('a member under a symlink is resolved inside the root: to a file there it fails, to a host path it stays inside', async () => {
    await assert.rejects(
      extractLayer(root, await makeTar([
        { name: 'file', body: 'x' },
        { name: 'etc', type: 'symlink', linkname: '/file' },
        { name: 'etc/shadow', body: 'x' },
      ])),
      { code: 'ERR_LAYER' },
    );
    await extractLayer(root, await makeTar([
      { name: 'etc2', type: 'symlink', linkname: path.join(outside, 'passwd') },
      { name: 'etc2/shadow', body: 'inside\n' },
    ]));
    assert.equal(fs.readFileSync(path.join(root, outside, 'passwd', 'shadow'), 'utf8'), 'inside\n');
    assertOutsideUntouched();
  });
});
