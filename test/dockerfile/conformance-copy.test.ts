/**
 * Issue 11: COPY/ADD cases where ocibuild differed from BuildKit, checked with the assertions of
 * BuildKit's own tests (frontend/dockerfile/dockerfile_copy_test.go, dockerfile_parents_test.go,
 * dockerfile_test.go): buildah 1.28 lacks `--link`, `--parents`, symbolic `--chmod` and the
 * current fsutil rules, so a differential against it cannot decide these.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DockerfileError } from '../../src/errors.ts';
import { applyChmod, parseChmodSpec } from '../../src/dockerfile/chmod.ts';
import { compileDeepPattern } from '../../src/dockerfile/copy-match.ts';
import { busyboxRef, cleanupBusybox, interpret, type ReadEntry } from './interpret-harness.ts';

after(cleanupBusybox);

function pick(merged: Map<string, ReadEntry>, p: string): ReadEntry {
  const e = merged.get(p);
  assert.ok(e, `${p} missing; have ${[...merged.keys()].join(', ')}`);
  return e;
}

describe('COPY destinations (defect 3, multi-file decision)', () => {
  it('COPY --link to an empty destination copies into the working directory (testCopyLinkEmptyDestDir)', async () => {
    const base = await busyboxRef();
    const r = await interpret(`FROM ${base}\nWORKDIR /var/www\nENV empty=""\nCOPY --link testfile $empty\nCOPY --link testfile2 .\n`, {
      files: { testfile: 'contents0', testfile2: 'contents1' },
    });
    assert.equal(pick(r.merged, 'var/www/testfile').content, 'contents0');
    assert.equal(pick(r.merged, 'var/www/testfile2').content, 'contents1');
    assert.equal(pick(r.merged, 'var/www').type, 'directory');
  });

  it('several files to a destination without a trailing slash: each replaces the previous, the last one stays', async () => {
    const r = await interpret('FROM scratch\nCOPY a.txt b.txt /dest\nCOPY *.conf /conf\nCOPY dir a.txt /mixed\n', {
      files: { 'a.txt': 'A', 'b.txt': 'B', 'x.conf': 'X', 'y.conf': 'Y', 'dir/in': 'in' },
    });
    assert.equal(pick(r.merged, 'dest').type, 'file');
    assert.equal(pick(r.merged, 'dest').content, 'B');
    assert.equal(pick(r.merged, 'conf').content, 'Y', 'wildcard matches in sorted order, the last one wins');
    // A directory source makes the destination a directory; later files go into it.
    assert.equal(pick(r.merged, 'mixed').type, 'directory');
    assert.equal(pick(r.merged, 'mixed/in').content, 'in');
    assert.equal(pick(r.merged, 'mixed/a.txt').content, 'A');
  });

  it('a directory source after a file source of the same COPY is refused (fsutil: cannot copy to non-directory)', async () => {
    await assert.rejects(
      interpret('FROM scratch\nCOPY a.txt dir /dest\n', { files: { 'a.txt': 'A', 'dir/in': 'in' } }),
      (e: unknown) => e instanceof DockerfileError && e.line === 2 && /cannot copy to non-directory/.test(e.message),
    );
  });
});

describe('COPY --chmod (defect 6, symbolic modes)', () => {
  it('applies to the parent directories COPY creates (testCopyChmod)', async () => {
    const base = await busyboxRef();
    const r = await interpret(
      `FROM ${base}\nCOPY --chmod=0644 foo /\nCOPY --chmod=777 bar /baz\nCOPY --chmod=0 foo /foobis\nCOPY --chmod=777 foo /parent/foo\nCOPY --chmod=770 foo /parent/sub/foo\nARG mode\nCOPY --chmod=\${mode} foo /footer\n`,
      { files: { foo: { content: 'foo-contents', mode: 0o600 }, bar: { content: 'bar-contents', mode: 0o700 } }, buildArgs: { mode: '755' } },
    );
    assert.equal(pick(r.merged, 'foo').mode, 0o644);
    assert.equal(pick(r.merged, 'baz').mode, 0o777);
    assert.equal(pick(r.merged, 'foobis').mode, 0);
    assert.equal(pick(r.merged, 'parent').mode, 0o777);
    assert.equal(pick(r.merged, 'parent/sub').mode, 0o770);
    assert.equal(pick(r.merged, 'footer').mode, 0o755);
    // The later COPY re-emits /parent as it is in the stage, not with its own mode.
    assert.equal(r.layers[4]?.get('parent')?.mode, 0o777);
  });

  it('rejects non-octal numbers and bad symbolic modes with the line (testCopyInvalidChmod)', async () => {
    for (const [mode, message] of [
      ['64a', "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777"],
      ['10000', "invalid chmod parameter: '10000'. it should be octal string and between 0 and 07777"],
      ['8', "invalid chmod parameter: '8'"],
      ['u+q', "invalid chmod parameter: 'u+q'"],
    ] as const) {
      await assert.rejects(
        interpret(`FROM scratch\nCOPY --chmod=${mode} foo /\n`, { files: { foo: 'x' } }),
        (e: unknown) => e instanceof DockerfileError && e.line === 2 && e.message.includes(message),
        mode,
      );
    }
  });

  it('symbolic modes give what chmod(1) gives (testChmodNonOctal)', async () => {
    // The expected modes are `cp -a` then `chmod MODE` of a 0666 file and a 0124 directory.
    const cases: [string, boolean, number][] = [
      ['go-w', false, 0o644],
      ['u=rw,g=r,o=r', false, 0o644],
      ['a+X', false, 0o666],
      ['go-w', true, 0o104],
      ['u+rw,g+r,o-x,o+w', true, 0o766],
      ['a+X', true, 0o135],
    ];
    for (const [mode, dir, expected] of cases) {
      assert.equal(applyChmod(parseChmodSpec(mode), dir ? 0o124 : 0o666, dir).toString(8), expected.toString(8), `${mode} on ${dir ? 'dir' : 'file'}`);
    }
    assert.equal(applyChmod(parseChmodSpec('g=u,o='), 0o751, false).toString(8), '770');
    assert.equal(applyChmod(parseChmodSpec('u+s,+t'), 0o755, true).toString(8), '5755');

    const r = await interpret('FROM scratch\nCOPY --chmod=go-w file /f1\nCOPY --chmod=a+X dirs/d3 /\nCOPY --chmod=u+x file /new/f\n', {
      files: { file: { content: 'f', mode: 0o666 }, 'dirs/d3/d3': { dir: true, mode: 0o124 }, 'dirs/d3/d3/in': { content: 'i', mode: 0o644 } },
    });
    assert.equal(pick(r.merged, 'f1').mode, 0o644);
    assert.equal(pick(r.merged, 'd3').mode, 0o135);
    assert.equal(pick(r.merged, 'd3/in').mode, 0o644, 'X adds nothing to a file without an execute bit');
    assert.equal(pick(r.merged, 'new').mode, 0o755, 'a created parent is 0755 edited by the symbolic mode');
    assert.equal(pick(r.merged, 'new/f').mode, 0o766);
    assert.ok(r.history.some((h) => h.createdBy === 'COPY --chmod=go-w file /f1 # buildkit'));
  });
});

describe('COPY --parents with ** (defect 5, testCopyParents and testCopyRelativeParents)', () => {
  const tree = {
    'test/a/b/c/d/foo': 'foo',
    'test/a/b/c/d/e/bay': 'bay',
    'test/a/b2/c/d/e/bar': 'bar',
    'test/a/b/c2/d/e/baz': 'baz1',
    'test/a/b/c2/d/e2/baz': 'baz2',
  };

  it('compiles ** to any number of directories, zero included', () => {
    const re = compileDeepPattern('d/**/baz');
    for (const p of ['d/baz', 'd/e/baz', 'd/e/f/baz']) assert.ok(re.test(p), p);
    for (const p of ['d/bazz', 'x/d/baz', 'd/e/bay']) assert.ok(!re.test(p), p);
    assert.ok(compileDeepPattern('c/**').test('c/x/y'));
    assert.ok(!compileDeepPattern('c/*').test('c/x/y'));
  });

  it('keeps the path after the /./ pivot, expanding wildcards on both sides', async () => {
    const r = await interpret(
      [
        'FROM scratch',
        'COPY --parents foo1/foo2/bar /',
        'WORKDIR /test',
        'COPY --parents foo1/foo2/ba* .',
        'COPY --parents test/a/b/./c/d /middle/',
        'COPY --parents test/a/./b/./c /double/',
        'COPY --parents test/a/./*/c /wildcard/',
        'COPY --parents test/a/b*/./c/**/e /doublewildcard/',
        'COPY --parents test/a/b/c*/./d/**/baz test/a/b*/./c/**/bar /doubleinputs/',
      ].join('\n'),
      { files: { ...tree, 'foo1/foo2/bar': 'testing', 'foo1/foo2/baz': 'testing2' } },
    );
    const m = r.merged;
    assert.equal(pick(m, 'foo1/foo2/bar').content, 'testing');
    assert.equal(pick(m, 'test/foo1/foo2/bar').content, 'testing');
    assert.equal(pick(m, 'test/foo1/foo2/baz').content, 'testing2');
    assert.equal(pick(m, 'middle/c/d/e').type, 'directory');
    assert.equal(pick(m, 'middle/c/d/foo').content, 'foo');
    assert.ok(!m.has('middle/a') && !m.has('middle/e'));
    assert.equal(pick(m, 'double/b/c/d/foo').content, 'foo', 'only the first /./ pivots; the rest is normalised away');
    assert.equal(pick(m, 'wildcard/b/c/d/e/bay').content, 'bay');
    assert.equal(pick(m, 'wildcard/b2/c/d/e/bar').content, 'bar');
    assert.equal(pick(m, 'doublewildcard/c/d/e/bay').content, 'bay', 'via b');
    assert.equal(pick(m, 'doublewildcard/c/d/e/bar').content, 'bar', 'via b2');
    assert.ok(!m.has('doublewildcard/c/d/foo'), 'only what ** matched');
    assert.equal(pick(m, 'doubleinputs/d/e/baz').content, 'baz1');
    assert.equal(pick(m, 'doubleinputs/d/e2/baz').content, 'baz2');
    assert.ok(!m.has('doubleinputs/d/e/bay'));
    assert.equal(pick(m, 'doubleinputs/c/d/e/bar').content, 'bar', 'the second source is kept too');
  });

  it('makes the kept parent directories with the source directories\' modes (fsutil createParentDirs)', async () => {
    const r = await interpret('FROM scratch\nCOPY --parents foo1/foo2/bar /\nCOPY --parents --chown=7:8 foo1/./foo2/bar /chowned/\nFROM scratch AS x\nCOPY --from=0 --parents /foo1/foo2/bar /from-stage/\n', {
      files: { foo1: { dir: true, mode: 0o700 }, 'foo1/foo2': { dir: true, mode: 0o750 }, 'foo1/foo2/bar': 'testing' },
    });
    const all = await interpret('FROM scratch\nCOPY --parents foo1/foo2/bar /\nCOPY --parents --chown=7:8 foo1/./foo2/bar /chowned/\n', {
      files: { foo1: { dir: true, mode: 0o700 }, 'foo1/foo2': { dir: true, mode: 0o750 }, 'foo1/foo2/bar': 'testing' },
    });
    assert.equal(pick(all.merged, 'foo1').mode, 0o700);
    assert.equal(pick(all.merged, 'foo1/foo2').mode, 0o750);
    assert.deepEqual([pick(all.merged, 'chowned/foo2').mode, pick(all.merged, 'chowned/foo2').uid, pick(all.merged, 'chowned/foo2').gid], [0o750, 7, 8]);
    assert.equal(pick(all.merged, 'chowned').mode, 0o755, 'the destination itself is made by the copy');
    assert.equal(pick(r.merged, 'from-stage/foo1').mode, 0o700, 'from another stage too');
    assert.equal(pick(r.merged, 'from-stage/foo1/foo2').mode, 0o750);
  });

  it('matches ** the same way in another stage (COPY --from --parents)', async () => {
    const r = await interpret(
      'FROM scratch AS base\nCOPY test /test\nFROM scratch\nCOPY --from=base --parents /test/a/b*/./c/**/e /out/\nCOPY --from=base --parents /test/a/b/c*/./d/**/baz /test/a/b*/./c/**/bar /two/\n',
      { files: tree },
    );
    assert.equal(pick(r.merged, 'out/c/d/e/bay').content, 'bay');
    assert.equal(pick(r.merged, 'out/c/d/e/bar').content, 'bar');
    assert.equal(pick(r.merged, 'two/d/e/baz').content, 'baz1');
    assert.equal(pick(r.merged, 'two/d/e2/baz').content, 'baz2');
    assert.equal(pick(r.merged, 'two/c/d/e/bar').content, 'bar');
  });
});

describe('COPY sources: escapes and .dockerignore (defects 7, 9)', () => {
  it('an unquoted backslash goes in word expansion, so an escaped glob character is a wildcard again; [?] names it', async () => {
    // issue 11 asked for `n\?pe` to name the file `n?pe`; BuildKit (shell/lex.go) and buildah
    // 1.28 both remove the backslash first (differential fixture copy-glob-escapes), and the
    // Dockerfile reference escapes with a class (`arr[[]0].txt`) instead.
    const files = { 'app/n?pe/file.txt': 'literal', 'app/nope/file.txt': 'nope', 'app/st*uv/file.txt': 'star', 'app/stuuv/file.txt': 'stuuv' };
    const r = await interpret('FROM scratch\nCOPY ./app/n\\?pe/file.txt /app4/file.txt\nCOPY ./app/st[*]uv/file.txt /app5/file.txt\nCOPY ./app/n[?]pe/file.txt /app6/\n', { files });
    assert.equal(pick(r.merged, 'app4/file.txt').content, 'nope', 'both match; the last one (sorted) stays');
    assert.equal(pick(r.merged, 'app5/file.txt').content, 'star');
    assert.equal(pick(r.merged, 'app6/file.txt').content, 'literal');
  });

  it('re-included paths under an excluded directory are the same whether the source is . or the directory', async () => {
    const files = {
      test1: 't1', test2: 't2', 'subdir1/sub1.txt': 's1', 'subdir1/sub2.txt': 's2', 'subdir1/sub3.txt': 's3', 'subdir2/sub1.txt': 'x1', 'subdir2/sub3.txt': 'x3', other: 'o',
    };
    const dockerignore = 'test*\n!test2*\nsubdir1\nsubdir2\n!*/sub1*\n!subdir1/sub3*\n';
    const r = await interpret('FROM scratch\nCOPY . /all/\nCOPY subdir1 /one/\nCOPY subdir2 /two/\nCOPY subdir* /glob/\n', { files, dockerignore });
    const under = (prefix: string) => [...r.merged.keys()].filter((k) => k.startsWith(prefix) && r.merged.get(k)?.type === 'file').map((k) => k.slice(prefix.length)).sort();
    assert.deepEqual(under('all/'), ['other', 'subdir1/sub1.txt', 'subdir1/sub3.txt', 'subdir2/sub1.txt', 'test2']);
    assert.deepEqual(under('one/'), ['sub1.txt', 'sub3.txt']);
    assert.deepEqual(under('two/'), ['sub1.txt']);
    assert.deepEqual(under('glob/'), ['sub1.txt', 'sub3.txt']);
    assert.equal(pick(r.merged, 'glob/sub1.txt').content, 'x1', 'both directories merge; subdir2 comes last');
    await assert.rejects(
      interpret('FROM scratch\nCOPY subdir3 /x/\n', { files: { 'subdir3/other': 'o' }, dockerignore: 'subdir3\n!*/sub1*\n' }),
      (e: unknown) => e instanceof DockerfileError && /excluded by \.dockerignore/.test(e.message),
      'an excluded directory with nothing re-included is not in the context',
    );
  });
});

describe('hardlinks in the build context (documented gap)', () => {
  it('are kept as hardlinks of the copied tree, the first path by name holding the content', async () => {
    const r = await interpret('FROM scratch\nCOPY . /test\nCOPY sub /only-sub/\n', {
      files: { Dockerfile: 'FROM scratch', hardlink1: { hardlink: 'Dockerfile' }, 'sub/hardlink2': { hardlink: 'Dockerfile' }, 'sub/deeper/hardlink3': { hardlink: 'Dockerfile' }, 'sub/x': 'x', 'sub/y': { hardlink: 'sub/x' } },
    });
    const layer = r.layers[0] as Map<string, ReadEntry>;
    assert.equal(layer.get('test/Dockerfile')?.type, 'file');
    assert.equal(layer.get('test/Dockerfile')?.content, 'FROM scratch');
    for (const p of ['test/hardlink1', 'test/sub/hardlink2', 'test/sub/deeper/hardlink3']) {
      assert.deepEqual([layer.get(p)?.type, layer.get(p)?.linkname], ['link', 'test/Dockerfile'], p);
    }
    assert.deepEqual([layer.get('test/sub/y')?.type, layer.get('test/sub/y')?.linkname], ['link', 'test/sub/x']);
    // Copying only sub/: the group's first member inside the copied tree holds the content.
    const second = r.layers[1] as Map<string, ReadEntry>;
    assert.equal(second.get('only-sub/deeper/hardlink3')?.type, 'file');
    assert.deepEqual([second.get('only-sub/hardlink2')?.type, second.get('only-sub/hardlink2')?.linkname], ['link', 'only-sub/deeper/hardlink3']);
  });
});

describe('odd sources: sockets, sources --exclude leaves out whole', () => {
  it('a socket in the context becomes an empty regular file with its permission bits (testCopySocket)', async () => {
    const r = await interpret('FROM scratch\nCOPY . /\nCOPY socket.sock /named\n', { files: { 'socket.sock': { socket: true }, 'a.txt': 'A' } });
    const copied = pick(r.merged, 'socket.sock');
    assert.equal(copied.type, 'file');
    assert.equal(copied.content, '');
    assert.equal(pick(r.merged, 'named').type, 'file');
    assert.equal(pick(r.merged, 'a.txt').content, 'A');
  });

  it('--chown=:GROUP is uid 0 with that group, by id or by name (BuildKit: an empty user is id 0)', async () => {
    const r = await interpret('FROM scratch\nCOPY group /etc/group\nCOPY --chown=:1600 f /e\nCOPY --chown=:supp f /e2\n', { files: { f: 'x', group: 'root:x:0:\nsupp:x:1500:\n' } });
    assert.deepEqual([pick(r.merged, 'e').uid, pick(r.merged, 'e').gid], [0, 1600]);
    assert.deepEqual([pick(r.merged, 'e2').uid, pick(r.merged, 'e2').gid], [0, 1500]);
  });

  it('a named pipe is left out of a directory copy and refused as a named source, with the line', async () => {
    const r = await interpret('FROM scratch\nCOPY . /\n', { files: { pipe: { fifo: true }, 'a.txt': 'A' } });
    assert.equal(r.merged.has('pipe'), false);
    await assert.rejects(
      interpret('FROM scratch\nCOPY pipe /p\n', { files: { pipe: { fifo: true } } }),
      (e: unknown) => e instanceof DockerfileError && e.line === 2 && /source "\/pipe" is a named pipe/.test(e.message),
    );
  });

  it('a directory source --exclude leaves out still makes its destination, empty (testExcludedFilesOnCopy, builder6)', async () => {
    const r = await interpret('FROM scratch\nADD --exclude=* dir* /6\nCOPY --exclude=* dir1 /8\nCOPY --exclude=*.png dir* /5\n', {
      files: { 'dir1/a.png': 'a', 'dir1/b.txt': 'b', 'dir2/c.png': 'c' },
    });
    for (const dest of ['6', '8']) {
      assert.equal(pick(r.merged, dest).type, 'directory');
      assert.deepEqual([...r.merged.keys()].filter((k) => k.startsWith(`${dest}/`)), [], `${dest} is empty`);
    }
    assert.deepEqual([...r.merged.keys()].filter((k) => k.startsWith('5/')), ['5/b.txt']);
  });
});
