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
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { cachedBuildahBuild } from '../helpers/buildah.ts';
import {
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
} from '../helpers/differential.ts';

const FIXTURES = fixtureRoot('dockerfiles-run');

interface CaseSpec {
  buildArgs?: Record<string, string>;
  target?: string;
  /** More paths not compared, with the reason in `why`. */
  ignore?: string[];
  why?: string;
}

const fixtureNames = await listFixtures(FIXTURES);
const slot = limiter(2);

const workspace = busyboxWorkspace('ocibuild-differential-run-');

describe('RUN differential tests against buildah bud --isolation chroot', { concurrency: 2, skip: runDifferentialSkip() }, () => {
  it('has at least 12 fixtures', () => assert.ok(fixtureNames.length >= 12, `${fixtureNames.length} fixtures`));
  for (const name of fixtureNames) {
    it(name, async (t) => {
      const spec = await readCaseSpec<CaseSpec>(FIXTURES, name);
      const { work, base } = workspace;
      const dir = path.join(work, name);
      const context = path.join(dir, 'context');
      await prepareContext(FIXTURES, name, context);
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
      const ignore = [...BUILDAH_RUN_ARTIFACTS, ...(spec.ignore ?? [])];
      const problems = compareImages(await readReference(dir, reference), await readOcibuild(dir, out), ['buildah', 'ocibuild'], ignore);
      if (spec.ignore !== undefined) t.diagnostic(`not compared: ${spec.ignore.join(', ')} (${spec.why ?? 'no reason given'})`);
      assertSame(name, 'buildah', problems);
    });
  }
});
