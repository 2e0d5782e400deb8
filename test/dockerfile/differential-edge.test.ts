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
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildImage } from '../../src/build/index.ts';
import { OcibuildError } from '../../src/errors.ts';
import { BuildahError, buildahAvailable, cachedBuildahBuild } from '../helpers/buildah.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { diffConfigs, diffTrees, readImageConfig, readTree, unpackImage, type ImageConfigJson, type TreeEntry } from '../helpers/tree.ts';

const run = promisify(execFile);
const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'dockerfiles-edge');

/** Paths buildah's chroot RUN leaves in layers and BuildKit does not (see differential-run.test.ts). */
const BUILDAH_RUN_ARTIFACTS = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev', '/proc', '/sys', '/run'];

interface CaseSpec {
  buildArgs?: Record<string, string>;
  target?: string;
  files?: Record<string, string>;
  mkdirs?: string[];
  symlinks?: Record<string, string>;
  modes?: Record<string, string>;
  buildahDockerfile?: string;
  fixes?: {
    why: string;
    tree?: Record<string, Partial<Record<keyof Omit<TreeEntry, 'mode'>, unknown>> & { mode?: string; remove?: boolean; content?: string }>;
    config?: Record<string, unknown>;
  };
  ignore?: string[];
  why?: string;
  error?: string;
  line?: number;
}

const fixtureNames = (await fs.readdir(FIXTURES, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();

async function readSpec(name: string): Promise<CaseSpec> {
  try {
    return JSON.parse(await fs.readFile(path.join(FIXTURES, name, 'case.json'), 'utf8')) as CaseSpec;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

/** Copies a fixture with umask-independent modes, then adds what git cannot keep. */
async function prepareContext(name: string, spec: CaseSpec, dest: string): Promise<void> {
  await fs.cp(path.join(FIXTURES, name), dest, { recursive: true, verbatimSymlinks: true, filter: (src) => path.basename(src) !== 'case.json' });
  for (const dir of spec.mkdirs ?? []) await fs.mkdir(path.join(dest, dir), { recursive: true });
  for (const [rel, text] of Object.entries(spec.files ?? {})) {
    await fs.mkdir(path.dirname(path.join(dest, rel)), { recursive: true });
    await fs.writeFile(path.join(dest, rel), text);
  }
  const walk = async (dir: string): Promise<void> => {
    await fs.chmod(dir, 0o755);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) await fs.chmod(full, ((await fs.stat(full)).mode & 0o111) !== 0 ? 0o755 : 0o644);
    }
  };
  await walk(dest);
  for (const [rel, target] of Object.entries(spec.symlinks ?? {})) await fs.symlink(target, path.join(dest, rel));
  for (const [rel, mode] of Object.entries(spec.modes ?? {})) await fs.chmod(path.join(dest, rel), parseInt(mode, 8));
}

/** Applies `spec.fixes` to buildah's tree and config. */
function applyFixes(spec: CaseSpec, tree: TreeEntry[], config: ImageConfigJson): { tree: TreeEntry[]; config: ImageConfigJson } {
  const fixes = spec.fixes;
  if (!fixes) return { tree, config };
  const byPath = new Map(tree.map((e) => [e.path, { ...e }]));
  for (const [p, fix] of Object.entries(fixes.tree ?? {})) {
    if (fix.remove) {
      for (const key of [...byPath.keys()]) if (key === p || key.startsWith(`${p}/`)) byPath.delete(key);
      continue;
    }
    const { mode, remove: _remove, content, ...rest } = fix;
    const old = byPath.get(p) ?? ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 } as TreeEntry);
    const entry = { ...old, ...(rest as Partial<TreeEntry>), ...(mode !== undefined ? { mode: parseInt(mode, 8) } : {}) };
    // `null` removes a field (a file turned into a symlink has no content hash).
    for (const [key, value] of Object.entries(rest)) if (value === null) delete (entry as unknown as Record<string, unknown>)[key];
    if (content !== undefined) {
      entry.size = Buffer.byteLength(content);
      entry.sha256 = createHash('sha256').update(content).digest('hex');
    }
    byPath.set(p, entry);
  }
  const fixed = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { tree: fixed, config: { ...config, config: { ...config.config, ...fixes.config } } };
}

function limiter(limit: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await job();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
const slot = limiter(2);

let work: string;
let base: BusyboxLayout;

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-differential-edge-'));
  base = await buildBusyboxLayout(path.join(work, 'base'));
});

after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function ocibuild(context: string, spec: CaseSpec, dir: string, to: string | string[], format?: 'oci' | 'docker') {
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

const skip = process.platform !== 'linux' ? 'RUN needs Linux' : !buildahAvailable() ? 'buildah is not installed: no reference build' : false;

describe('edge-case Dockerfiles against buildah bud --isolation chroot', { concurrency: 2, skip }, () => {
  it('has at least 20 fixtures that build', async () => {
    const building = (await Promise.all(fixtureNames.map(readSpec))).filter((s) => s.error === undefined);
    assert.ok(building.length >= 20, `${building.length} fixtures`);
  });
  for (const name of fixtureNames) {
    it(name, async (t) => {
      const spec = await readSpec(name);
      const dir = path.join(work, name);
      const context = path.join(dir, 'context');
      await prepareContext(name, spec, context);
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
        await assert.rejects(slot(() => ocibuild(context, spec, dir, `oci:${out}:latest`)), (error: unknown) => {
          assert.ok(error instanceof OcibuildError, `expected an OcibuildError, got ${String(error)}`);
          assert.match(error.message, new RegExp(spec.error as string, 'i'));
          if (spec.line !== undefined) assert.match(error.message, new RegExp(`Dockerfile:${spec.line}\\b`), error.message);
          return true;
        });
        await assert.rejects(fs.stat(path.join(out, 'index.json')), { code: 'ENOENT' }, 'nothing may be written to the target');
        const verdict = await buildah().then(
          () => 'buildah 1.28 accepts it',
          (e: unknown) => (e instanceof BuildahError ? `buildah 1.28 rejects it too: ${e.message}` : `buildah failed: ${String(e)}`),
        );
        t.diagnostic(`${verdict}${spec.why ? ` (${spec.why})` : ''}`);
        return;
      }
      const reference = await buildah();
      await slot(() => ocibuild(context, spec, dir, `oci:${out}:latest`));
      const unpacked = await readTree((await unpackImage(reference.layoutPath, reference.tag, path.join(dir, 'buildah-bundle'))).rootfs);
      const expected = applyFixes(spec, unpacked, await readImageConfig(reference.layoutPath, reference.dockerTag));
      const tree = await readTree((await unpackImage(out, 'latest', path.join(dir, 'ocibuild-bundle'))).rootfs);
      const labels: [string, string] = ['buildah', 'ocibuild'];
      const problems = [
        ...diffTrees(expected.tree, tree, { ignoreMtime: true, ignore: [...BUILDAH_RUN_ARTIFACTS, ...(spec.ignore ?? [])] }, labels),
        ...diffConfigs(expected.config, await readImageConfig(out, 'latest'), {}, labels),
      ];
      if (spec.fixes) t.diagnostic(`buildah result corrected: ${spec.fixes.why}`);
      if (spec.buildahDockerfile) t.diagnostic(`buildah built ${spec.buildahDockerfile}: ${spec.why ?? ''}`);
      if (spec.ignore) t.diagnostic(`not compared: ${spec.ignore.join(', ')} (${spec.why ?? 'no reason given'})`);
      assert.deepEqual(problems, [], `${name}: ocibuild differs from buildah:\n  ${problems.join('\n  ')}`);
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
    const dir = path.join(work, 'formats');
    const context = path.join(dir, 'context');
    await prepareContext(name, spec, context);
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
