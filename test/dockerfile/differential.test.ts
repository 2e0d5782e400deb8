/**
 * Differential tests of Dockerfile builds (issue 5): every fixture under
 * `test/fixtures/dockerfiles/` is built by ocibuild and by `buildah bud` (the reference), and
 * the unpacked trees (paths, types, modes, owners, contents, link targets) and the config
 * fields a Dockerfile sets must be equal, as must the layer/history pattern.
 *
 * A fixture directory holds `Dockerfile` (or another name, see `dockerfile`), its context
 * files, and an optional `case.json` ({@link CaseSpec}). Fixtures buildah cannot build
 * (`reference: "expected"`) carry an `expected.json` written from the Docker documentation.
 * Where buildah differs from Docker/BuildKit, `fixes` corrects the reference and says why; see
 * docs/dockerfile-differences.md.
 *
 * The error tests check that a rejected Dockerfile names its file and line and writes nothing.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildahAvailable, cachedBuildahBuild } from '../helpers/buildah.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import {
  assertRejected,
  assertSame,
  compareImages,
  contentFields,
  fixtureRoot,
  historyPattern,
  limiter,
  listFixtures,
  prepareContext,
  readCaseSpec,
  readOcibuild,
  readReference,
  sortByPath,
  type Fixes,
  type ImageResult,
} from '../helpers/differential.ts';
import { diffLayerPattern, readImageConfig, readTree, unpackImage, type ImageConfigJson, type TreeEntry } from '../helpers/tree.ts';

// Loaded lazily so that a half-built interpreter fails each case on its own, and the buildah
// side still runs.
let buildModule: Promise<typeof import('../../src/pipeline/index.ts')> | undefined;
async function buildImage(options: import('../../src/pipeline/index.ts').BuildOptions): ReturnType<typeof import('../../src/pipeline/index.ts').buildImage> {
  buildModule ??= import('../../src/pipeline/index.ts');
  return (await buildModule).buildImage(options);
}

const FIXTURES = fixtureRoot('dockerfiles');

/** The optional `case.json` of a fixture. */
interface CaseSpec {
  /** Dockerfile name inside the fixture (default `Dockerfile`). */
  dockerfile?: string;
  /** `--build-arg` values (BASE is added by the harness). */
  buildArgs?: Record<string, string>;
  /** `--target`. */
  target?: string;
  /** Base image: one platform (default) or an index of linux/amd64 and linux/arm64. */
  base?: 'single' | 'multi';
  /** Platform to build. */
  platform?: string;
  /** `buildah` (default) or `expected` (compare with `expected.json`). */
  reference?: 'buildah' | 'expected';
  /** Why a fixture uses `expected`. */
  why?: string;
  /** Context modes to set after copying (git keeps only 0644/0755 files). */
  modes?: Record<string, string>;
  /** Corrections to buildah's result where it differs from Docker/BuildKit. */
  fixes?: Fixes & {
    /** The history pattern (L=layer, E=empty_layer) BuildKit gives. */
    layers?: string;
  };
}

/** An `expected.json`: the changes against the busybox base, config fields and history pattern of the new steps. */
interface ExpectedResult {
  changes: { path: string; type: TreeEntry['type']; mode: string; uid: number; gid: number; content?: string; linkTarget?: string }[];
  removed: string[];
  config: Record<string, unknown>;
  layers?: string;
}

const fixtureNames = await listFixtures(FIXTURES);

let work: string;
let single: BusyboxLayout;
let multi: BusyboxLayout;
let baseTree: TreeEntry[];
let baseConfig: ImageConfigJson;

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-differential-'));
  single = await buildBusyboxLayout(path.join(work, 'base-single'));
  multi = await buildBusyboxLayout(path.join(work, 'base-multi'), { platforms: ['linux/amd64', 'linux/arm64'] });
  baseTree = await readTree((await unpackImage(single.layoutPath, single.tag, path.join(work, 'base-bundle'))).rootfs);
  baseConfig = await readImageConfig(single.layoutPath, single.tag);
});

after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** Builds a prepared fixture with ocibuild into `oci:DIR:latest`; returns the layout dir. */
async function buildWithOcibuild(context: string, spec: CaseSpec, base: BusyboxLayout, out: string): Promise<string> {
  const file = path.join(context, spec.dockerfile ?? 'Dockerfile');
  await buildImage({
    dockerfile: { text: await fs.readFile(file, 'utf8'), file },
    context,
    buildArgs: { ...spec.buildArgs, BASE: `oci:${base.layoutPath}:${base.tag}` },
    ...(spec.target !== undefined ? { target: spec.target } : {}),
    ...(spec.platform !== undefined ? { platforms: [spec.platform] } : {}),
    to: `oci:${out}:latest`,
  });
  return out;
}

/** Turns `expected.json` into a full tree and config over the busybox base. */
function expectedImage(expected: ExpectedResult): ImageResult {
  const byPath = new Map(baseTree.map((e) => [e.path, e]));
  for (const p of expected.removed) byPath.delete(p);
  for (const c of expected.changes) {
    const entry: TreeEntry = { path: c.path, type: c.type, mode: parseInt(c.mode, 8), uid: c.uid, gid: c.gid, size: 0, mtime: 0 };
    if (c.content !== undefined) Object.assign(entry, contentFields(c.content));
    if (c.linkTarget !== undefined) entry.linkTarget = c.linkTarget;
    if (c.type === 'symlink') entry.mode = 0o777;
    byPath.set(c.path, entry);
  }
  return { tree: sortByPath([...byPath.values()]), config: { ...baseConfig, config: { ...baseConfig.config, ...expected.config } } };
}

const slot = limiter(2);

describe('Dockerfile differential tests against buildah bud', { concurrency: 2 }, () => {
  for (const name of fixtureNames) {
    it(name, async (t) => {
      const spec = await readCaseSpec<CaseSpec>(FIXTURES, name);
      const reference = spec.reference ?? 'buildah';
      if (reference === 'buildah' && !buildahAvailable()) {
        t.skip('buildah is not installed: no reference build');
        return;
      }
      const dir = path.join(work, name);
      const context = path.join(dir, 'context');
      await prepareContext(FIXTURES, name, context, spec);
      const base = spec.base === 'multi' ? multi : single;
      let expected: ImageResult;
      let expectedLayers: string | undefined;
      if (reference === 'buildah') {
        const result = await slot(() =>
          cachedBuildahBuild({
            workRoot: dir,
            contextDir: context,
            ...(spec.dockerfile !== undefined ? { dockerfile: spec.dockerfile } : {}),
            ...(spec.buildArgs !== undefined ? { buildArgs: spec.buildArgs } : {}),
            ...(spec.target !== undefined ? { target: spec.target } : {}),
            ...(spec.platform !== undefined ? { platform: spec.platform } : {}),
            baseLayout: base,
          }),
        );
        expected = await readReference(dir, result, spec.fixes);
        // Fixes change config fields only, never the history.
        expectedLayers = spec.fixes?.layers ?? historyPattern(expected.config);
      } else {
        const expectedJson = JSON.parse(await fs.readFile(path.join(FIXTURES, name, 'expected.json'), 'utf8')) as ExpectedResult;
        expected = expectedImage(expectedJson);
        expectedLayers = expectedJson.layers === undefined ? undefined : 'L' + expectedJson.layers;
      }
      const out = await slot(() => buildWithOcibuild(context, spec, base, path.join(dir, 'ocibuild')));
      const actual = await readOcibuild(dir, out, spec.platform);
      const labels: [string, string] = [reference === 'buildah' ? 'buildah' : 'expected', 'ocibuild'];
      const problems = compareImages(expected, actual, labels);
      if (expectedLayers !== undefined) {
        const pattern = historyPattern(actual.config);
        if (pattern !== expectedLayers) problems.push(`history pattern (L=layer, E=empty_layer): ${labels[0]}=${expectedLayers} ocibuild=${pattern}`);
        problems.push(...diffLayerPattern(actual.config, actual.config, ['ocibuild', 'ocibuild']));
      }
      if (reference === 'expected') t.diagnostic(`reference: expected.json (${spec.why ?? 'no reason given'})`);
      if (spec.fixes) t.diagnostic(`buildah result corrected: ${spec.fixes.why}`);
      assertSame(name, labels[0], problems);
    });
  }
});

/** Writes a context and expects ocibuild to reject it naming the Dockerfile and `line` (0: no line), writing nothing. */
async function expectRejected(files: Record<string, string>, line: number, pattern: RegExp, extra: { target?: string } = {}): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-differential-error-'));
  try {
    const context = path.join(dir, 'context');
    await fs.mkdir(context);
    for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(context, name), text);
    const file = path.join(context, 'Dockerfile');
    const out = path.join(dir, 'out');
    const build = buildImage({ dockerfile: { text: files.Dockerfile ?? '', file }, context, ...extra, to: `oci:${out}:latest` });
    await assertRejected(build, pattern, line > 0 ? line : undefined, out);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('Dockerfile errors name file and line and write nothing', () => {
  it('unknown instruction', () => expectRejected({ Dockerfile: 'FROM scratch\nFROBNICATE now\n' }, 2, /frobnicate/i));
  it('bad flag', () => expectRejected({ Dockerfile: 'FROM scratch\nCOPY --nope=1 a.txt /a\n', 'a.txt': 'a' }, 2, /nope/));
  it('missing stage index', () => expectRejected({ Dockerfile: 'FROM scratch\nCOPY --from=3 /a /a\n' }, 2, /3|stage/i));
  it('missing target stage', () => expectRejected({ Dockerfile: 'FROM scratch AS one\n' }, 0, /nothere/, { target: 'nothere' }));
  it('COPY source not found', () => expectRejected({ Dockerfile: 'FROM scratch\n\nCOPY missing.txt /m\n' }, 3, /missing\.txt/));
  it('COPY source excluded by .dockerignore', () =>
    expectRejected({ Dockerfile: 'FROM scratch\nCOPY secret.txt /s\n', 'secret.txt': 's', '.dockerignore': 'secret.txt\n' }, 2, /secret\.txt/));
  it('invalid JSON in SHELL', () => expectRejected({ Dockerfile: 'FROM scratch\nSHELL ["/bin/sh", "-c"\n' }, 2, /SHELL|JSON/i));
  it('ARG without name', () => expectRejected({ Dockerfile: 'FROM scratch\nARG\n' }, 2, /ARG/i));
});
