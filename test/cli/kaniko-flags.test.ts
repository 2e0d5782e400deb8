// kaniko executor command lines run as `ocibuild build` (src/cli/commands/kaniko-flags.ts): the
// rewriting itself, then a GitLab-style kaniko line against a real registry: the image, the
// cache repo kaniko infers (DESTINATION/cache), the digest files, and the note on the flags with
// no effect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { translateKanikoArgs } from '../../src/cli/commands/kaniko-flags.ts';
import { UsageError } from '../../src/cli/util.ts';
import { runCli } from '../helpers/cli.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry } from '../helpers/busybox.ts';

let dir: string;
let registry: TestRegistry;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-kaniko-'));
  registry = await startRegistry();
  await busyboxInRegistry(registry.host, path.join(dir, 'busybox'), { repository: 'busybox' });
});
after(async () => {
  await registry?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test('kaniko flags: rewritten where ocibuild has the same, returned (--cache, --insecure), dropped and listed where they change nothing, refused where the equivalent is broader', () => {
  const t = translateKanikoArgs([
    '--context=dir:///src/app', '-f', 'Dockerfile', '--destination', 'r.example/app:1', '--cache=true', '--insecure',
    '--snapshot-mode', 'redo', '--use-new-run', '--reproducible=false', '--verbosity=debug', '-v', 'info', '--ignore-path', '/certs',
    '--custom-platform=linux/arm64', '--oci-layout-path', '/out/layout', '--registry-certificate', 'r.example=/certs/ca.pem', '--build-arg', 'A=1',
    '--', '--cache',
  ]);
  assert.deepEqual(t.argv, [
    '--context', '/src/app', '-f', 'Dockerfile', '--destination', 'r.example/app:1',
    '--platform', 'linux/arm64', '--to', 'oci:/out/layout', '--ca', '/certs/ca.pem', '--build-arg', 'A=1',
    '--', '--cache',
  ]);
  assert.equal(t.cache, true);
  assert.equal(t.insecure, true);
  assert.deepEqual(t.ignored, ['--snapshot-mode', '--use-new-run', '--reproducible', '--verbosity', '-v', '--ignore-path']);
  // ocibuild's own flags pass untouched; -c is kaniko's --context.
  assert.deepEqual(translateKanikoArgs(['-c', '/ctx', '--cache-dir', '/c', '--cache-repo', 'r/c', '-v', '--to', 'oci:x']).argv, ['--context', '/ctx', '--cache-dir', '/c', '--cache-repo', 'r/c', '-v', '--to', 'oci:x']);
  assert.deepEqual(translateKanikoArgs(['--cache=false', '--insecure=0']), { argv: [], cache: false, insecure: false, ignored: [] });
  const usage = (text: RegExp) => (e: unknown) => e instanceof UsageError && text.test(e.message);
  assert.throws(() => translateKanikoArgs(['--context', 'git://github.com/acme/app.git#main']), usage(/--context git:\/\/.*ocibuild builds a local folder/));
  assert.throws(() => translateKanikoArgs(['--context=s3://bucket/ctx.tar.gz']), usage(/fetch the s3 context first/));
  assert.throws(() => translateKanikoArgs(['--skip-tls-verify-pull']), usage(/--skip-tls-verify-pull \(kaniko\) is not accepted: .*--ca FILE/));
  assert.throws(() => translateKanikoArgs(['--insecure-pull']), usage(/--insecure-registry HOST/));
  assert.throws(() => translateKanikoArgs(['--cache=maybe']), usage(/--cache=maybe: expected true or false/));
  assert.throws(() => translateKanikoArgs(['--snapshot-mode']), usage(/--snapshot-mode expects a value/));
});

test('a kaniko executor command line builds and pushes; --cache=true keeps step results in DESTINATION/cache, which a second run on a new cache folder uses', async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${registry.host}/busybox:latest\nRUN echo built > /built.txt\n`);
  const names = path.join(dir, 'names.txt');
  const line = (cacheDir: string): string[] => [
    'build', '--context', `dir://${ctx}`, '--dockerfile', path.join(ctx, 'Dockerfile'), '--destination', `${registry.host}/team/app:1`,
    '--cache=true', '--cache-dir', cacheDir, '--snapshot-mode=redo', '--use-new-run', '--reproducible', '--cleanup', '--verbosity', 'info',
    '--digest-file', path.join(dir, 'digest.txt'), '--image-name-with-digest-file', names, '--progress', 'plain',
  ];
  const first = await runCli(line(path.join(dir, 'cache-1')));
  assert.equal(first.code, 0, first.stderr);
  const digest = first.stdout.trim();
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  assert.match(first.stderr, /note: kaniko flags with no effect here: --snapshot-mode, --use-new-run, --reproducible, --cleanup, --verbosity/);
  assert.equal(await fs.readFile(path.join(dir, 'digest.txt'), 'utf8'), digest);
  assert.equal(await fs.readFile(names, 'utf8'), `${registry.host}/team/app@${digest}\n`);
  const catalog = (await (await fetch(`${registry.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.ok(catalog.repositories.includes('team/app/cache'), `the inferred cache repo: ${catalog.repositories.join(', ')}`);
  // Another machine (an empty cache folder) takes the RUN step from the cache repo.
  const second = await runCli(line(path.join(dir, 'cache-2')));
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout.trim(), digest);
  assert.match(second.stderr, /RUN echo built > \/built\.txt\s+CACHED/);
});
