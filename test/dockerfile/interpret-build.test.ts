/**
 * `buildImage({ dockerfile, context, buildArgs, target, platforms, to })` end to end: the
 * Dockerfile as a path relative to the context or as inline text, an `oci:` target, the same
 * digest twice, two platforms with TARGETARCH, and nothing written when the Dockerfile fails.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { DockerfileError } from '../../src/errors.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let base: BusyboxLayout;
let context: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-dfbuild-'));
  base = await buildBusyboxLayout(path.join(tmp, 'base'), { platforms: ['linux/amd64', 'linux/arm64'] });
  context = path.join(tmp, 'ctx');
  await fs.mkdir(path.join(context, 'docker'), { recursive: true });
  await fs.writeFile(path.join(context, 'app.txt'), 'app\n');
  await fs.writeFile(path.join(context, 'secret.key'), 'no\n');
  await fs.writeFile(path.join(context, '.dockerignore'), '*.key\n');
  await fs.writeFile(
    path.join(context, 'docker', 'Dockerfile'),
    ['ARG BASE', 'FROM $BASE AS build', 'COPY app.txt /src/', 'FROM $BASE', 'ARG TARGETARCH', 'COPY --from=build /src/app.txt /app/', 'LABEL arch=$TARGETARCH', 'CMD ["cat", "/app/app.txt"]', ''].join('\n'),
  );
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function readJson(layout: string, digest: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as Record<string, unknown>;
}

describe('buildImage with a Dockerfile', () => {
  it('builds from a Dockerfile path relative to the context, reproducibly', async () => {
    const options = {
      dockerfile: 'docker/Dockerfile',
      context,
      buildArgs: { BASE: `oci:${base.layoutPath}:${base.tag}` },
      platforms: ['linux/amd64'],
      sourceDateEpoch: 1000,
    };
    const one = await buildImage({ ...options, to: `oci:${path.join(tmp, 'out1')}:v1` });
    const two = await buildImage({ ...options, to: `oci:${path.join(tmp, 'out2')}:v1` });
    assert.equal(one.digest, two.digest);
    assert.deepEqual(one.config.config?.Cmd, ['cat', '/app/app.txt']);
    assert.deepEqual(one.config.config?.Labels, { arch: 'amd64' });
    assert.equal(one.manifest.layers.length, 2, 'base + the target stage COPY; the build stage is not in the image');
    const history = one.config.history ?? [];
    assert.deepEqual(history.slice(1).map((h) => [h.created_by, h.empty_layer ?? false]), [
      ['ARG TARGETARCH=amd64', true],
      ['COPY /src/app.txt /app/ # buildkit', false],
      ['LABEL arch=amd64', true],
      ['CMD ["cat" "/app/app.txt"]', true],
    ]);
  });

  it('builds two platforms from inline text, each with its own TARGETARCH', async () => {
    const text = await fs.readFile(path.join(context, 'docker', 'Dockerfile'), 'utf8');
    const out = path.join(tmp, 'multi');
    const result = await buildImage({
      dockerfile: { text, file: 'docker/Dockerfile' },
      context,
      buildArgs: { BASE: `oci:${base.layoutPath}:${base.tag}` },
      platforms: ['linux/amd64', 'linux/arm64'],
      to: `oci:${out}:v1`,
    });
    assert.ok(result.index);
    const arches: string[] = [];
    for (const m of result.index.manifests) {
      const manifest = await readJson(out, m.digest);
      const config = await readJson(out, (manifest.config as { digest: string }).digest);
      arches.push(`${config.architecture as string}:${((config.config as { Labels: Record<string, string> }).Labels).arch}`);
    }
    assert.deepEqual(arches, ['amd64:amd64', 'arm64:arm64']);
  });

  it('fails before writing anything; errors name file and line', async () => {
    const out = path.join(tmp, 'never');
    for (const [text, check] of [
      ['FROM scratch\nCOPY secret.key /k\n', (e: unknown) => e instanceof DockerfileError && e.line === 2 && /dockerignore/.test(e.message)],
      ['FROM scratch\nCOPY app.txt /a\nBOGUS x\n', (e: unknown) => e instanceof DockerfileError && e.line === 3],
      ['FROM scratch\nCOPY nope /a\n', (e: unknown) => e instanceof DockerfileError && e.file === 'in/Dockerfile' && e.line === 2],
    ] as const) {
      await assert.rejects(buildImage({ dockerfile: { text, file: 'in/Dockerfile' }, context, to: `oci:${out}:v1` }), check);
      await assert.rejects(fs.stat(out), { code: 'ENOENT' });
    }
  });
});
