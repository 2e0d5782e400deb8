/**
 * COPY and ADD from the build context: destination rules, wildcards, directories, owners,
 * modes, .dockerignore, --exclude, --parents, here-docs, archives; WORKDIR directories.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { DockerfileError } from '../../src/errors.ts';
import { busyboxRef, cleanupBusybox, interpret, type ReadEntry } from './interpret-harness.ts';

after(cleanupBusybox);

const files = {
  'a.txt': 'A',
  'b.txt': 'B',
  'a.conf': 'ac',
  'c.conf': 'cc',
  'run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
  'tree/top.txt': 'top',
  'tree/sub/deep.txt': { content: 'deep', mode: 0o600 },
  'tree/link': { symlink: 'top.txt' },
  'to-a': { symlink: 'a.txt' },
};

function pick(merged: Map<string, ReadEntry>, p: string): ReadEntry {
  const e = merged.get(p);
  assert.ok(e, `${p} missing; have ${[...merged.keys()].join(', ')}`);
  return e;
}

describe('COPY from the context', () => {
  it('places files by the destination rules', async () => {
    const r = await interpret(
      [
        'FROM scratch',
        'COPY a.txt b.txt /multi/',
        'COPY *.txt /wild/',
        'COPY [ab].conf /class/',
        'COPY a.txt /renamed',
        'COPY a.txt /into/',
        'WORKDIR /work',
        'COPY b.txt relative.txt',
        'COPY a.txt .',
        'COPY run.sh /bin/run.sh',
      ].join('\n'),
      { files },
    );
    for (const p of ['multi/a.txt', 'multi/b.txt', 'wild/a.txt', 'wild/b.txt', 'class/a.conf', 'into/a.txt', 'work/relative.txt', 'work/a.txt']) {
      assert.equal(pick(r.merged, p).type, 'file', p);
    }
    assert.equal(r.merged.has('class/c.conf'), false);
    assert.equal(pick(r.merged, 'renamed').content, 'A');
    assert.equal(pick(r.merged, 'bin/run.sh').mode, 0o755);
    assert.equal(pick(r.merged, 'multi/a.txt').mode, 0o644);
    assert.equal(r.layers.length, 9, 'one layer per COPY and one for WORKDIR');
    assert.deepEqual(r.history.map((h) => h.createdBy).slice(0, 2), ['COPY a.txt b.txt /multi/ # buildkit', 'COPY *.txt /wild/ # buildkit']);
    assert.equal(r.history[5]?.createdBy, 'WORKDIR /work');
  });

  it('copies directory contents, keeps inner symlinks, follows a symlink source', async () => {
    const r = await interpret('FROM scratch\nCOPY tree /dest\nCOPY to-a /followed\nCOPY tree/top.txt /deep/er/top.txt\n', { files });
    assert.equal(pick(r.merged, 'dest/top.txt').content, 'top');
    assert.equal(pick(r.merged, 'dest/sub/deep.txt').mode, 0o600);
    assert.equal(pick(r.merged, 'dest/link').type, 'symlink');
    assert.equal(pick(r.merged, 'dest/link').linkname, 'top.txt');
    assert.equal(r.merged.has('dest/tree'), false, 'the directory itself is not copied');
    assert.equal(pick(r.merged, 'followed').type, 'file');
    assert.equal(pick(r.merged, 'followed').content, 'A');
    assert.equal(pick(r.merged, 'deep/er').mode, 0o755);
  });

  it('--chown resolves names in the stage passwd/group; --chmod sets modes', async () => {
    const base = await busyboxRef();
    const r = await interpret(
      `FROM ${base}\nCOPY --chown=app:nogroup a.txt /names.txt\nCOPY --chown=app a.txt /user.txt\nCOPY --chown=1234 a.txt /uid.txt\nCOPY --chown=1:2 --chmod=0640 tree /t/\nCOPY --chown=1000:1000 a.txt /new/parents/a.txt\n`,
      { files },
    );
    const ids = (p: string) => [pick(r.merged, p).uid, pick(r.merged, p).gid];
    assert.deepEqual(ids('names.txt'), [1000, 65534]);
    assert.deepEqual(ids('user.txt'), [1000, 1000]);
    assert.deepEqual(ids('uid.txt'), [1234, 1234]);
    assert.deepEqual(ids('t/sub/deep.txt'), [1, 2]);
    assert.equal(pick(r.merged, 't/sub/deep.txt').mode, 0o640);
    assert.equal(pick(r.merged, 't/sub').mode, 0o640);
    assert.deepEqual(ids('new'), [1000, 1000], 'new parents take the --chown owner');
    assert.deepEqual(ids('new/parents'), [1000, 1000]);
    assert.equal(r.history[3]?.createdBy, 'COPY --chown=1:2 --chmod=0640 tree /t/ # buildkit');
  });

  it('existing parents keep their metadata (/tmp stays 1777)', async () => {
    const r = await interpret(`FROM ${await busyboxRef()}\nCOPY a.txt /tmp/a.txt\n`, { files });
    assert.equal(pick(r.merged, 'tmp').mode, 0o1777);
  });

  it('copies into an existing directory without a trailing slash', async () => {
    const r = await interpret(`FROM ${await busyboxRef()}\nCOPY a.txt /tmp\n`, { files });
    assert.equal(pick(r.merged, 'tmp/a.txt').content, 'A');
  });

  it('.dockerignore hides files; a named ignored source is an error with file:line', async () => {
    const r = await interpret('FROM scratch\nCOPY . /ctx/\n', { files, dockerignore: '*.conf\ntree/sub\n!tree/sub/deep.txt\n' });
    assert.equal(r.merged.has('ctx/a.conf'), false);
    assert.equal(r.merged.has('ctx/a.txt'), true);
    assert.equal(r.merged.has('ctx/tree/sub/deep.txt'), true, 'an exception re-includes a child');
    await assert.rejects(interpret('FROM scratch\n\nCOPY a.conf /x\n', { files, dockerignore: '*.conf\n' }), (e: unknown) => {
      assert.ok(e instanceof DockerfileError);
      assert.equal(e.line, 3);
      assert.match(e.message, /not found.*excluded by \.dockerignore/);
      return true;
    });
  });

  it('a missing source is an error naming file and line', async () => {
    await assert.rejects(interpret('FROM scratch\nCOPY nope.txt /x\n', { files, file: 'sub/Dockerfile.dev' }), (e: unknown) => {
      assert.ok(e instanceof DockerfileError);
      assert.equal(e.file, 'sub/Dockerfile.dev');
      assert.equal(e.line, 2);
      return true;
    });
  });

  it('an unmatched wildcard copies nothing (BuildKit)', async () => {
    const r = await interpret('FROM scratch\nCOPY *.none /x/\n', { files });
    assert.equal(r.layers.length, 1);
    assert.equal(r.merged.size, 0);
  });

  it('--exclude and --parents', async () => {
    const r = await interpret('FROM scratch\nCOPY --exclude=*.conf --exclude=tree/sub . /ex/\nCOPY --parents tree/sub/deep.txt a.txt /p/\nCOPY --parents ./tree/./sub /pivot/\n', { files });
    assert.equal(r.merged.has('ex/a.conf'), false);
    assert.equal(r.merged.has('ex/tree/sub'), false);
    assert.equal(r.merged.has('ex/tree/top.txt'), true);
    assert.equal(pick(r.merged, 'p/tree/sub/deep.txt').content, 'deep');
    assert.equal(pick(r.merged, 'p/a.txt').content, 'A');
    assert.equal(pick(r.merged, 'pivot/sub/deep.txt').content, 'deep');
    assert.match(r.history[1]?.createdBy ?? '', /^COPY --parents /);
  });

  it('here-doc sources, expanded unless quoted, chomped with <<-', async () => {
    const r = await interpret('FROM scratch\nENV WHO=world\nCOPY <<EOF <<-"RAW" /docs/\nhello $WHO\nEOF\n\tkeep $WHO\n\tRAW\nCOPY <<ONE /one.txt\nsingle\nONE\n', {});
    assert.equal(pick(r.merged, 'docs/EOF').content, 'hello world\n');
    assert.equal(pick(r.merged, 'docs/RAW').content, 'keep $WHO\n');
    assert.equal(pick(r.merged, 'one.txt').content, 'single\n');
    assert.equal(pick(r.merged, 'one.txt').mode, 0o644);
    assert.equal(r.history[1]?.createdBy, 'COPY <<EOF <<RAW /docs/ # buildkit');
  });

  it('WORKDIR makes the directory owned by USER, and nothing when it exists', async () => {
    const r = await interpret(`FROM ${await busyboxRef()}\nWORKDIR /tmp\nUSER app\nWORKDIR /home/app/made\nWORKDIR sub\n`, {});
    assert.deepEqual(r.history.map((h) => [h.createdBy, h.layer]), [
      ['WORKDIR /tmp', false],
      ['USER app', false],
      ['WORKDIR /home/app/made', true],
      ['WORKDIR /home/app/made/sub', true],
    ]);
    assert.deepEqual([pick(r.merged, 'home/app/made').uid, pick(r.merged, 'home/app/made').gid], [1000, 1000]);
    assert.equal(pick(r.merged, 'home').uid, 0, 'an existing parent keeps its owner');
    assert.equal(r.config.config?.WorkingDir, '/home/app/made/sub');
  });
});

describe('ADD', () => {
  it('unpacks local tar archives (plain, gzip, bzip2, xz) detected by content; other files are copied', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-add-'));
    try {
      await fs.mkdir(path.join(tmp, 'src/dir'), { recursive: true });
      await fs.writeFile(path.join(tmp, 'src/dir/in.txt'), 'inside');
      await fs.chmod(path.join(tmp, 'src/dir/in.txt'), 0o600);
      const tarFile = path.join(tmp, 'a.tar');
      execFileSync('tar', ['--owner=7', '--group=8', '--numeric-owner', '-cf', tarFile, '-C', path.join(tmp, 'src'), 'dir']);
      const raw = await fs.readFile(tarFile);
      execFileSync('sh', ['-c', `gzip -c ${tarFile} > ${tmp}/a.tgz && bzip2 -c ${tarFile} > ${tmp}/a.tbz && xz -c ${tarFile} > ${tmp}/a.txz && gzip -c ${tmp}/src/dir/in.txt > ${tmp}/plain.gz`]);
      const ctx: Record<string, { content: Uint8Array }> = {};
      for (const f of ['a.tgz', 'a.tbz', 'a.txz', 'plain.gz']) ctx[f] = { content: await fs.readFile(path.join(tmp, f)) };
      ctx['archive.tar.renamed'] = { content: raw };
      const r = await interpret('FROM scratch\nADD archive.tar.renamed /plain/\nADD a.tgz /gz\nADD a.tbz /bz/\nADD a.txz /xz/\nADD plain.gz /files/\nADD --unpack=false a.tgz /kept/\n', { files: ctx });
      for (const d of ['plain', 'gz', 'bz', 'xz']) {
        const e = pick(r.merged, `${d}/dir/in.txt`);
        assert.equal(e.content, 'inside', d);
        assert.deepEqual([e.uid, e.gid, e.mode], [7, 8, 0o600], d);
      }
      assert.equal(pick(r.merged, 'files/plain.gz').type, 'file', 'a gzip file that is not a tar is copied');
      assert.equal(pick(r.merged, 'kept/a.tgz').type, 'file');
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('ADD from a URL', () => {
  it('downloads with mode 0600, verifies --checksum, never unpacks', async () => {
    const http = await import('node:http');
    const { createHash } = await import('node:crypto');
    const { gzipSync } = await import('node:zlib');
    const body = gzipSync(Buffer.from('not a tar, but gzip'));
    const server = http.createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/files/data.gz' });
        res.end();
      } else if (req.url?.startsWith('/files/')) res.end(body);
      else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const sum = createHash('sha256').update(body).digest('hex');
    try {
      const r = await interpret(
        `FROM scratch\nADD --checksum=sha256:${sum} http://127.0.0.1:${port}/files/data.gz /dl/\nADD http://127.0.0.1:${port}/redirect /named\n`,
      );
      const e = pick(r.merged, 'dl/data.gz');
      assert.deepEqual([e.type, e.mode, e.uid], ['file', 0o600, 0]);
      assert.equal(pick(r.merged, 'named').type, 'file');
      assert.equal(r.history[0]?.createdBy, `ADD http://127.0.0.1:${port}/files/data.gz /dl/ # buildkit`);
      await assert.rejects(interpret(`FROM scratch\n\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/files/x /x\n`), (err: unknown) => {
        assert.ok(err instanceof DockerfileError);
        assert.equal(err.line, 3);
        assert.match(err.message, /checksum mismatch/);
        return true;
      });
      await assert.rejects(interpret(`FROM scratch\nADD http://127.0.0.1:${port}/missing /x\n`), /HTTP 404/);
      await assert.rejects(interpret(`FROM scratch\nCOPY http://127.0.0.1:${port}/files/x /x\n`), /source can't be a URL for COPY/);
    } finally {
      server.close();
    }
  });
});
