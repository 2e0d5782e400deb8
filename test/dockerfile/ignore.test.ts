import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { DockerfileError, OcibuildError } from '../../src/errors.ts';
import {
  cleanPath,
  createIgnoreMatcher,
  ignoreFileCandidates,
  loadDockerignore,
  parseDockerignore,
  selectIgnoreFile,
} from '../../src/dockerfile/ignore.ts';

test('filepath.Clean', () => {
  const cases: [string, string][] = [
    ['', '.'],
    ['.', '.'],
    ['./a/', 'a'],
    ['a//b/./c/..', 'a/b'],
    ['/../a', '/a'],
    ['../../a/b/../..', '../..'],
    ['/', '/'],
    ['a/../..', '..'],
  ];
  for (const [input, expected] of cases) assert.equal(cleanPath(input), expected, input);
});

test('reading a .dockerignore file', () => {
  const text = '\ufeff# comment\r\n  # not a comment\r\n\r\n*/temp*\n/foo/../bar/\n./baz\n!  /keep/me \n  spaced  \n!\n\n';
  assert.throws(() => parseDockerignore(text, { file: 'ctx/.dockerignore' }), (err: unknown) => {
    assert.ok(err instanceof DockerfileError);
    assert.equal(err.file, 'ctx/.dockerignore');
    assert.equal(err.line, 9);
    assert.match(err.message, /illegal exclusion pattern/);
    return true;
  });
  assert.deepEqual(parseDockerignore(text.replace('!\n', '')), [
    '# not a comment',
    '*/temp*',
    'bar',
    'baz',
    '!keep/me',
    'spaced',
  ]);
  assert.throws(() => parseDockerignore('ok\nbad[\n'), (err: unknown) => err instanceof DockerfileError && err.line === 2);
});

// Cases from moby/patternmatcher's TestMatches (MatchesOrParentMatches semantics); the
// "/" inputs are left out: context paths are relative.
const SINGLE: [string, string, boolean][] = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\\\', 'a\\', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  // Go's filepath.Match table, as patternmatcher runs it.
  ['*c', 'abc', true],
  ['a*', 'ab/c', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[^c]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', 'a', false],
  ['*x', 'xxx', true],
];

test('single patterns match as moby/patternmatcher does', () => {
  for (const [pattern, file, expected] of SINGLE) {
    assert.equal(createIgnoreMatcher([pattern]).matches(file), expected, `${pattern} vs ${file}`);
  }
});

test('malformed patterns are rejected', () => {
  for (const pattern of ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[', '!']) {
    assert.throws(
      () => createIgnoreMatcher([pattern]),
      (err: unknown) => err instanceof OcibuildError && err.code === 'ERR_INVALID_ARGUMENT',
      pattern,
    );
  }
});

test('several patterns: last match wins, directories cover their contents', () => {
  const cases: [string[], string, boolean][] = [
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['!fileutils.go', '*.go'], 'fileutils.go', true],
    [['*.go', '!fileutils.go'], 'fileutils.go', false],
    [['docs', '!docs/README.md'], 'docs/README.md', false],
    [['docs', '!docs/README.md'], 'docs/other.md', true],
    [['docs/*', '!docs/README.md'], 'docs/README.md', false],
    [['*.go'], '.', false],
    // docs.docker.com examples
    [['*/temp*'], 'somedir/temporary.txt', true],
    [['*/temp*'], 'somedir/temp/inner.txt', true],
    [['*/temp*'], 'temporary.txt', false],
    [['*/*/temp*'], 'somedir/subdir/temporary.txt', true],
    [['temp?'], 'tempa', true],
    [['temp?'], 'temp', false],
    [['**/*.go'], 'a/b/c.go', true],
    [['*.md', '!README.md'], 'README.md', false],
    [['*.md', '!README.md'], 'CHANGES.md', true],
    [['*.md', '!README*.md', 'README-secret.md'], 'README-secret.md', true],
    [['*.md', '!README*.md', 'README-secret.md'], 'README-public.md', false],
    [['*.md', 'README-secret.md', '!README*.md'], 'README-secret.md', false],
    [['node_modules'], 'node_modules/a/b.js', true],
    [['node_modules'], 'src/node_modules/a.js', false],
    // A leading `/` is removed when the file is read (patternmatcher itself keeps it).
    [parseDockerignore('/foo/bar'), 'foo/bar', true],
    [['/foo/bar'], 'foo/bar', false],
    [['foo/bar'], '/foo/bar', true],
    [['foo/bar'], './foo/bar/baz', true],
  ];
  for (const [patterns, file, expected] of cases) {
    assert.equal(createIgnoreMatcher(patterns).matches(file), expected, `${JSON.stringify(patterns)} vs ${file}`);
  }
});

test('mayReincludeUnder tells a walker whether to descend into an excluded directory', () => {
  assert.equal(createIgnoreMatcher(['node_modules']).mayReincludeUnder('node_modules'), false);
  const m = createIgnoreMatcher(['dir', 'other', '!dir/keep.txt']);
  assert.equal(m.hasExclusions, true);
  assert.equal(m.matches('dir'), true);
  assert.equal(m.matches('dir/keep.txt'), false);
  assert.equal(m.mayReincludeUnder('dir'), true);
  assert.equal(m.mayReincludeUnder('other'), false);
  assert.equal(m.mayReincludeUnder('di'), false);
  assert.equal(createIgnoreMatcher(['a/b', '!a/b']).mayReincludeUnder('a/b'), true);
  // Wildcard exceptions could match anywhere: descend.
  assert.equal(createIgnoreMatcher(['other', '!*.md']).mayReincludeUnder('other'), true);
});

test('the Dockerfile-specific ignore file takes precedence', () => {
  const ctx = path.resolve('/ctx');
  assert.deepEqual(ignoreFileCandidates(ctx, '/df/app.Dockerfile'), ['/df/app.Dockerfile.dockerignore', '/ctx/.dockerignore']);
  assert.equal(selectIgnoreFile('/df/app.Dockerfile', ['/ctx/.dockerignore', '/df/app.Dockerfile.dockerignore'], ctx), '/df/app.Dockerfile.dockerignore');
  assert.equal(selectIgnoreFile('/df/app.Dockerfile', ['/ctx/.dockerignore'], ctx), '/ctx/.dockerignore');
  assert.equal(selectIgnoreFile(undefined, (f) => f === '/ctx/.dockerignore', ctx), '/ctx/.dockerignore');
  assert.equal(selectIgnoreFile('/df/Dockerfile', [], ctx), undefined);
});

test('loadDockerignore reads the file that applies', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-ignore-'));
  try {
    const ctx = path.join(dir, 'ctx');
    const dfDir = path.join(dir, 'build');
    await mkdir(ctx);
    await mkdir(dfDir);
    const dockerfile = path.join(dfDir, 'app.Dockerfile');
    assert.deepEqual(await loadDockerignore(ctx, dockerfile), { file: undefined, patterns: [] });
    await writeFile(path.join(ctx, '.dockerignore'), 'node_modules\n*.log\n');
    assert.deepEqual(await loadDockerignore(ctx, dockerfile), {
      file: path.join(ctx, '.dockerignore'),
      patterns: ['node_modules', '*.log'],
    });
    await writeFile(`${dockerfile}.dockerignore`, '# specific\n!keep.log\n');
    assert.deepEqual(await loadDockerignore(ctx, dockerfile), {
      file: `${dockerfile}.dockerignore`,
      patterns: ['!keep.log'],
    });
    await writeFile(path.join(ctx, '.dockerignore'), 'ok\n[bad\n');
    await assert.rejects(loadDockerignore(ctx), (err: unknown) =>
      err instanceof DockerfileError && err.file === path.join(ctx, '.dockerignore') && err.line === 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
