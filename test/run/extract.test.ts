import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { extractLayer, type RecordedOwner } from '../../src/run/extract.ts';
import { makeTar } from '../helpers/tar.ts';

describe('extractLayer', () => {
  let tmp: string;
  let root: string;
  let outside: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-extract-'));
    root = path.join(tmp, 'rootfs');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'passwd'), 'host\n');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Everything outside the rootfs must be exactly as it was. */
  function assertOutsideUntouched(): void {
    assert.deepEqual(fs.readdirSync(tmp).sort(), ['outside', 'rootfs']);
    assert.deepEqual(fs.readdirSync(outside), ['passwd']);
    assert.equal(fs.readFileSync(path.join(outside, 'passwd'), 'utf8'), 'host\n');
  }

  it('creates files, directories, symlinks and hardlinks with modes and mtimes', async () => {
    const layer = await makeTar([
      { name: 'usr/', type: 'directory', mode: 0o755 },
      { name: 'usr/bin/', type: 'directory', mode: 0o555 },
      { name: 'usr/bin/tool', body: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'usr/bin/alias', type: 'link', linkname: 'usr/bin/tool' },
      { name: 'usr/bin/sym', type: 'symlink', linkname: 'tool' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ]);
    const result = await extractLayer(root, layer);
    assert.equal(result.entries, 6);
    const tool = fs.statSync(path.join(root, 'usr/bin/tool'));
    assert.equal(tool.mode & 0o7777, 0o4755);
    assert.equal(tool.mtimeMs, 1000);
    assert.equal(fs.statSync(path.join(root, 'usr/bin/alias')).ino, tool.ino);
    assert.equal(fs.readlinkSync(path.join(root, 'usr/bin/sym')), 'tool');
    assert.equal(fs.statSync(path.join(root, 'usr/bin')).mode & 0o7777, 0o555);
    assert.equal(fs.statSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(fs.statSync(path.join(root, 'usr/bin')).mtimeMs, 1000);
  });

  it('applies whiteouts and opaque directories from lower layers only', async () => {
    await extractLayer(root, await makeTar([
      { name: 'a/', type: 'directory' },
      { name: 'a/old', body: 'old' },
      { name: 'a/keep/', type: 'directory' },
      { name: 'a/keep/lower', body: 'lower' },
      { name: 'b', body: 'b' },
      { name: 'c/', type: 'directory' },
      { name: 'c/d', body: 'd' },
    ]));
    await extractLayer(root, await makeTar([
      { name: 'a/', type: 'directory' },
      { name: 'a/new', body: 'new' },
      { name: 'a/keep/', type: 'directory' },
      { name: 'a/.wh..wh..opq', body: '' },
      { name: '.wh.b', body: '' },
      { name: '.wh.c', body: '' },
    ]));
    assert.deepEqual(fs.readdirSync(path.join(root, 'a')).sort(), ['keep', 'new']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'a/keep')), []);
    assert.deepEqual(fs.readdirSync(root).sort(), ['a']);
  });

  it('records non-root owners when not chowning, and forgets deleted ones', async () => {
    const owners = new Map<string, RecordedOwner>();
    await extractLayer(root, await makeTar([
      { name: 'home/app/', type: 'directory', uid: 1000, gid: 1000 },
      { name: 'home/app/f', body: 'x', uid: 1000, gid: 1000, mode: 0o2755 },
      { name: 'etc/', type: 'directory' },
    ]), { ownership: 'record', owners });
    assert.deepEqual(owners.get('home/app'), { uid: 1000, gid: 1000 });
    assert.deepEqual(owners.get('home/app/f'), { uid: 1000, gid: 1000, mode: 0o2755 });
    assert.equal(owners.has('etc'), false);
    await extractLayer(root, await makeTar([{ name: 'home/.wh.app', body: '' }]), { ownership: 'record', owners });
    assert.equal(owners.size, 0);
  });

  it('refuses ../ paths', async () => {
    await assert.rejects(extractLayer(root, await makeTar([{ name: '../outside/evil', body: 'x' }])), { code: 'ERR_PATH_ESCAPE' });
    await assert.rejects(extractLayer(root, await makeTar([{ name: 'a/../../outside/evil', body: 'x' }])), { code: 'ERR_PATH_ESCAPE' });
    assertOutsideUntouched();
  });

  it('keeps absolute member names inside the root', async () => {
    await extractLayer(root, await makeTar([{ name: '/abs/file', body: 'x' }]));
    assert.equal(fs.readFileSync(path.join(root, 'abs/file'), 'utf8'), 'x');
    assertOutsideUntouched();
  });

  it('never writes through a symlink that points out of the root', async () => {
    await extractLayer(root, await makeTar([
      { name: 'escape', type: 'symlink', linkname: outside },
      { name: 'escape/passwd', body: 'pwned\n' },
      { name: 'rel', type: 'symlink', linkname: '../../../../outside' },
      { name: 'rel/passwd', body: 'pwned\n' },
      { name: 'dotdot', type: 'symlink', linkname: '..' },
      { name: 'dotdot/outside/passwd', body: 'pwned\n' },
    ]));
    assertOutsideUntouched();
    // Resolved as the container would: inside the root.
    assert.equal(fs.readFileSync(path.join(root, outside, 'passwd'), 'utf8'), 'pwned\n');
    assert.equal(fs.readFileSync(path.join(root, 'outside/passwd'), 'utf8'), 'pwned\n');
  });

  it('replaces a symlink entry instead of writing through it', async () => {
    await extractLayer(root, await makeTar([
      { name: 'link', type: 'symlink', linkname: path.join(outside, 'passwd') },
      { name: 'link', body: 'replaced' },
    ]));
    assertOutsideUntouched();
    assert.equal(fs.lstatSync(path.join(root, 'link')).isFile(), true);
  });

  it('refuses hardlinks to files outside the root', async () => {
    await assert.rejects(
      extractLayer(root, await makeTar([{ name: 'pw', type: 'link', linkname: '../outside/passwd' }])),
      { code: 'ERR_PATH_ESCAPE' },
    );
    // An absolute target means the rootfs's /etc/passwd, which does not exist here.
    await assert.rejects(
      extractLayer(root, await makeTar([{ name: 'pw', type: 'link', linkname: '/etc/passwd' }])),
      { code: 'ERR_LAYER' },
    );
    // Through a symlinked parent: resolved inside the root, so again not the host's file.
    await assert.rejects(
      extractLayer(root, await makeTar([
        { name: 'out', type: 'symlink', linkname: outside },
        { name: 'pw', type: 'link', linkname: 'out/passwd' },
      ])),
      { code: 'ERR_LAYER' },
    );
    assert.equal(fs.statSync(path.join(outside, 'passwd')).nlink, 1);
    assertOutsideUntouched();
  });

  it('refuses whiteouts naming ..', async () => {
    await assert.rejects(extractLayer(root, await makeTar([{ name: 'a/.wh...', body: '' }])), { code: 'ERR_PATH_ESCAPE' });
    await assert.rejects(extractLayer(root, await makeTar([{ name: '../.wh.outside', body: '' }])), { code: 'ERR_PATH_ESCAPE' });
    // An opaque marker at the top of the root clears the root only.
    await extractLayer(root, await makeTar([{ name: 'x', body: '' }]));
    await extractLayer(root, await makeTar([{ name: '.wh..wh..opq', body: '' }]));
    assert.deepEqual(fs.readdirSync(root), []);
    assertOutsideUntouched();
  });

  it('skips device nodes and fifos with a warning', async () => {
    const warnings: string[] = [];
    const result = await extractLayer(root, await makeTar([
      { name: 'dev/', type: 'directory' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'fifo', type: 'fifo' },
    ]), { onWarning: (w) => warnings.push(w) });
    assert.equal(warnings.length, 2);
    assert.equal(result.warnings.length, 2);
    assert.deepEqual(fs.readdirSync(path.join(root, 'dev')), []);
  });
});
