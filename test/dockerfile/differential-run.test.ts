/**
 * Differential tests of RUN (issue 6): every fixture under `test/fixtures/dockerfiles-run/` is
 * built by ocibuild and by `buildah bud --isolation chroot` on the busybox base, and the unpacked
 * trees (paths, types, modes, owners, contents, link targets; mtimes ignored) and the
 * Dockerfile-visible config fields must be equal.
 *
 * buildah 1.28 leaves its RUN mount points in the layers (empty /etc/hostname, /etc/hosts,
 * /etc/resolv.conf, and /dev, /proc, /sys, /run) where BuildKit and ocibuild leave nothing; those
 * paths are not compared (docs/dockerfile-differences.md). For the same reason buildah commits a
 * layer for every RUN, so the history pattern is not compared either.
 *
 * A fixture directory holds `Dockerfile`, its context files and an optional `case.json`
 * (`{ "buildArgs": {...}, "target": "...", "ignore": [...], "why": "..." }`).
 * @module
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/build/index.ts';
import { buildahAvailable, cachedBuildahBuild } from '../helpers/buildah.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { diffConfigs, diffTrees, readImageConfig, readTree, unpackImage } from '../helpers/tree.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'dockerfiles-run');

/** Paths buildah's chroot RUN leaves in layers and BuildKit does not. */
export const BUILDAH_RUN_ARTIFACTS = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev', '/proc', '/sys', '/run'];

interface CaseSpec {
  buildArgs?: Record<string, string>;
  target?: string;
  /** More paths not compared, with the reason in `why`. */
  ignore?: string[];
  why?: string;
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

/** Copies a fixture with umask-independent modes (dirs 0755, files 0644 or 0755), without case.json. */
async function prepareContext(name: string, dest: string): Promise<void> {
  await fs.cp(path.join(FIXTURES, name), dest, { recursive: true, filter: (src) => path.basename(src) !== 'case.json' });
  const walk = async (dir: string): Promise<void> => {
    await fs.chmod(dir, 0o755);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) await fs.chmod(full, ((await fs.stat(full)).mode & 0o111) !== 0 ? 0o755 : 0o644);
    }
  };
  await walk(dest);
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
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-differential-run-'));
  base = await buildBusyboxLayout(path.join(work, 'base'));
});

after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const skip = process.platform !== 'linux' ? 'RUN needs Linux' : !buildahAvailable() ? 'buildah is not installed: no reference build' : false;

describe('RUN differential tests against buildah bud --isolation chroot', { concurrency: 2, skip }, () => {
  it('has at least 12 fixtures', () => assert.ok(fixtureNames.length >= 12, `${fixtureNames.length} fixtures`));
  for (const name of fixtureNames) {
    it(name, async (t) => {
      const spec = await readSpec(name);
      const dir = path.join(work, name);
      const context = path.join(dir, 'context');
      await prepareContext(name, context);
      const reference = await slot(() =>
        cachedBuildahBuild({
          workRoot: dir,
          contextDir: context,
          ...(spec.buildArgs !== undefined ? { buildArgs: spec.buildArgs } : {}),
          ...(spec.target !== undefined ? { target: spec.target } : {}),
          baseLayout: base,
        }),
      );
      const out = path.join(dir, 'ocibuild');
      const file = path.join(context, 'Dockerfile');
      await slot(() =>
        buildImage({
          dockerfile: file,
          context,
          buildArgs: { ...spec.buildArgs, BASE: `oci:${base.layoutPath}:${base.tag}` },
          ...(spec.target !== undefined ? { target: spec.target } : {}),
          // A fresh cache per fixture: cache mounts must start empty, as in buildah's private storage.
          cache: { dir: path.join(dir, 'cache') },
          to: `oci:${out}:latest`,
        }),
      );
      const expectedTree = await readTree((await unpackImage(reference.layoutPath, reference.tag, path.join(dir, 'buildah-bundle'))).rootfs);
      const tree = await readTree((await unpackImage(out, 'latest', path.join(dir, 'ocibuild-bundle'))).rootfs);
      const labels: [string, string] = ['buildah', 'ocibuild'];
      const problems = [
        ...diffTrees(expectedTree, tree, { ignoreMtime: true, ignore: [...BUILDAH_RUN_ARTIFACTS, ...(spec.ignore ?? [])] }, labels),
        ...diffConfigs(await readImageConfig(reference.layoutPath, reference.dockerTag), await readImageConfig(out, 'latest'), {}, labels),
      ];
      if (spec.ignore !== undefined) t.diagnostic(`not compared: ${spec.ignore.join(', ')} (${spec.why ?? 'no reason given'})`);
      assert.deepEqual(problems, [], `${name}: ocibuild differs from buildah:\n  ${problems.join('\n  ')}`);
    });
  }
});
