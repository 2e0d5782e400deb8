/**
 * Named build contexts (issue 11; buildx `--build-context`, BuildKit's
 * dockerfile_namedcontext_test.go): a directory, an OCI layout and a registry image given by
 * name, read by `FROM name`, `COPY --from=name` and `RUN --mount=from=name`, through
 * `buildImage` on the busybox base and a real registry on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { OcibuildError, UnsupportedError } from '../../src/errors.ts';
import { lookupNamedContext, namedContextKey, parseNamedContext } from '../../src/dockerfile/contexts.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxRef, cleanupBusybox } from './interpret-harness.ts';
import { readImage } from './run-helpers.ts';

let dir: string;
let registry: TestRegistry;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-named-contexts-'));
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await fs.rm(dir, { recursive: true, force: true });
  await cleanupBusybox();
});

function files(image: Awaited<ReturnType<typeof readImage>>): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const layer of image.layers) for (const m of layer.members) out.set(m.path, m.content);
  return out;
}

describe('named context values', () => {
  it('parses directories, oci-layout:// and docker-image://, refusing git and http', () => {
    assert.deepEqual(parseNamedContext('sub/dir', '/base'), { kind: 'dir', dir: '/base/sub/dir' });
    assert.deepEqual(parseNamedContext('oci-layout:///l/app:v1'), { kind: 'image', reference: 'oci:/l/app:v1' });
    assert.deepEqual(parseNamedContext('oci-layout://rel', '/b'), { kind: 'image', reference: 'oci:/b/rel:latest' });
    assert.deepEqual(parseNamedContext(`oci-layout:///l/app@sha256:${'a'.repeat(64)}`), { kind: 'image', reference: `oci:/l/app:sha256:${'a'.repeat(64)}` });
    assert.deepEqual(parseNamedContext('docker-image://127.0.0.1:5000/a/b:2'), { kind: 'image', reference: '127.0.0.1:5000/a/b:2' });
    assert.throws(() => parseNamedContext('https://github.com/o/r.git'), UnsupportedError);
    assert.throws(() => parseNamedContext('foo://x'), OcibuildError);
    assert.throws(() => parseNamedContext(''), OcibuildError);
  });

  it('matches image names in their familiar form', () => {
    assert.equal(namedContextKey('docker.io/library/alpine:latest'), 'alpine');
    assert.equal(namedContextKey('Alpine'), 'alpine');
    assert.equal(namedContextKey('alpine:3.18'), 'alpine:3.18');
    const map = new Map([['alpine', { kind: 'dir' as const, dir: '/x' }]]);
    assert.equal(lookupNamedContext(map, 'docker.io/library/alpine')?.kind, 'dir');
    assert.equal(lookupNamedContext(map, 'alpine:3.18'), undefined);
  });
});

describe('named contexts in builds', () => {
  it('a directory context serves COPY --from, RUN --mount=from and FROM', async () => {
    const base = await busyboxRef();
    const extra = path.join(dir, 'extra');
    await fs.mkdir(path.join(extra, 'sub'), { recursive: true });
    await fs.writeFile(path.join(extra, 'sub', 'f'), 'from extra\n');
    const context = path.join(dir, 'ctx1');
    await fs.mkdir(context);
    const out = path.join(dir, 'out1');
    await buildImage({
      dockerfile: { text: `FROM ${base}\nCOPY --from=extra /sub/f /copied\nRUN --mount=from=extra,source=sub,target=/m cat /m/f > /mounted\n` },
      context,
      contexts: { extra },
      to: `oci:${out}:latest`,
    });
    const got = files(await readImage(out));
    assert.equal(got.get('copied'), 'from extra\n');
    assert.equal(got.get('mounted'), 'from extra\n');
    // FROM a directory context: its files are the stage's root file system (its .dockerignore applied).
    await fs.writeFile(path.join(extra, '.dockerignore'), 'ignored\n');
    await fs.writeFile(path.join(extra, 'ignored'), 'no');
    const fromDir = path.join(dir, 'from-dir');
    await buildImage({ dockerfile: { text: `FROM extra\nCOPY <<EOF /added\nadded\nEOF\n` }, context, contexts: { extra }, to: `oci:${fromDir}:latest` });
    const image = await readImage(fromDir);
    const got2 = files(image);
    assert.equal(got2.get('sub/f'), 'from extra\n');
    assert.equal(got2.get('added'), 'added\n');
    assert.ok(!got2.has('ignored'));
    assert.equal(image.layers.length, 2, 'one layer for the context, one for COPY');
  });

  it('an oci-layout context replaces FROM alpine, and a docker-image context serves COPY --from and replaces a stage of its name', async () => {
    const base = await busyboxRef();
    const context = path.join(dir, 'ctx2');
    await fs.mkdir(context);
    const layout = path.join(dir, 'layout');
    await buildImage({ dockerfile: { text: `FROM ${base}\nRUN echo layout > /marker\n` }, context, to: `oci:${layout}:v1` });
    const pushed = `${registry.host}/ctx/image:1`;
    await buildImage({ dockerfile: { text: 'FROM scratch\nCOPY <<EOF /from-registry\nregistry\nEOF\n' }, context, to: pushed });

    const out = path.join(dir, 'out2');
    await buildImage({
      dockerfile: {
        text: [
          'FROM docker.io/library/alpine:latest',
          'COPY --from=img /from-registry /r',
          'RUN --mount=from=img,target=/i cat /i/from-registry > /mounted',
          'FROM scratch AS other',
          'COPY <<EOF /s',
          'stage',
          'EOF',
          'FROM alpine',
          'COPY --from=other /from-registry /s',
        ].join('\n'),
      },
      context,
      contexts: { alpine: `oci-layout://${layout}:v1`, img: `docker-image://${pushed}`, other: `docker-image://${pushed}` },
      to: `oci:${out}:latest`,
    });
    const got = files(await readImage(out));
    assert.equal(got.get('marker'), 'layout\n', 'the base is the layout image');
    assert.equal(got.get('s'), 'registry\n', 'a context named like a stage replaces the stage');
    const first = path.join(dir, 'out3');
    await buildImage({
      dockerfile: { text: 'FROM docker.io/library/alpine:latest\nCOPY --from=img /from-registry /r\nRUN --mount=from=img,target=/i cat /i/from-registry > /mounted\n' },
      context,
      contexts: { alpine: `oci-layout://${layout}:v1`, img: `docker-image://${pushed}` },
      to: `oci:${first}:latest`,
    });
    const third = files(await readImage(first));
    assert.equal(third.get('r'), 'registry\n');
    assert.equal(third.get('mounted'), 'registry\n');
  });
});

describe('named contexts replacing stages (testNamedImageContext, testNamedLocalContext, testNamedOCILayoutContext, testNamedImageContextScratch)', () => {
  it('a context named like a stage replaces it: its instructions do not run', async () => {
    const base = await busyboxRef();
    const context = path.join(dir, 'ctx3');
    await fs.mkdir(context);
    const layout = path.join(dir, 'layout-env');
    await buildImage({ dockerfile: { text: `FROM ${base}\nWORKDIR /test\nRUN echo -n first > out && echo -n second > out2\nENV foo=bar\n` }, context, to: `oci:${layout}:latest` });
    const out = path.join(dir, 'out4');
    await buildImage({
      dockerfile: {
        text: [
          `FROM ${base} AS parent`,
          'FROM parent AS base',
          'RUN echo base > /out',
          'FROM foo AS imported',
          'RUN echo -n $foo > outfoo',
          'FROM base',
          'RUN [ ! -f /out ] && [ -f /test/out ]',
          'COPY --from=base /test/o* /copied/',
          'COPY --from=imported /test/outfoo /',
        ].join('\n'),
      },
      context,
      contexts: { base: `oci-layout://${layout}`, foo: `oci-layout://${layout}:latest` },
      to: `oci:${out}:latest`,
    });
    const got = files(await readImage(out));
    assert.ok(!got.has('out'), 'the replaced stage did not run');
    assert.equal(got.get('copied/out'), 'first');
    assert.equal(got.get('copied/out2'), 'second');
    assert.equal(got.get('outfoo'), 'bar', "the context image's ENV applies in the stage FROM it");
  });

  it('a directory context replacing a stage is read with its own .dockerignore; docker-image://scratch is empty', async () => {
    const base = await busyboxRef();
    const context = path.join(dir, 'ctx4');
    await fs.mkdir(context);
    const basedir = path.join(dir, 'basedir');
    await fs.mkdir(basedir);
    await fs.writeFile(path.join(basedir, 'out'), 'dummy-result');
    await fs.writeFile(path.join(basedir, 'out2'), 'dummy-result');
    await fs.writeFile(path.join(basedir, '.dockerignore'), 'out2\n');
    const out = path.join(dir, 'out5');
    await buildImage({
      dockerfile: { text: `FROM ${base} AS base\nRUN echo never > /out\nFROM busybox AS build\nCOPY <<EOF /hello\nhello world!\nEOF\nFROM scratch\nCOPY --from=base /o* /\nCOPY --from=build / /build/\n` },
      context,
      contexts: { base: basedir, busybox: 'docker-image://scratch' },
      to: `oci:${out}:latest`,
    });
    const got = files(await readImage(out));
    assert.equal(got.get('out'), 'dummy-result');
    assert.ok(!got.has('out2'), 'excluded by the context directory .dockerignore');
    assert.deepEqual([...got.keys()].filter((k) => k.startsWith('build/') && got.get(k) !== undefined), ['build/hello'], 'the scratch context has nothing else');
  });
});

describe('ocibuild build --build-context', () => {
  it('passes NAME=VALUE contexts to the build and refuses a value without a name', async () => {
    const { spawnSync } = await import('node:child_process');
    const main = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
    const context = path.join(dir, 'ctx-cli');
    const extra = path.join(dir, 'extra-cli');
    await fs.mkdir(context);
    await fs.mkdir(extra);
    await fs.writeFile(path.join(extra, 'f'), 'cli\n');
    await fs.writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY --from=extra /f /f\n');
    const out = path.join(dir, 'out-cli');
    const ok = spawnSync(process.execPath, ['--import', 'tsx', main, 'build', context, '--build-context', `extra=${extra}`, '--to', `oci:${out}:latest`, '--quiet'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(files(await readImage(out)).get('f'), 'cli\n');
    const bad = spawnSync(process.execPath, ['--import', 'tsx', main, 'build', context, '--build-context', `=${extra}`, '--to', `oci:${out}:latest`], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--build-context expects KEY=VALUE/);
  });
});
