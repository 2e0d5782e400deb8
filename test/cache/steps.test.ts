// The local step cache through buildImage (busybox base, real RUN): a rebuild runs nothing and
// gives the same digest as a build without cache; a changed COPY source invalidates that COPY
// and what follows only; a changed build arg invalidates from its first use; a .dockerignored
// file never invalidates; another platform never shares RUN results; corrupt entries (wrong
// bytes, truncated blob, torn record) are detected, ignored and rebuilt.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, type BuildOptions, type BuildResult } from '../../src/index.ts';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let layout: BusyboxLayout;
let counter = 0;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-steps-'));
  layout = await buildBusyboxLayout(path.join(tmp, 'busybox'), { platforms: ['linux/amd64', 'linux/arm64'] });
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const DOCKERFILE = `ARG BASE
FROM \${BASE} AS build
ARG VERSION=1
WORKDIR /src
COPY app/util.js ./
COPY app/index.js ./index-\${VERSION}.js
RUN ls > list && cat util.js index-*.js > joined
COPY . /all
FROM \${BASE}
COPY --from=build /src /app
RUN wc -l /app/joined > /app/count
`;

async function context(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(path.join(dir, 'app'), { recursive: true });
  await fs.writeFile(path.join(dir, 'Dockerfile'), DOCKERFILE);
  await fs.writeFile(path.join(dir, '.dockerignore'), '*.md\n');
  await fs.writeFile(path.join(dir, 'app/index.js'), 'console.log("index");\n');
  await fs.writeFile(path.join(dir, 'app/util.js'), 'exports.x = 1;\n');
  await fs.writeFile(path.join(dir, 'README.md'), 'readme\n');
  return dir;
}

function build(dir: string, cacheDir: string | false, extra: Partial<BuildOptions> = {}): Promise<BuildResult> {
  return buildImage({
    context: dir,
    dockerfile: 'Dockerfile',
    platforms: ['linux/amd64'],
    sourceDateEpoch: 1_700_000_000,
    ...extra,
    buildArgs: { BASE: `oci:${layout.layoutPath}:${layout.tag}`, ...(extra.buildArgs ?? {}) },
    cache: cacheDir === false ? false : { dir: cacheDir },
    to: `oci:${path.join(tmp, 'out')}:t${counter++}`,
  });
}

/** `status reason` per step, in build order. */
function summary(r: BuildResult): string[] {
  return r.stats.steps.map((s) => `${s.status}${s.reason && s.status === 'miss' ? ` (${s.reason})` : ''}: ${s.instruction}`);
}

describe('local step cache', () => {
  it('a rebuild runs nothing and gives the digest of a build without cache', async () => {
    const dir = await context('same');
    const cache = path.join(tmp, 'cache-same');
    const first = await build(dir, cache);
    assert.equal(first.stats.runsExecuted, 2);
    assert.deepEqual(first.stats.steps.map((s) => s.status), ['miss', 'miss', 'miss', 'miss', 'miss', 'miss', 'miss']);
    assert.ok(first.stats.steps.every((s) => s.reason === 'no record for key'), summary(first).join('\n'));
    const second = await build(dir, cache);
    assert.equal(second.digest, first.digest);
    assert.equal(second.stats.runsExecuted, 0);
    assert.equal(second.stats.layersBuilt, 0, 'no layer written or compressed');
    assert.equal(second.stats.stepsCached, 7);
    assert.ok(second.stats.steps.every((s) => s.status === 'hit' && s.source === 'local'));
    const uncached = await build(dir, false);
    assert.equal(uncached.digest, first.digest, 'cached results are the ones a full build makes');
  });

  it('a changed COPY source invalidates that COPY and what follows, and the result is right', async () => {
    const dir = await context('source');
    const cache = path.join(tmp, 'cache-source');
    await build(dir, cache);
    await fs.writeFile(path.join(dir, 'app/index.js'), 'console.log("changed");\nconsole.log("two lines");\n');
    const r = await build(dir, cache);
    assert.deepEqual(summary(r), [
      'hit: WORKDIR /src',
      'hit: COPY app/util.js ./',
      'miss (source app/index.js changed): COPY app/index.js ./index-${VERSION}.js',
      'miss (previous step changed): RUN ls > list && cat util.js index-*.js > joined',
      'miss (source app/index.js changed): COPY . /all',
      'miss (stage build changed): COPY --from=build /src /app',
      'miss (previous step changed): RUN wc -l /app/joined > /app/count',
    ]);
    assert.equal(r.stats.runsExecuted, 2);
    assert.equal((await build(dir, false)).digest, r.digest, 'same image as a build without cache');
  });

  it('a changed build arg invalidates from its first use only', async () => {
    const dir = await context('arg');
    const cache = path.join(tmp, 'cache-arg');
    await build(dir, cache);
    const r = await build(dir, cache, { buildArgs: { VERSION: '2' } });
    assert.deepEqual(r.stats.steps.slice(0, 3).map((s) => `${s.status} ${s.reason ?? ''}`.trim()), ['hit', 'hit', 'miss build arg VERSION changed']);
    assert.ok(r.stats.steps.slice(3).every((s) => s.status === 'miss'));
    const again = await build(dir, cache, { buildArgs: { VERSION: '2' } });
    assert.equal(again.digest, r.digest);
    assert.equal(again.stats.runsExecuted, 0);
  });

  it('a file excluded by .dockerignore never invalidates', async () => {
    const dir = await context('ignored');
    const cache = path.join(tmp, 'cache-ignored');
    const first = await build(dir, cache);
    await fs.writeFile(path.join(dir, 'README.md'), 'a new readme\n');
    await fs.writeFile(path.join(dir, 'NOTES.md'), 'new file\n');
    const r = await build(dir, cache);
    assert.equal(r.digest, first.digest);
    assert.equal(r.stats.stepsCached, 7);
    // mtime alone never invalidates either.
    await fs.utimes(path.join(dir, 'app/util.js'), new Date(), new Date(Date.now() - 86_400_000));
    assert.equal((await build(dir, cache)).stats.stepsCached, 7);
  });

  it('another platform never shares RUN results', async () => {
    const dir = await context('platform');
    const cache = path.join(tmp, 'cache-platform');
    const amd = await build(dir, cache);
    const arm = await build(dir, cache, { platforms: ['linux/arm64'] });
    assert.equal(arm.stats.runsExecuted, 2);
    // Both lists are checked non-empty first: `every` over an empty list proves nothing.
    assert.deepEqual(arm.stats.steps.map((s) => s.status), ['miss', 'miss', 'miss', 'miss', 'miss', 'miss', 'miss']);
    const keys = (r: BuildResult) => r.stats.steps.map((s) => s.key);
    assert.equal(keys(amd).length, 7);
    assert.ok(keys(arm).every((k) => typeof k === 'string' && k !== ''), 'every step has a key');
    assert.deepEqual(keys(arm).filter((k) => keys(amd).includes(k)), [], 'no key shared across platforms');
    const both = await build(dir, cache, { platforms: ['linux/amd64', 'linux/arm64'] });
    assert.equal(both.stats.runsExecuted, 0);
    assert.equal(both.stats.stepsCached, 14);
  });

  it('corrupt entries are detected, ignored and rebuilt', async () => {
    const dir = await context('corrupt');
    const cache = path.join(tmp, 'cache-corrupt');
    const first = await build(dir, cache);
    const records = path.join(cache, 'steps');
    const layers: { key: string; digest: string; size: number }[] = [];
    for (const name of await fs.readdir(records)) {
      const record = JSON.parse(await fs.readFile(path.join(records, name), 'utf8')) as { key: string; layer?: { descriptor: { digest: string; size: number } } };
      if (record.layer) layers.push({ key: record.key, ...record.layer.descriptor });
    }
    const first3 = first.stats.steps.slice(1, 4);
    const byKey = (key: string | undefined) => layers.find((l) => l.key === key) as (typeof layers)[number];
    const blob = (digest: string) => path.join(cache, 'blobs', 'sha256', digest.slice(7));
    // Wrong bytes of the same size; a truncated blob; a record that is not JSON.
    const wrong = byKey(first3[0]?.key);
    const truncated = byKey(first3[1]?.key);
    const bytes = await fs.readFile(blob(wrong.digest));
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await fs.writeFile(blob(wrong.digest), bytes);
    await fs.truncate(blob(truncated.digest), Math.floor(truncated.size / 2));
    await fs.writeFile(path.join(records, `${first3[2]?.key}.json`), '{"schema":');
    const r = await build(dir, cache);
    assert.equal(r.digest, first.digest, 'rebuilt to the same image, corrupt bytes never used');
    const [s1, s2, s3] = r.stats.steps.slice(1, 4);
    assert.equal(s1?.status, 'miss');
    assert.match(s1?.reason ?? '', /corrupt/);
    assert.equal(s2?.status, 'miss');
    assert.match(s2?.reason ?? '', /corrupt/);
    assert.equal(s3?.status, 'miss');
    // The rebuilt entries are whole again.
    const again = await build(dir, cache);
    assert.equal(again.stats.stepsCached, 7);
    assert.equal(again.digest, first.digest);
  });

  it('a COPY hit followed by a RUN miss runs on the right files', async () => {
    const dir = await context('rootfs');
    const cache = path.join(tmp, 'cache-rootfs');
    await build(dir, cache);
    // Same COPY inputs, a different RUN: the rootfs must be made from the cached COPY layers.
    await fs.writeFile(path.join(dir, 'Dockerfile'), DOCKERFILE.replace('cat util.js index-*.js > joined', 'cat util.js index-*.js > joined && cp joined /check'));
    const r = await build(dir, cache);
    assert.deepEqual(r.stats.steps.slice(0, 4).map((s) => s.status), ['hit', 'hit', 'hit', 'miss']);
    assert.equal(r.stats.steps[3]?.reason, 'instruction changed');
    const reference = await build(dir, false);
    assert.equal(r.digest, reference.digest);
  });
});
