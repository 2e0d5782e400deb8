// `--build-arg K` without a value takes K from the environment and is left out when K is not
// set, as docker build, buildx and kaniko do (src/cli/commands/build.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildArgs } from '../../src/cli/commands/build.ts';
import { UsageError } from '../../src/cli/util.ts';
import { runCli } from '../helpers/cli.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

let dir: string;
let base: BusyboxLayout;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-build-args-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('buildArgs: K=V as given, K from the environment, an unset K left out, an empty name refused', () => {
  assert.deepEqual(buildArgs(['A=1', 'B=', 'C=x=y', 'TOKEN', 'UNSET'], { TOKEN: 's3cret', OTHER: 'o' }), { A: '1', B: '', C: 'x=y', TOKEN: 's3cret' });
  assert.deepEqual(buildArgs(['EMPTY'], { EMPTY: '' }), { EMPTY: '' });
  assert.throws(() => buildArgs(['=v'], {}), (e: unknown) => e instanceof UsageError && /--build-arg expects KEY=VALUE or KEY, got "=v"/.test(e.message));
});

test('ocibuild build --build-arg TOKEN: RUN sees the environment value; without it, the ARG default', async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nARG TOKEN=default\nRUN printf %s "$TOKEN" > /token\n`);
  const read = async (out: string): Promise<string> => {
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'blobs/sha256', (index.manifests[0]?.digest ?? '').slice(7)), 'utf8')) as { layers: { digest: string }[] };
    const layer = manifest.layers.at(-1)?.digest ?? '';
    const { execFileSync } = await import('node:child_process');
    return execFileSync('tar', ['-xzOf', path.join(out, 'blobs/sha256', layer.slice(7)), 'token']).toString();
  };
  const withEnv = await runCli(['build', ctx, '--build-arg', 'TOKEN', '--to', `oci:${path.join(dir, 'out-env')}`, '--progress', 'quiet'], { ...process.env, TOKEN: 'from-env' });
  assert.equal(withEnv.code, 0, withEnv.stderr);
  assert.equal(await read(path.join(dir, 'out-env')), 'from-env');
  const env = { ...process.env };
  delete env.TOKEN;
  const without = await runCli(['build', ctx, '--build-arg', 'TOKEN', '--to', `oci:${path.join(dir, 'out-default')}`, '--progress', 'quiet'], env);
  assert.equal(without.code, 0, without.stderr);
  assert.equal(await read(path.join(dir, 'out-default')), 'default');
});

test('-f -: the Dockerfile from standard input (bounded; a terminal refused); a build from it', async () => {
  const { Readable } = await import('node:stream');
  const { readDockerfileFromStdin, MAX_STDIN_DOCKERFILE_BYTES } = await import('../../src/cli/commands/build.ts');
  const io = { out: () => {}, err: () => {}, isTTY: false };
  assert.equal(await readDockerfileFromStdin(io, Readable.from([Buffer.from('FROM scratch\n'), Buffer.from('COPY a /a\n')])), 'FROM scratch\nCOPY a /a\n');
  const tty = Object.assign(Readable.from([]), { isTTY: true });
  await assert.rejects(readDockerfileFromStdin(io, tty), (e: unknown) => e instanceof UsageError && /standard input, which is a terminal/.test(e.message));
  const big = Readable.from([Buffer.alloc(MAX_STDIN_DOCKERFILE_BYTES), Buffer.alloc(1)]);
  await assert.rejects(readDockerfileFromStdin(io, big), (e: unknown) => e instanceof UsageError && /larger than 4194304 bytes/.test(e.message));

  const ctx = path.join(dir, 'stdin-ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'a.txt'), 'from the context\n');
  const { spawnSync } = await import('node:child_process');
  const { cliMain } = await import('../helpers/cli.ts');
  const out = path.join(dir, 'out-stdin');
  const run = spawnSync(process.execPath, ['--import', 'tsx', cliMain, 'build', '-f', '-', ctx, '--to', `oci:${out}`, '--progress', 'quiet'], {
    input: `FROM oci:${base.layoutPath}:${base.tag}\nCOPY a.txt /a.txt\n`,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', cliMain, 'build', '-f', '-', ctx, '--to', `oci:${path.join(dir, 'never')}`, '--progress', 'quiet'], { input: 'FROM scratch\nRUNX x\n', encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ERR_DOCKERFILE\]: Dockerfile:2: unknown instruction: RUNX/);
});

test('--add-host NAME:IP (or NAME=IP, an IPv6 address whole): RUN resolves the name', async () => {
  const { parseAddHosts } = await import('../../src/cli/commands/build.ts');
  assert.deepEqual(parseAddHosts(['db:10.0.0.5', 'v6=::1', 'b6:[2001:db8::33]', 'plain:fe80::1']), { db: '10.0.0.5', v6: '::1', b6: '2001:db8::33', plain: 'fe80::1' });
  assert.throws(() => parseAddHosts(['nohost']), (e: unknown) => e instanceof UsageError && /--add-host expects NAME:IP/.test(e.message));
  const ctx = path.join(dir, 'hosts-ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nRUN grep -q '^10.0.0.5.db.internal$' /etc/hosts\n`);
  // With a step cache: the entries are part of the RUN's key, so the cached result of the first
  // build is not taken for the second.
  const cache = ['--cache-dir', path.join(dir, 'hosts-cache')];
  const ok = await runCli(['build', ctx, ...cache, '--add-host', 'db.internal:10.0.0.5', '--no-push', '--progress', 'quiet'], process.env);
  assert.equal(ok.code, 0, ok.stderr);
  const without = await runCli(['build', ctx, ...cache, '--no-push', '--progress', 'quiet'], process.env);
  assert.equal(without.code, 1, 'the RUN runs again and fails without the entry');
  const bad = await runCli(['build', ctx, '--add-host', 'db.internal:nope', '--no-push', '--progress', 'quiet'], process.env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid IP address "nope" for host db.internal/);
});
