// The `ocibuild` command as a user runs it: exit codes 0/1/2, --help, digest on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');

function cli(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('ocibuild append writes an image and prints its digest', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.mkdir(path.join(dir, 'app'));
  await fs.writeFile(path.join(dir, 'app/main.sh'), 'echo hi\n', { mode: 0o755 });
  const layout = path.join(dir, 'out');
  const r = cli(['append', '--from', 'scratch', '--layer', `${path.join(dir, 'app')}:/app`, '--entrypoint', '["/app/main.sh"]',
    '--env', 'A=1', '--label', 'k=v', '--expose', '80', '--platform', 'linux/arm64', '--to', `oci:${layout}:t`, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(index.manifests[0]?.digest, r.stdout.trim());
  const manifest = JSON.parse(await fs.readFile(path.join(layout, 'blobs/sha256', r.stdout.trim().slice(7)), 'utf8')) as { config: { digest: string } };
  const config = JSON.parse(await fs.readFile(path.join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8')) as {
    architecture: string; config: { Entrypoint: string[]; Env: string[]; Labels: Record<string, string>; ExposedPorts: object };
  };
  assert.equal(config.architecture, 'arm64');
  assert.deepEqual(config.config.Entrypoint, ['/app/main.sh']);
  assert.deepEqual(config.config.Env, ['A=1']);
  assert.deepEqual(config.config.Labels, { k: 'v' });
  assert.deepEqual(config.config.ExposedPorts, { '80/tcp': {} });
});

test('exit codes: help 0, usage 2, failure 1 with a typed message', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const help = cli(['append', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: ocibuild append/);
  assert.equal(cli(['--help']).code, 0);
  assert.equal(cli([]).code, 2);
  assert.equal(cli(['nonsense']).code, 2);
  const badFlag = cli(['append', '--bogus', '--to', `oci:${dir}/o`]);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /bogus/);
  assert.equal(cli(['append', '--layer', 'x']).code, 2, 'missing --to is a usage error');
  const missing = cli(['append', '--layer', `${dir}/nope:/x`, '--to', `oci:${dir}/o:t`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /ERR_SOURCE_NOT_FOUND/);
  assert.match(missing.stderr, /nope/);
  assert.deepEqual(await fs.readdir(dir), []);
});
