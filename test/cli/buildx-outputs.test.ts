// buildx's --push, --load and -o/--output on `ocibuild build` (src/cli/commands/buildx-outputs.ts):
// the mapping onto ocibuild's targets, then a build whose -t names an unreachable registry and
// whose outputs are local files only: nothing is pushed, as with buildx without --push.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildxTargets } from '../../src/cli/commands/buildx-outputs.ts';
import { UsageError } from '../../src/cli/util.ts';
import { runCli } from '../helpers/cli.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

let dir: string;
let base: BusyboxLayout;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-buildx-out-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('buildx outputs: -t names the image; --push pushes it, --load loads it, -o writes files, layouts, archives or pushes', () => {
  const t = (to: string[], outputs: string[], push = false, load = false) => buildxTargets({ to, outputs, push, load });
  assert.equal(t(['r.example/app:1'], []), undefined, 'none of the flags: -t is a target as always');
  assert.deepEqual(t(['r.example/app:1'], [], true), ['r.example/app:1']);
  assert.deepEqual(t(['r.example/app:1'], [], false, true), ['docker-daemon:r.example/app:1']);
  assert.deepEqual(t(['r.example/app:1', 'oci:/keep:1'], [], true, true), ['oci:/keep:1', 'r.example/app:1', 'docker-daemon:r.example/app:1']);
  assert.deepEqual(t(['app:1'], ['type=local,dest=/out/dir', 'type=tar,dest=/out/fs.tar', '/out/plain', 'type=docker,dest=/out/img.tar', 'type=oci,dest=/out/layout,tar=false']), [
    'local:/out/dir', 'tar:/out/fs.tar', 'local:/out/plain', 'docker-archive:/out/img.tar:app:1', 'oci:/out/layout',
  ]);
  assert.deepEqual(t(['app:1'], ['type=docker']), ['docker-daemon:app:1']);
  assert.deepEqual(t(['r.example/app:1'], ['type=image,push=true']), ['r.example/app:1']);
  assert.deepEqual(t(['r.example/app:1'], ['type=image']), [], 'an image output without push=true writes nothing here');
  assert.deepEqual(t([], ['type=registry,name=r.example/other:2']), ['r.example/other:2']);
  const usage = (text: RegExp) => (e: unknown) => e instanceof UsageError && text.test(e.message);
  assert.throws(() => t([], [], false, true), usage(/--load loads the image under its -t name/));
  assert.throws(() => t(['a:1'], ['type=oci,dest=/out/img.tar']), usage(/add tar=false/));
  assert.throws(() => t(['a:1'], ['type=tar,dest=-']), usage(/standard output is not supported/));
  assert.throws(() => t(['a:1'], ['type=local']), usage(/needs dest=PATH/));
  assert.throws(() => t(['a:1'], ['type=cacheonly']), usage(/type must be local, tar, oci/));
  assert.throws(() => t(['a:1'], ['type=image,push=maybe']), usage(/push=maybe: expected true or false/));
});

test('ocibuild build -t NAME -o type=local,dest=DIR --output type=tar,dest=FILE writes both and pushes nothing', async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nCOPY a.txt /a.txt\n`);
  await fs.writeFile(path.join(ctx, 'a.txt'), 'buildx\n');
  const local = path.join(dir, 'local');
  const file = path.join(dir, 'fs.tar');
  // An unreachable registry name: any push would fail the build.
  const run = await runCli(['build', ctx, '-t', 'registry.invalid/team/app:1', '-o', `type=local,dest=${local}`, '--output', `type=tar,dest=${file}`, '--progress', 'quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await fs.readFile(path.join(local, 'a.txt'), 'utf8'), 'buildx\n');
  assert.ok((await fs.stat(file)).size > 0);
  const none = await runCli(['build', ctx, '-t', 'registry.invalid/team/app:1', '-o', 'type=image', '--progress', 'quiet']);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /note: no output .* the image is built and not written/);
});

test("buildx's attestation spellings: --sbom=true|false, --provenance=true|false, --provenance=mode=max; --pull accepted", async () => {
  const { normalizeAttestArgs } = await import('../../src/cli/commands/sbom.ts');
  assert.deepEqual(
    normalizeAttestArgs(['--sbom', '--sbom=true', '--sbom=false', '--sbom=generator=docker/scout-sbom-indexer:1', '--sbom=cyclonedx', '--provenance=true', '--provenance=false', '--provenance=mode=max', '--provenance', '--', '--sbom=false']),
    ['--sbom=spdx', '--sbom=spdx', '--no-sbom', '--sbom=spdx', '--sbom=cyclonedx', '--provenance', '--no-provenance', '--provenance', '--provenance', '--', '--sbom=false'],
  );
  const ctx = path.join(dir, 'attest-ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\n`);
  const out = path.join(dir, 'attest-out');
  const run = await runCli(['build', ctx, '--pull', '--provenance=mode=max', '--sbom=false', '--to', `oci:${out}`, '--progress', 'quiet']);
  assert.equal(run.code, 0, run.stderr);
  const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { artifactType?: string }[] };
  assert.deepEqual(index.manifests.map((m) => m.artifactType).filter((t) => t !== undefined), ['application/vnd.in-toto+json'], 'provenance attached, no SBOM');
});
