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
