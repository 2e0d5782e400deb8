/**
 * Pure parts of RUN: BuildKit `--mount`/`--network` parsing, cache directory names, the argv a
 * RUN executes (shell form, exec form, heredocs) and its environment. Also `prepareMounts` on
 * temp dirs (cache creation and locking, context binds, secrets from file and env).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { runCommand, runEnvironment } from '../../src/dockerfile/run-command.ts';
import { cacheDirName, parseMountFlag, parseNetworkFlag, prepareMounts, splitCsv } from '../../src/run/mounts.ts';

describe('parseMountFlag', () => {
  it('splits CSV with quotes', () => {
    assert.deepEqual(splitCsv('type=bind,"source=a,b",target=/x'), ['type=bind', 'source=a,b', 'target=/x']);
    assert.deepEqual(splitCsv('"a""b",c'), ['a"b', 'c']);
    assert.throws(() => splitCsv('"open'), { code: 'ERR_INVALID_ARGUMENT' });
  });
  it('defaults to a read-only bind of the context root', () => {
    assert.deepEqual(parseMountFlag('target=/src', '/'), { type: 'bind', target: '/src', source: '/', from: undefined, readwrite: false });
    assert.equal((parseMountFlag('type=bind,target=/s,rw', '/') as { readwrite: boolean }).readwrite, true);
    assert.equal((parseMountFlag('type=bind,target=/s,readonly=false', '/') as { readwrite: boolean }).readwrite, true);
  });
  it('makes relative targets relative to WORKDIR and expands values', () => {
    assert.equal(parseMountFlag('type=tmpfs,dst=cache', '/app').target, '/app/cache');
    assert.equal(parseMountFlag('type=tmpfs,target=$D', '/', (w) => w.replace('$D', '/expanded')).target, '/expanded');
  });
  it('parses cache options with BuildKit defaults', () => {
    assert.deepEqual(parseMountFlag('type=cache,target=/root/.npm', '/'), { type: 'cache', target: '/root/.npm', id: '/root/.npm', sharing: 'shared', readonly: false });
    assert.deepEqual(parseMountFlag('type=cache,id=npm,target=/c,sharing=locked,uid=1000,gid=1000,mode=0700', '/'), {
      type: 'cache', target: '/c', id: 'npm', sharing: 'locked', readonly: false, uid: 1000, gid: 1000, mode: 0o700,
    });
    assert.throws(() => parseMountFlag('type=cache,target=/c,sharing=weird', '/'), /sharing/);
    assert.equal(parseMountFlag('type=cache,target=/c,from=stage', '/').type, 'cache', 'from= seeds the cache (mount-cache-from.test.ts)');
  });
  it('parses secrets: default target, id from target, env', () => {
    assert.deepEqual(parseMountFlag('type=secret,id=tok', '/'), { type: 'secret', id: 'tok', target: '/run/secrets/tok', env: undefined, required: false });
    assert.equal((parseMountFlag('type=secret,target=/etc/key', '/') as { id: string }).id, 'key');
    assert.deepEqual(parseMountFlag('type=secret,id=tok,env=TOKEN,required', '/'), { type: 'secret', id: 'tok', target: undefined, env: 'TOKEN', required: true });
    // ssh: id default, target chosen per step (ssh_agent.N), required false; relative targets from WORKDIR.
    assert.deepEqual(parseMountFlag('type=ssh', '/'), { type: 'ssh', id: 'default', target: undefined, required: false });
    assert.deepEqual(parseMountFlag('type=ssh,id=gh,target=agent,required=true,uid=1000,gid=10,mode=0640', '/w'), {
      type: 'ssh', id: 'gh', target: '/w/agent', required: true, uid: 1000, gid: 10, mode: 0o640,
    });
  });
  it('rejects what it cannot do', () => {
    assert.throws(() => parseMountFlag('type=cache', '/'), /requires a target/);
    assert.throws(() => parseMountFlag('type=bind,target=/x,uid=1', '/'), /not allowed/);
    assert.throws(() => parseMountFlag('type=nfs,target=/x', '/'), /unsupported mount type/);
    assert.throws(() => parseMountFlag('type=ssh,mode=9', '/'), /invalid mode/);
    assert.throws(() => parseMountFlag('type=tmpfs,target=/x,colour=red', '/'), /unexpected key 'colour'/);
    // BuildKit's hints for typos (testMountInvalid).
    assert.throws(() => parseMountFlag('typ=cache,target=/x', '/'), /unexpected key 'typ' in 'typ=cache,target=\/x' \(did you mean type\?\)/);
    assert.throws(() => parseMountFlag('type=tmp,target=/x', '/'), /unsupported mount type "tmp" \(did you mean tmpfs\?\)/);
  });
  it('parses --network', () => {
    assert.equal(parseNetworkFlag(undefined), 'default');
    assert.equal(parseNetworkFlag('NONE'), 'none');
    assert.equal(parseNetworkFlag('host'), 'host');
    assert.throws(() => parseNetworkFlag('bridge'), /unsupported network mode/);
  });
  it('names cache directories safely', () => {
    assert.equal(cacheDirName('npm'), 'npm');
    const name = cacheDirName('/root/.cache/../x');
    assert.match(name, /^root-\.cache-\.\.-x-[0-9a-f]{16}$|^[A-Za-z0-9._-]+$/);
    assert.ok(!name.includes('/'));
    assert.notEqual(cacheDirName('/a/b'), cacheDirName('/a-b'));
  });
});

describe('runCommand and runEnvironment', () => {
  const heredoc = (name: string, content: string, chomp = false) => ({ name, content, expand: true, chomp, fileDescriptor: 0 });
  it('wraps the shell form in SHELL and keeps the exec form', () => {
    assert.deepEqual(runCommand({ args: ['echo hi'], json: false, heredocs: [], shell: undefined }).argv, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(runCommand({ args: ['echo hi'], json: false, heredocs: [], shell: ['/bin/bash', '-eo', 'pipefail', '-c'] }).argv, ['/bin/bash', '-eo', 'pipefail', '-c', 'echo hi']);
    assert.deepEqual(runCommand({ args: ['/bin/echo', '$HOME'], json: true, heredocs: [], shell: ['/x'] }).argv, ['/bin/echo', '$HOME']);
  });
  it('runs a lone heredoc as a script, or as a file when it has #!', () => {
    assert.deepEqual(runCommand({ args: ['<<EOF'], json: false, heredocs: [heredoc('EOF', 'echo a\necho b\n')], shell: undefined }), { argv: ['/bin/sh', '-c', 'echo a\necho b\n'] });
    assert.deepEqual(runCommand({ args: ['<<-EOF'], json: false, heredocs: [heredoc('EOF', '\t\techo a\n', true)], shell: undefined }).argv, ['/bin/sh', '-c', 'echo a\n']);
    assert.deepEqual(runCommand({ args: ['<<EOF'], json: false, heredocs: [heredoc('EOF', '#!/usr/bin/env python3\nprint(1)\n')], shell: undefined }), {
      argv: ['/bin/sh', '-c', '/dev/pipes/EOF'],
      script: { path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint(1)\n' },
    });
  });
  it('hands other heredocs to the shell as written', () => {
    const cmd = runCommand({ args: ['cat <<A > /a && cat <<B > /b'], json: false, heredocs: [heredoc('A', 'x\n'), heredoc('B', 'y\n')], shell: undefined });
    assert.deepEqual(cmd.argv, ['/bin/sh', '-c', 'cat <<A > /a && cat <<B > /b\nx\nA\ny\nB']);
  });
  it('lets ENV win over ARG and passes proxy build args without ARG', () => {
    const env = runEnvironment(['PATH=/bin', 'B=env'], new Map([['A', 'arg'], ['B', 'arg']]), { HTTP_PROXY: 'http://proxy', OTHER: 'no' });
    assert.deepEqual(env, ['HTTP_PROXY=http://proxy', 'http_proxy=http://proxy', 'A=arg', 'PATH=/bin', 'B=env']);
  });
  it('sets both spellings of each proxy variable from either, as BuildKit (testBuiltinArgs)', () => {
    const env = runEnvironment([], new Map(), { http_proxy: 'hp', NO_PROXY: 'np', HTTPS_PROXY: 'up', https_proxy: 'low' });
    assert.deepEqual(env, ['HTTP_PROXY=hp', 'http_proxy=hp', 'HTTPS_PROXY=up', 'https_proxy=low', 'NO_PROXY=np', 'no_proxy=np']);
  });
});

describe('prepareMounts', () => {
  it('creates caches, binds context files, reads secrets, and releases locks', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-mounts-'));
    try {
      const context = path.join(tmp, 'ctx');
      await fs.mkdir(path.join(context, 'sub'), { recursive: true });
      await fs.writeFile(path.join(context, 'sub', 'f'), 'f');
      await fs.symlink('/etc', path.join(context, 'escape'));
      await fs.writeFile(path.join(tmp, 'secret'), 'from-file');
      process.env.OCIBUILD_TEST_SECRET = 'from-env';
      const scratch = path.join(tmp, 'scratch');
      await fs.mkdir(scratch);
      const ctx = { contextDir: context, cacheDir: path.join(tmp, 'cache'), scratch, secrets: { a: { file: path.join(tmp, 'secret') }, b: { env: 'OCIBUILD_TEST_SECRET' } } };
      const specs = [
        parseMountFlag('type=cache,id=c1,target=/c,sharing=locked', '/'),
        parseMountFlag('type=bind,source=sub,target=/s', '/'),
        parseMountFlag('type=bind,source=sub,target=/w,rw', '/'),
        parseMountFlag('type=secret,id=a', '/'),
        parseMountFlag('type=secret,id=b,env=B', '/'),
        parseMountFlag('type=secret,id=missing', '/'),
      ];
      const prepared = await prepareMounts(specs, ctx);
      assert.deepEqual(prepared.mounts.map((m) => [m.type, m.target]), [['cache', '/c'], ['bind', '/s'], ['bind', '/w'], ['secret', '/run/secrets/a']]);
      assert.equal((prepared.mounts[1] as { source: string }).source, path.join(context, 'sub'));
      assert.notEqual((prepared.mounts[2] as { source: string }).source, path.join(context, 'sub'), 'rw binds get a private copy');
      assert.equal(await fs.readFile((prepared.mounts[3] as { source: string }).source, 'utf8'), 'from-file');
      assert.deepEqual(prepared.env, ['B=from-env']);
      // The locked cache is busy until released.
      let second = false;
      const waiting = prepareMounts([specs[0]!], ctx).then((p) => ((second = true), p));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(second, false, 'a locked cache waits');
      await prepared.release();
      await (await waiting).release();
      assert.equal(second, true);
      // Binds resolve inside the context: a symlink to /etc stays inside.
      await assert.rejects(prepareMounts([parseMountFlag('type=bind,source=escape/passwd,target=/p', '/')], ctx), { code: 'ERR_SOURCE_NOT_FOUND' });
      await assert.rejects(prepareMounts([parseMountFlag('type=secret,id=nope,required', '/')], ctx), /secret nope: not found \(the mount is required/);
    } finally {
      delete process.env.OCIBUILD_TEST_SECRET;
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});
