// CI flags of `ocibuild build` (issue 13): --secret in BuildKit's syntax (values never printed),
// --metadata-file with buildx's keys, --iidfile, --annotation (manifest and index: levels), and
// --cache-from/--cache-to mapped onto the step cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { parseAnnotations, parseCacheFlags, parseSecrets } from '../../src/cli/commands/ci-flags.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

let dir: string;
let base: BusyboxLayout;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-ci-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { ...process.env, ...env });
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

async function readLayoutJson(layout: string, digest: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as Record<string, unknown>;
}

test('--secret from a file and from a variable reaches RUN and is never printed; metadata, iid and annotations are written', async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    `FROM oci:${base.layoutPath}:${base.tag}\n` +
      // Compared by hash, so the values are nowhere in the Dockerfile (which plain mode prints).
      `RUN --mount=type=secret,id=npmrc --mount=type=secret,id=TOKEN,env=TOKEN_VALUE test "$(md5sum < /run/secrets/npmrc | cut -c1-32)" = ${md5('file-s3cret-value')} && test "$(printf %s "$TOKEN_VALUE" | md5sum | cut -c1-32)" = ${md5('env-s3cret-value')} && echo secrets-checked\n`,
  );
  const secretFile = path.join(dir, 'npmrc');
  await fs.writeFile(secretFile, 'file-s3cret-value');
  const out = path.join(dir, 'out');
  const metadata = path.join(dir, 'meta.json');
  const iid = path.join(dir, 'iid');
  const run = await cli(
    ['build', ctx, '--to', `oci:${out}:v1`, '--progress', 'plain', '--secret', `id=npmrc,src=${secretFile}`, '--secret', 'id=TOKEN,env=CI_TOKEN',
      '--metadata-file', metadata, '--iidfile', iid, '--annotation', 'org.opencontainers.image.source=https://example.test/app', '--annotation', 'index:only.index=1'],
    { CI_TOKEN: 'env-s3cret-value' },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /secrets-checked/);
  assert.doesNotMatch(run.stderr + run.stdout, /s3cret-value/);
  const digest = run.stdout.trim();
  const meta = JSON.parse(await fs.readFile(metadata, 'utf8')) as Record<string, unknown>;
  assert.equal(meta['containerimage.digest'], digest);
  assert.deepEqual(meta['containerimage.descriptor'], { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: (await fs.stat(path.join(out, 'blobs', 'sha256', digest.slice(7)))).size });
  assert.equal(meta['image.name'], `oci:${out}:v1`);
  assert.deepEqual(meta['ocibuild.targets'], [{ ref: `oci:${out}:v1`, digest }]);
  const manifest = await readLayoutJson(out, digest);
  const config = (manifest.config as { digest: string }).digest;
  assert.equal(await fs.readFile(iid, 'utf8'), config);
  assert.equal(meta['containerimage.config.digest'], config);
  // A single-platform build has no index: the index: annotation goes nowhere, the manifest one is there.
  const annotations = manifest.annotations as Record<string, string>;
  assert.equal(annotations['org.opencontainers.image.source'], 'https://example.test/app');
  assert.equal(annotations['only.index'], undefined);
});

test('--annotation index:K=V goes on the index of a multi-platform build, K=V on each manifest only', async () => {
  const ctx = path.join(dir, 'ctx-multi');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'a.txt'), 'a\n');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
  const out = path.join(dir, 'multi');
  const run = await cli(['build', ctx, '--to', `oci:${out}:v1`, '--platform', 'linux/amd64,linux/arm64', '--annotation', 'm=1', '--annotation', 'index:i=2', '-q']);
  assert.equal(run.code, 0, run.stderr);
  const index = await readLayoutJson(out, run.stdout.trim());
  assert.deepEqual(index.annotations, { i: '2' });
  for (const child of index.manifests as { digest: string }[]) {
    const m = await readLayoutJson(out, child.digest);
    assert.equal((m.annotations as Record<string, string>).m, '1');
    assert.equal((m.annotations as Record<string, string>).i, undefined);
  }
});

test('a RUN that prints its secret shows *** in the live output, in every mode', async () => {
  const ctx = path.join(dir, 'ctx-echo');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nRUN --mount=type=secret,id=tok,env=TOK --mount=type=secret,id=tok2 echo "token is $TOK"; cat /run/secrets/tok2; printf %s "$TOK"; exit 1\n`);
  const file = path.join(dir, 'tok2');
  await fs.writeFile(file, 'second-hidden-value\n');
  for (const mode of ['plain', 'json', 'tty']) {
    const run = await cli(['build', ctx, '--no-push', '--progress', mode, '--secret', 'id=tok,env=TOK_SRC', '--secret', `id=tok2,src=${file}`], { TOK_SRC: 'first-hidden-value' });
    assert.equal(run.code, 1, run.stderr);
    assert.doesNotMatch(run.stderr + run.stdout, /hidden-value/, `${mode}:\n${run.stderr}`);
    assert.match(run.stderr, /token is \*\*\*/, `${mode}:\n${run.stderr}`);
    if (mode !== 'json') assert.match(run.stderr, /^(#\d+ \d+\.\d{3} )?\*{6}$/m, `${mode}: the file secret, redacted`);
  }
});

test('secretRedactor hides values split across chunks and keeps other text whole', async () => {
  const { secretRedactor } = await import('../../src/dockerfile/run-events.ts');
  const r = secretRedactor(['s3cr3t-value', 'ab']);
  const out = ['pre s3c', 'r3t-va', 'lue post s', 'x', ' end s3cr3t'].map((c) => r.push(c)).join('') + r.flush();
  assert.equal(out, 'pre *** post sx end s3cr3t');
  assert.equal(secretRedactor([]).push('plain'), 'plain');
});

test('a missing secret file fails naming the secret, without a stack', async () => {
  const ctx = path.join(dir, 'ctx-missing');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nRUN --mount=type=secret,id=gone,required=true cat /run/secrets/gone\n`);
  const run = await cli(['build', ctx, '--no-push', '--secret', `id=gone,src=${path.join(dir, 'nope')}`, '-q']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /gone/);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
});

test('parseSecrets follows buildx: src, env, type and the id as default name', () => {
  assert.deepEqual(parseSecrets(['id=a,src=/f', 'id=b,env=V', 'id=c,type=file', 'id=d,type=env', 'src=/x/tok']), {
    a: { file: '/f' }, b: { env: 'V' }, c: { file: 'c' }, d: { env: 'd' }, tok: { file: '/x/tok' },
  });
  process.env.OCIBUILD_TEST_SECRET_SET = '1';
  assert.deepEqual(parseSecrets(['id=OCIBUILD_TEST_SECRET_SET', 'id=OCIBUILD_TEST_SECRET_UNSET_X']), { OCIBUILD_TEST_SECRET_SET: { env: 'OCIBUILD_TEST_SECRET_SET' }, OCIBUILD_TEST_SECRET_UNSET_X: { file: 'OCIBUILD_TEST_SECRET_UNSET_X' } });
  assert.throws(() => parseSecrets(['id=a,src=/f,env=V']), /src or env, not both/);
  assert.throws(() => parseSecrets(['id=a,colour=red']), /unknown key "colour"/);
  assert.throws(() => parseSecrets(['type=env']), /id is required/);
});

test('parseAnnotations: manifest by default, index: prefix, unknown level refused', () => {
  assert.deepEqual(parseAnnotations(['a=1', 'manifest:b=2', 'index:c=3', 'org.example:key=4']), { annotations: { a: '1', b: '2', 'org.example:key': '4' }, indexAnnotations: { c: '3' } });
  assert.deepEqual(parseAnnotations([]), {});
  assert.throws(() => parseAnnotations(['manifest-descriptor:a=1']), /level "manifest-descriptor" is not supported/);
  assert.throws(() => parseAnnotations(['novalue']), /KEY=VALUE/);
});

test('parseCacheFlags maps buildx cache specs onto the one cache repo and directory', () => {
  assert.deepEqual(parseCacheFlags(['type=registry,ref=r.example/cache'], []), { repo: 'r.example/cache', push: false });
  assert.deepEqual(parseCacheFlags(['r.example/cache'], ['type=registry,ref=r.example/cache,mode=max']), { repo: 'r.example/cache', push: true });
  assert.deepEqual(parseCacheFlags(['type=local,src=/c'], ['type=local,dest=/c']), { dir: '/c' });
  assert.throws(() => parseCacheFlags(['a.example/c'], ['type=registry,ref=b.example/c']), /one cache repository/);
  assert.throws(() => parseCacheFlags(['type=gha'], []), /type=gha is not supported/);
});

test('--cache-to pushes step results that --cache-from on a clean machine reuses', async () => {
  const { startRegistry } = await import('../helpers/registry.ts');
  const registry = await startRegistry();
  const ctx = path.join(dir, 'ctx-cache');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'a.txt'), 'a\n');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
  const repo = `${registry.host}/team/cache`;
  const first = await cli(['build', ctx, '--no-push', '--cache-dir', path.join(dir, 'm1'), '--cache-to', `type=registry,ref=${repo}`, '--insecure-registry', registry.host, '--progress', 'plain']);
  assert.equal(first.code, 0, first.stderr);
  const second = await cli(['build', ctx, '--no-push', '--cache-dir', path.join(dir, 'm2'), '--cache-from', `type=registry,ref=${repo}`, '--insecure-registry', registry.host, '--progress', 'plain']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /^#(\d+) \[2\/2\] COPY a\.txt \/a\.txt\n#\1 CACHED \(registry\)$/m, second.stderr);
  const none = await cli(['build', ctx, '--no-push', '--no-cache', '--cache-dir', path.join(dir, 'm1')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--no-cache cannot be combined/);
  await registry.stop();
});
