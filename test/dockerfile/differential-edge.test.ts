/**
 * Differential tests on Dockerfiles shaped like real projects' (Go, Node, Python, nginx) and on
 * the corners of COPY/ADD/RUN/ENV/ARG/USER/WORKDIR/.dockerignore that such projects hit: every
 * fixture under `test/fixtures/dockerfiles-edge/` is built by ocibuild and by
 * `buildah bud --isolation chroot` on the busybox base; the unpacked trees (paths, types, modes,
 * owners, contents, link targets; mtimes ignored) and the Dockerfile-visible config fields must
 * be equal. Where buildah 1.28 differs from BuildKit, `case.json` corrects the reference and
 * says why (docs/dockerfile-differences.md).
 *
 * `case.json` (all optional): `buildArgs`, `target`; `files` (path → text), `mkdirs`,
 * `symlinks` (path → target) and `modes` (path → octal) to create what git cannot keep;
 * `buildahDockerfile` (a variant without what buildah cannot build, giving the same result
 * BuildKit gives for `Dockerfile`); `fixes` (`{ why, tree, config }`, as in differential.test.ts);
 * `ignore` (paths not compared) with `why`; `error` (a pattern: ocibuild must reject the build
 * naming `Dockerfile:line`, writing nothing).
 *
 * The last tests check that images ocibuild writes are read by `skopeo inspect` and
 * `umoci unpack` in OCI and Docker (docker-archive) form.
 * @module
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildImage } from '../../src/pipeline/index.ts';
import { BuildahError, cachedBuildahBuild } from '../helpers/buildah.ts';
import {
  assertRejected,
  assertSame,
  BUILDAH_RUN_ARTIFACTS,
  busyboxWorkspace,
  compareImages,
  fixtureRoot,
  limiter,
  listFixtures,
  prepareContext,
  readCaseSpec,
  readOcibuild,
  readReference,
  runDifferentialSkip,
  type ContextAdditions,
  type Fixes,
} from '../helpers/differential.ts';
import { diffTrees, readTree, unpackImage } from '../helpers/tree.ts';

const run = promisify(execFile);
const FIXTURES = fixtureRoot('dockerfiles-edge');

interface CaseSpec extends ContextAdditions {
  buildArgs?: Record<string, string>;
  target?: string;
  buildahDockerfile?: string;
  fixes?: Fixes;
  ignore?: string[];
  why?: string;
  error?: string;
  line?: number;
}

const fixtureNames = await listFixtures(FIXTURES);
const readSpec = (name: string): Promise<CaseSpec> => readCaseSpec<CaseSpec>(FIXTURES, name);
const slot = limiter(2);

const workspace = busyboxWorkspace('ocibuild-differential-edge-');

function ocibuild(context: string, spec: CaseSpec, dir: string, to: string | string[], format?: 'oci' | 'docker') {
  const { base } = workspace;
  return buildImage({
    dockerfile: path.join(context, 'Dockerfile'),
    context,
    buildArgs: { ...spec.buildArgs, BASE: `oci:${base.layoutPath}:${base.tag}` },
    ...(spec.target !== undefined ? { target: spec.target } : {}),
    ...(format !== undefined ? { format } : {}),
    cache: { dir: path.join(dir, 'cache') },
    to,
  });
}

describe('edge-case Dockerfiles against buildah bud --isolation chroot', { concurrency: 2, skip: runDifferentialSkip() }, () => {
  it('has at least 20 fixtures that build', async () => {
    const building = (await Promise.all(fixtureNames.map(readSpec))).filter((s) => s.error === undefined);
    assert.ok(building.length >= 20, `${building.length} fixtures`);
  });
  for (const name of fixtureNames) {
    it(name, async (t) => {
      const spec = await readSpec(name);
      const { work, base } = workspace;
      const dir = path.join(work, name);
      const context = path.join(dir, 'context');
      await prepareContext(FIXTURES, name, context, spec);
      const buildah = () =>
        slot(() =>
          cachedBuildahBuild({
            workRoot: dir,
            contextDir: context,
            ...(spec.buildahDockerfile !== undefined ? { dockerfile: spec.buildahDockerfile } : {}),
            ...(spec.buildArgs !== undefined ? { buildArgs: spec.buildArgs } : {}),
            ...(spec.target !== undefined ? { target: spec.target } : {}),
            // One layer per stage: the history pattern is not compared here, and vfs copies
            // the whole rootfs for every layer it commits.
            layers: false,
            baseLayout: base,
          }),
        );
      const out = path.join(dir, 'ocibuild');
      if (spec.error !== undefined) {
        await assertRejected(slot(() => ocibuild(context, spec, dir, `oci:${out}:latest`)), new RegExp(spec.error, 'i'), spec.line, out);
        const verdict = await buildah().then(
          () => 'buildah 1.28 accepts it',
          (e: unknown) => (e instanceof BuildahError ? `buildah 1.28 rejects it too: ${e.message}` : `buildah failed: ${String(e)}`),
        );
        t.diagnostic(`${verdict}${spec.why ? ` (${spec.why})` : ''}`);
        return;
      }
      const reference = await buildah();
      await slot(() => ocibuild(context, spec, dir, `oci:${out}:latest`));
      const expected = await readReference(dir, reference, spec.fixes);
      const ignore = [...BUILDAH_RUN_ARTIFACTS, ...(spec.ignore ?? [])];
      const problems = compareImages(expected, await readOcibuild(dir, out), ['buildah', 'ocibuild'], ignore);
      if (spec.fixes) t.diagnostic(`buildah result corrected: ${spec.fixes.why}`);
      if (spec.buildahDockerfile) t.diagnostic(`buildah built ${spec.buildahDockerfile}: ${spec.why ?? ''}`);
      if (spec.ignore) t.diagnostic(`not compared: ${spec.ignore.join(', ')} (${spec.why ?? 'no reason given'})`);
      assertSame(name, 'buildah', problems);
    });
  }
});

async function skopeoInspect(ref: string): Promise<{ Layers: string[]; Architecture: string; Os: string; Env?: string[] }> {
  const { stdout } = await run('skopeo', ['inspect', ref], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as { Layers: string[]; Architecture: string; Os: string; Env?: string[] };
}

const toolsSkip = process.platform !== 'linux' ? 'needs Linux' : false;

describe('images ocibuild writes for a Dockerfile are read by skopeo and umoci', { skip: toolsSkip }, () => {
  // skopeo 1.9 (containers/image) only lists OCI manifests and indexes in an OCI layout's
  // index.json, so the Docker format is checked through its usual container, docker-archive.
  it('--format oci to an oci layout and --format docker to a docker-archive give the same files', async () => {
    const name = 'nginx-conf';
    const spec = await readSpec(name);
    const dir = path.join(workspace.work, 'formats');
    const context = path.join(dir, 'context');
    await prepareContext(FIXTURES, name, context, spec);
    const layout = path.join(dir, 'layout');
    const archive = path.join(dir, 'image.tar');
    const oci = await ocibuild(context, spec, path.join(dir, 'oci'), `oci:${layout}:latest`, 'oci');
    const docker = await ocibuild(context, spec, path.join(dir, 'docker'), `docker-archive:${archive}:example/app:latest`, 'docker');
    assert.equal(oci.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(docker.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const fromLayout = await skopeoInspect(`oci:${layout}:latest`);
    const fromArchive = await skopeoInspect(`docker-archive:${archive}`);
    assert.equal(fromLayout.Layers.length, oci.manifest.layers.length);
    assert.equal(fromArchive.Layers.length, fromLayout.Layers.length);
    assert.equal(fromArchive.Architecture, fromLayout.Architecture);
    assert.deepEqual(fromArchive.Env, fromLayout.Env);
    // umoci reads OCI layouts; the docker-archive goes through skopeo into one first.
    const converted = path.join(dir, 'converted');
    await run('skopeo', ['--insecure-policy', 'copy', `docker-archive:${archive}`, `oci:${converted}:latest`]);
    const treeLayout = await readTree((await unpackImage(layout, 'latest', path.join(dir, 'bundle-layout'))).rootfs);
    const treeArchive = await readTree((await unpackImage(converted, 'latest', path.join(dir, 'bundle-archive'))).rootfs);
    assert.deepEqual(diffTrees(treeLayout, treeArchive, { ignoreMtime: true }, ['oci layout', 'docker-archive']), []);
    assert.ok(treeLayout.some((e) => e.path === '/etc/nginx/conf.d/default.conf' && e.uid === 101 && e.gid === 101));
  });
});
