// `ocibuild copy`, `inspect`, `tags` and `build --to REGISTRY` against a real registry with Basic auth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry } from '../helpers/registry.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, { ...process.env, ...env });
}

test('copy, inspect, tags and build against an htpasswd registry', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-reg-'));
  const registry = await startRegistry({ auth: 'htpasswd' });
  t.after(async () => {
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const user = registry.users[0] as { username: string; password: string };
  const creds = ['--creds', `${user.username}:${user.password}`];
  const base = await buildBusyboxLayout(path.join(dir, 'base'));

  const pushed = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, `docker://${registry.host}/base/busybox:1`, ...creds]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(pushed.stdout.trim(), base.manifestDigest);

  const denied = await cli(['inspect', `${registry.host}/base/busybox:1`, '--creds', `${user.username}:wrong-password-123`]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /ERR_REGISTRY_UNAUTHORIZED/);
  assert.doesNotMatch(denied.stderr, /wrong-password-123/);

  const inspected = await cli(['inspect', `${registry.host}/base/busybox:1`, ...creds]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const summary = JSON.parse(inspected.stdout) as { Digest: string; Layers: string[]; Cmd: string[] };
  assert.equal(summary.Digest, base.manifestDigest);
  assert.deepEqual(summary.Cmd, ['sh']);

  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${registry.host}/base/busybox:1\nCOPY a.txt /a.txt\nCMD ["cat", "/a.txt"]\n`);
  await fs.writeFile(path.join(ctx, 'a.txt'), 'a\n');
  const built = await cli(['build', ctx, '--to', `${registry.host}/app/x:v1`, '--tag', 'v2', '--quiet', ...creds]);
  assert.equal(built.code, 0, built.stderr);

  const listed = await cli(['tags', `${registry.host}/app/x`, ...creds]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.stdout.trim().split('\n').sort(), ['v1', 'v2']);

  const raw = await cli(['inspect', '--raw', `${registry.host}/app/x:v2`, ...creds]);
  const manifest = JSON.parse(raw.stdout) as { layers: unknown[]; annotations: Record<string, string> };
  assert.equal(manifest.layers.length, 2);
  assert.equal(manifest.annotations['org.opencontainers.image.base.digest'], base.manifestDigest);

  const back = await cli(['copy', `${registry.host}/app/x:v1`, `oci:${path.join(dir, 'back')}:v1`, ...creds]);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(back.stdout.trim(), built.stdout.trim());
});
