import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveInRoot } from '../../src/run/paths.ts';

describe('resolveInRoot', () => {
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-paths-'));
    fs.mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
    fs.symlinkSync('/usr/lib', path.join(root, 'lib'));
    fs.symlinkSync('../../../../..', path.join(root, 'up'));
    fs.symlinkSync('/', path.join(root, 'slash'));
    fs.symlinkSync('loop2', path.join(root, 'loop1'));
    fs.symlinkSync('loop1', path.join(root, 'loop2'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('follows absolute symlinks inside the root', () => {
    const r = resolveInRoot(root, '/lib/x.so');
    assert.equal(r.hostPath, path.join(root, 'usr/lib/x.so'));
    assert.equal(r.relative, 'usr/lib/x.so');
    assert.equal(r.exists, false);
    assert.deepEqual(r.missing, [path.join(root, 'usr/lib/x.so')]);
  });

  it('clamps .. and symlinks to .. at the root', () => {
    assert.equal(resolveInRoot(root, '../../etc/passwd').hostPath, path.join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, '/up/etc/passwd').hostPath, path.join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, '/slash/etc').hostPath, path.join(root, 'etc'));
  });

  it('does not follow the final component unless asked', () => {
    assert.equal(resolveInRoot(root, '/lib').hostPath, path.join(root, 'lib'));
    assert.equal(resolveInRoot(root, '/lib', { followFinal: true }).hostPath, path.join(root, 'usr/lib'));
  });

  it('lists every missing component', () => {
    const r = resolveInRoot(root, '/a/b/c');
    assert.deepEqual(r.missing, ['a', 'a/b', 'a/b/c'].map((p) => path.join(root, p)));
  });

  it('rejects symlink loops', () => {
    assert.throws(() => resolveInRoot(root, '/loop1/x'), { code: 'ERR_PATH_ESCAPE' });
  });
});
