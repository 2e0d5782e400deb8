/**
 * `ADD` of a git repository (issue 11), against local bare repositories served on 127.0.0.1 by
 * git's smart HTTP backend (`git http-backend` behind a small node server) and by `git daemon`:
 * a tag, a branch with a subdirectory, the default HEAD, `--keep-git-dir`, a URL without
 * `.git` made a git source by `--keep-git-dir`, and the errors (COPY of a git URL, an unknown
 * ref), as BuildKit's dockerfile_addgit_test.go checks them.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { DockerfileError } from '../../src/errors.ts';
import { parseGitSource } from '../../src/dockerfile/git-ref.ts';
import { freePort } from '../helpers/registry.ts';
import { readImage } from './run-helpers.ts';

let root: string;
let httpServer: http.Server;
let httpBase: string;
let daemon: ChildProcess | undefined;
let daemonBase: string;

function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: root, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
}

function shAsync(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: root, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });
}

/** A CGI bridge to `git http-backend` (smart HTTP), serving every repository under `projects`. */
function startHttpBackend(projects: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env, GIT_PROJECT_ROOT: projects, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: decodeURIComponent(url.pathname), REQUEST_METHOD: req.method ?? 'GET',
        QUERY_STRING: url.search.slice(1), CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_ADDR: '127.0.0.1', HTTP_GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, split).toString('latin1');
      let status = 200;
      for (const line of head.split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else if (name) res.setHeader(name, value);
      }
      res.writeHead(status);
      res.end(out.subarray(split + 4));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`git daemon did not listen on ${port}`);
}

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-add-git-'));
  const work = path.join(root, 'work');
  await fs.mkdir(path.join(work, 'sub'), { recursive: true });
  sh(root, 'init', '-q', '-b', 'main', work);
  await fs.writeFile(path.join(work, 'a.txt'), 'v1\n');
  await fs.writeFile(path.join(work, 'sub', 'b.txt'), 'b\n');
  await fs.writeFile(path.join(work, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  sh(work, 'add', '.');
  sh(work, 'commit', '-q', '-m', 'one');
  sh(work, 'tag', 'v1');
  await fs.writeFile(path.join(work, 'a.txt'), 'v2\n');
  sh(work, 'commit', '-q', '-am', 'two');
  const projects = path.join(root, 'projects');
  await fs.mkdir(projects);
  sh(root, 'clone', '-q', '--bare', work, path.join(projects, 'repo.git'));
  sh(root, 'clone', '-q', '--bare', work, path.join(projects, 'plain'));
  httpServer = await startHttpBackend(projects);
  httpBase = `http://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;
  const port = await freePort();
  daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${projects}`, '--listen=127.0.0.1', `--port=${port}`, projects], { stdio: 'ignore' });
  await waitForPort(port);
  daemonBase = `git://127.0.0.1:${port}`;
});

after(async () => {
  if (daemon?.pid !== undefined) daemon.kill('SIGTERM');
  await new Promise((r) => httpServer?.close(r));
  await fs.rm(root, { recursive: true, force: true });
});

async function build(text: string, name: string): Promise<Map<string, { type: string; content?: string; mode: number }>> {
  const context = path.join(root, `ctx-${name}`);
  await fs.mkdir(context, { recursive: true });
  const out = path.join(root, `out-${name}`);
  await buildImage({ dockerfile: { text }, context, to: `oci:${out}:latest` });
  const files = new Map<string, { type: string; content?: string; mode: number }>();
  for (const layer of (await readImage(out)).layers) {
    for (const m of layer.members) files.set(m.path.replace(/\/$/, ''), { type: m.type, mode: m.mode, ...(m.content !== undefined ? { content: m.content } : {}) });
  }
  return files;
}

describe('git source words', () => {
  it('follows BuildKit: .git URLs, git@, git:// and ssh://, any http URL with --keep-git-dir', () => {
    assert.deepEqual(parseGitSource('https://example.test/o/r.git#v1:docs'), { remote: 'https://example.test/o/r.git', ref: 'v1', subdir: 'docs' });
    assert.deepEqual(parseGitSource('git@github.com:o/r.git'), { remote: 'git@github.com:o/r.git', ref: undefined, subdir: undefined });
    assert.equal(parseGitSource('git://h/r#main')?.ref, 'main');
    assert.equal(parseGitSource('ssh://git@h/r.git')?.remote, 'ssh://git@h/r.git');
    assert.equal(parseGitSource('https://example.test/file.tar.gz'), undefined);
    assert.equal(parseGitSource('https://example.test/o/r#main', { keepGitDirGiven: true })?.ref, 'main');
    assert.equal(parseGitSource('sub/dir.git'), undefined, 'a local path is never a git source');
  });
});

describe('ADD of a git repository', () => {
  it('copies a tag, a branch subdirectory and the default HEAD over smart HTTP, without .git', async () => {
    const files = await build(
      `FROM scratch\nADD ${httpBase}/repo.git#v1 /tag\nADD ${httpBase}/repo.git#main:sub /sub\nADD ${httpBase}/repo.git /head/\n`,
      'http',
    );
    assert.equal(files.get('tag/a.txt')?.content, 'v1\n');
    assert.equal(files.get('tag/sub/b.txt')?.content, 'b\n');
    assert.equal(files.get('tag/run.sh')?.mode, 0o755);
    assert.equal(files.get('sub/b.txt')?.content, 'b\n');
    assert.ok(!files.has('sub/a.txt'), 'only the subdirectory');
    assert.equal(files.get('head/a.txt')?.content, 'v2\n');
    assert.ok(![...files.keys()].some((p) => p.split('/').includes('.git')), 'no .git without --keep-git-dir');
  });

  it('keeps .git with --keep-git-dir, also for a URL without .git, and reads git:// from git daemon', async () => {
    const files = await build(
      `FROM scratch\nADD --keep-git-dir=true ${httpBase}/plain#v1 /kept\nADD ${daemonBase}/repo.git#main /daemon\n`,
      'keep',
    );
    assert.equal(files.get('kept/a.txt')?.content, 'v1\n');
    assert.equal(files.get('kept/.git')?.type, 'directory');
    assert.ok(files.has('kept/.git/HEAD'));
    assert.equal(files.get('daemon/a.txt')?.content, 'v2\n');
    assert.ok(!files.has('daemon/.git'));
  });

  it('refuses a git URL in COPY and names the line of an unknown ref', async () => {
    await assert.rejects(build(`FROM scratch\nCOPY ${httpBase}/repo.git /x\n`, 'copy'), (e: unknown) => e instanceof DockerfileError && e.line === 2 && /can't be a git ref for COPY/.test(e.message));
    await assert.rejects(
      build(`FROM scratch\n\nADD ${httpBase}/repo.git#no-such-ref /x\n`, 'badref'),
      (e: unknown) => e instanceof DockerfileError && e.line === 3 && /failed to fetch git source .*repo\.git#no-such-ref/.test(e.message),
    );
  });
});

describe('ADD of a git repository over dumb HTTP (testAddGit, testGitQueryString)', () => {
  let dumbServer: http.Server;
  let dumb: string;
  const commits: Record<string, string> = {};

  before(async () => {
    const repo = path.join(root, 'dumb');
    await fs.mkdir(repo);
    sh(root, 'init', '-q', '-b', 'master', repo);
    for (const tag of ['v0.0.1', 'v0.0.2', 'v0.0.3']) {
      await fs.writeFile(path.join(repo, 'foo'), `foo of ${tag}\n`);
      sh(repo, 'add', 'foo');
      sh(repo, 'commit', '-q', '-m', tag);
      sh(repo, 'tag', tag);
      commits[tag] = sh(repo, 'rev-parse', tag).trim();
      if (tag === 'v0.0.1') sh(repo, 'branch', 'base');
    }
    sh(repo, 'checkout', '-q', '-b', 'feature');
    await fs.mkdir(path.join(repo, 'sub'));
    await fs.writeFile(path.join(repo, 'sub', 'foo'), 'subfeature\n');
    sh(repo, 'add', 'sub');
    sh(repo, 'commit', '-q', '-m', 'feature');
    sh(repo, 'checkout', '-q', 'master');
    sh(repo, 'update-server-info');
    // A plain file server, as BuildKit's test uses (http.FileServer): git's dumb HTTP protocol.
    dumbServer = http.createServer((req, res) => {
      const file = path.join(repo, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      fs.readFile(file).then(
        (data) => res.end(data),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => dumbServer.listen(0, '127.0.0.1', resolve));
    dumb = `http://127.0.0.1:${(dumbServer.address() as net.AddressInfo).port}`;
  });
  after(() => new Promise((r) => dumbServer?.close(r)));

  it('fetches tags, --chown, --keep-git-dir and a matching --checksum', async () => {
    const files = await build(
      [
        'FROM scratch',
        `ADD ${dumb}/.git#v0.0.1 /x`,
        'ARG TAG=v0.0.2',
        `ADD --keep-git-dir=true --chown=4242:8484 --checksum=${commits['v0.0.2']} ${dumb}/.git#\${TAG} /buildkit-chowned`,
        `ADD --checksum=${commits['v0.0.3']} ${dumb}/.git#v0.0.3 /nogitdir`,
        `ADD ${dumb}/.git?ref=base /q-ref/`,
        `ADD ${dumb}/.git?commit=${commits['v0.0.2']?.slice(0, 8)} /q-commit/`,
        `ADD ${dumb}/.git?tag=v0.0.2#refs/tags/v0.0.2 /q-mixed/`,
        `ADD ${dumb}/.git?subdir=sub&ref=feature /q-sub/`,
        `ADD ${dumb}/.git#feature:sub /old-sub/`,
      ].join('\n'),
      'dumb',
    );
    assert.equal(files.get('x/foo')?.content, 'foo of v0.0.1\n');
    assert.equal(files.get('buildkit-chowned/foo')?.content, 'foo of v0.0.2\n');
    const layers = await readImage(path.join(root, 'out-dumb'));
    const chowned = layers.layers.flatMap((l) => l.members).find((m) => m.path === 'buildkit-chowned/foo');
    assert.deepEqual([chowned?.uid, chowned?.gid], [4242, 8484]);
    assert.equal(files.get('buildkit-chowned/.git')?.type, 'directory');
    assert.equal(files.get('nogitdir/foo')?.content, 'foo of v0.0.3\n');
    assert.ok(!files.has('nogitdir/.git'));
    assert.equal(files.get('q-ref/foo')?.content, 'foo of v0.0.1\n');
    assert.equal(files.get('q-commit/foo')?.content, 'foo of v0.0.2\n');
    assert.equal(files.get('q-mixed/foo')?.content, 'foo of v0.0.2\n');
    assert.equal(files.get('q-sub/foo')?.content, 'subfeature\n');
    assert.equal(files.get('old-sub/foo')?.content, 'subfeature\n');
  });

  it('names the line for a wrong or malformed checksum, conflicting refs and a missing branch', async () => {
    const fails: [string, RegExp][] = [
      [`ADD --checksum=${commits['v0.0.2']} ${dumb}/.git#v0.0.3 /faildir`, /expected checksum to match/],
      [`ADD --checksum=foobar ${dumb}/.git#v0.0.3 /faildir`, /invalid checksum.*expected hex commit hash/],
      [`ADD ${dumb}/.git?tag=v0.0.2#refs/heads/master /x`, /ref conflicts/],
      [`ADD ${dumb}/.git?branch=invalid /x`, /repository does not contain ref/],
    ];
    for (const [line, pattern] of fails) {
      await assert.rejects(build(`FROM scratch\n${line}\n`, `fail-${fails.findIndex((f) => f[0] === line)}`), (e: unknown) => e instanceof DockerfileError && e.line === 2 && pattern.test(e.message), line);
    }
  });
});

describe('ADD of a git repository with a submodule', () => {
  before(async () => {
    const projects = path.join(root, 'projects');
    const lib = path.join(root, 'lib-work');
    sh(root, 'init', '-q', '-b', 'main', lib);
    await fs.writeFile(path.join(lib, 'libfile'), 'from the submodule\n');
    sh(lib, 'add', '.');
    sh(lib, 'commit', '-q', '-m', 'lib');
    sh(root, 'clone', '-q', '--bare', lib, path.join(projects, 'lib.git'));
    const app = path.join(root, 'app-work');
    sh(root, 'init', '-q', '-b', 'main', app);
    await fs.writeFile(path.join(app, 'main.txt'), 'app\n');
    // Asynchronously: the HTTP backend serving lib.git runs in this process.
    await shAsync(app, 'submodule', '-q', 'add', `${httpBase}/lib.git`, 'lib');
    sh(app, 'add', '.');
    sh(app, 'commit', '-q', '-m', 'app');
    sh(root, 'clone', '-q', '--bare', app, path.join(projects, 'app.git'));
  });

  it('checks submodules out (without their .git links) unless ?submodules=false', async () => {
    const files = await build(`FROM scratch\nADD ${httpBase}/app.git /app\nADD ${httpBase}/app.git?submodules=false /nosub\n`, 'submodules');
    assert.equal(files.get('app/main.txt')?.content, 'app\n');
    assert.equal(files.get('app/lib/libfile')?.content, 'from the submodule\n');
    assert.ok(![...files.keys()].some((p) => p.split('/').includes('.git')), 'no .git anywhere');
    assert.equal(files.get('nosub/main.txt')?.content, 'app\n');
    assert.ok(!files.has('nosub/lib/libfile'));
  });
});
