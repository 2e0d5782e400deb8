import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileGlob, normalizeLayerPath } from '../../src/layer/index.ts';

describe('compileGlob', () => {
  const cases: [string, string[], string[]][] = [
    ['*.js', ['a.js', '.js'], ['a/b.js', 'a.jsx']],
    ['src/*', ['src/a', 'src/.x'], ['src', 'src/a/b']],
    ['a?c', ['abc'], ['a/c', 'ac', 'abbc']],
    ['[ab]x', ['ax', 'bx'], ['cx', '/x']],
    ['[!ab]x', ['cx'], ['ax', '/x']],
    ['[a-c]1', ['b1'], ['d1']],
    ['**/*.map', ['x.map', 'a/b/c.map'], ['a/b/c.mapx']],
    ['a/**', ['a/b', 'a/b/c'], ['ab/c']],
    ['a/**/z', ['a/z', 'a/b/z', 'a/b/c/z'], ['a/bz', 'az']],
    ['/node_modules/', ['node_modules'], ['x/node_modules']],
    ['a.b(c)+', ['a.b(c)+'], ['axb(c)+', 'a.bc']],
  ];
  for (const [pattern, yes, no] of cases) {
    it(`matches ${pattern}`, () => {
      const glob = compileGlob(pattern);
      for (const p of yes) assert.equal(glob.matches(p), true, `${pattern} should match ${p}`);
      for (const p of no) assert.equal(glob.matches(p), false, `${pattern} should not match ${p}`);
    });
  }
  it('rejects an unclosed class', () => {
    assert.throws(() => compileGlob('a[b'), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('normalizeLayerPath', () => {
  it('normalises to relative POSIX paths', () => {
    assert.equal(normalizeLayerPath('/app/./x//y/'), 'app/x/y');
    assert.equal(normalizeLayerPath('./a/b/../c'), 'a/c');
    assert.equal(normalizeLayerPath('/'), '');
    assert.equal(normalizeLayerPath('a/..'), '');
  });
  it('rejects escapes and NUL', () => {
    for (const bad of ['..', '../x', 'a/../../x', '/..']) assert.throws(() => normalizeLayerPath(bad), { code: 'ERR_PATH_ESCAPE' });
    assert.throws(() => normalizeLayerPath('a\0b'), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
