/**
 * `ocibuild s2i` as a user runs it: a build printing the digest with the scripts' output
 * prefixed on stderr, `--usage`, and refusals (bad --allowed-uids, root builder) with exit 1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { removeRootfs } from '../../src/run/owners.ts';
import { buildTestBuilders } from './builder.ts';
import { runImage } from './runner.ts';

const root = path.resolve(import.meta.dirname, '../..');
const main = path.join(root, 'src/cli/main.ts');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('ocibuild s2i builds, runs usage, and refuses bad users', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-s2i-cli-'));
  t.after(async () => {
    await removeRootfs(dir).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true });
  });
  const builders = await buildTestBuilders(dir);
  const app = path.join(dir, 'app');
  await fs.mkdir(app);
  await fs.writeFile(path.join(app, 'message.txt'), 'hello from the CLI');
  const out = path.join(dir, 'out');

  const built = cli(['s2i', app, builders.user, `oci:${out}:tag-arg`, '--to', `oci:${out}:app`, '-e', 'GREETING=from-e', '-u', '1001']);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
  assert.match(built.stderr, /^assemble: assembling as uid 1001$/m);
  assert.match(built.stderr, /^assemble: assembled build 1$/m);
  const run = await runImage(`oci:${out}:tag-arg`);
  assert.equal(run.stdout, 'app says: hello from the CLI (build 1, from-e)\n');

  // --incremental against the same tag: save-artifacts of the previous image, assemble sees them.
  const again = cli(['s2i', app, builders.user, '--to', `oci:${out}:app`, '--incremental', '-e', 'GREETING=again']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^assemble: restored artifacts: count 1$/m);
  assert.equal((await runImage(`oci:${out}:app`)).stdout, 'app says: hello from the CLI (build 2, again)\n');

  // --scripts-url file://DIR: its run script wins, assemble still comes from the image; --json events.
  const scripts = path.join(dir, 'scripts');
  await fs.mkdir(scripts);
  await fs.writeFile(path.join(scripts, 'run'), '#!/bin/sh\necho "run from the scripts URL: $(cat /opt/app/message.txt)"\n', { mode: 0o755 });
  const fromUrl = cli(['s2i', app, builders.user, '--to', `oci:${out}:url`, '-s', `file://${scripts}`, '--json']);
  assert.equal(fromUrl.code, 0, fromUrl.stderr);
  const events = fromUrl.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; text?: string; stream?: string });
  assert.ok(events.some((e) => e.type === 'output' && e.stream === 'stdout' && e.text === 'assembling as uid 1001'), fromUrl.stderr);
  assert.equal((await runImage(`oci:${out}:url`)).stdout, 'run from the scripts URL: hello from the CLI\n');

  const usage = cli(['s2i', '--usage', builders.user]);
  assert.equal(usage.code, 0, usage.stderr);
  assert.equal(usage.stdout, 'usage of the ocibuild test builder\n');

  const badRange = cli(['s2i', app, builders.user, '--to', `oci:${out}:x`, '--allowed-uids', 'abc']);
  assert.equal(badRange.code, 1);
  assert.match(badRange.stderr, /ERR_INVALID_ARGUMENT.*--allowed-uids "abc"/);
  const rootBuilder = cli(['s2i', app, builders.root, '--to', `oci:${out}:x`, '-u', '1-65535']);
  assert.equal(rootBuilder.code, 1);
  assert.match(rootBuilder.stderr, /must specify a user that is numeric and within the range of allowed users/);
  const missing = cli(['s2i', app, builders.user, '--to', `oci:${out}:x`, '-s', `file://${path.join(dir, 'nowhere')}`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /could not download any scripts from URL file:\/\//);
  const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  assert.deepEqual(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort(), ['app', 'tag-arg', 'url'], 'failed builds wrote nothing');
});
