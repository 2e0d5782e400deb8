/**
 * Multi-stage builds: ARG scoping, target selection, unused stages skipped, COPY --from by
 * name, index and image, ONBUILD triggers, RUN rejected before any work, reproducibility.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { DockerfileError, UnsupportedError } from '../../src/errors.ts';
import { parseInstructions } from '../../src/dockerfile/index.ts';
import { planStages } from '../../src/dockerfile/stages.ts';
import { busyboxRef, cleanupBusybox, interpret } from './interpret-harness.ts';

after(cleanupBusybox);

const amd64 = { os: 'linux', architecture: 'amd64' };

describe('stage graph', () => {
  it('builds only what the target needs, dependencies first', () => {
    const text = 'FROM scratch AS a\nFROM scratch AS unused\nFROM a AS b\nCOPY --from=0 /x /y\nFROM scratch AS c\nCOPY --from=b /y /z\n';
    const graph = planStages(parseInstructions(text), { targetPlatform: amd64 });
    assert.deepEqual(graph.order, [0, 2, 3]);
    assert.deepEqual(planStages(parseInstructions(text), { targetPlatform: amd64, target: 'B' }).order, [0, 2]);
    assert.equal(graph.stages[2]?.base.kind, 'stage');
  });

  it('a stage used only by RUN --mount=from= is built before the stage that mounts it', () => {
    const text = 'FROM scratch AS tools\nFROM scratch AS skipped\nFROM scratch\nRUN --mount=type=bind,from=tools,target=/t true\nRUN --mount=from=1,target=/s,type=bind true\n';
    assert.deepEqual(planStages(parseInstructions(text), { targetPlatform: amd64 }).order, [0, 1, 2]);
    const image = 'FROM scratch\nRUN --mount=type=bind,from=busybox:latest,target=/b true\n';
    assert.deepEqual(planStages(parseInstructions(image), { targetPlatform: amd64 }).order, [0]);
  });

  it('global ARGs (and predefined platform ARGs) are usable in FROM', () => {
    const text = 'ARG IMG=scr\nARG TAG=atch\nFROM ${IMG}${TAG}\nFROM --platform=$BUILDPLATFORM scratch AS b\n';
    const graph = planStages(parseInstructions(text), { targetPlatform: { os: 'linux', architecture: 'arm64' }, buildPlatform: amd64 });
    assert.equal(graph.stages[0]?.base.kind, 'scratch');
    assert.deepEqual(graph.stages[1]?.platform, amd64);
    assert.equal(graph.globalArgs.get('TARGETARCH'), 'arm64');
    const image = planStages(parseInstructions('ARG B=x/y:1\nFROM $B\n'), { targetPlatform: amd64, buildArgs: { B: 'reg/img:2' } });
    assert.deepEqual(image.stages[0]?.base, { kind: 'image', reference: 'reg/img:2' });
  });

  it('rejects --from with variables, later stages, bad indexes', () => {
    for (const [text, message] of [
      ['FROM scratch\nCOPY --from=$X /a /b\n', /variable expansion is not supported for --from/],
      ['FROM scratch AS a\nCOPY --from=b /a /b\nFROM scratch AS b\n', /needs to be defined before/],
      ['FROM scratch\nCOPY --from=3 /a /b\n', /invalid stage index 3/],
    ] as const) {
      assert.throws(() => planStages(parseInstructions(text), { targetPlatform: amd64 }), (e: unknown) => e instanceof DockerfileError && e.line === 2 && message.test(e.message));
    }
  });
});

describe('ARG scoping', () => {
  it('global ARGs need redeclaring; build args override; ENV wins over ARG', async () => {
    const text = [
      'ARG GLOBAL=global-default',
      'ARG OVERRIDDEN=default',
      'ARG UNUSED=hidden',
      'FROM scratch',
      'ENV SEEN_UNUSED="${UNUSED:-not-visible}"',
      'ARG GLOBAL',
      'ARG OVERRIDDEN',
      'ARG LOCAL=local-default',
      'ARG TARGETARCH',
      'ENV G=$GLOBAL O=$OVERRIDDEN L=$LOCAL A=$TARGETARCH N=${BUILDARCH:-undeclared}',
      'ENV SHADOW=from-env',
      'ARG SHADOW=from-arg',
      'LABEL shadow=$SHADOW',
      'ARG NOT_PASSED',
      'LABEL not_passed="${NOT_PASSED:-unset}" proxy="${HTTP_PROXY:-none}"',
    ].join('\n');
    const r = await interpret(text, { buildArgs: { OVERRIDDEN: 'from-build-arg', SHADOW: 'ba', HTTP_PROXY: 'http://proxy' }, platform: 'linux/arm64' });
    const env = r.config.config?.Env ?? [];
    for (const e of ['SEEN_UNUSED=not-visible', 'G=global-default', 'O=from-build-arg', 'L=local-default', 'A=arm64', 'N=undeclared', 'SHADOW=from-env']) {
      assert.ok(env.includes(e), `${e} in ${env.join(' ')}`);
    }
    assert.deepEqual(r.config.config?.Labels, { shadow: 'from-env', not_passed: 'unset', proxy: 'none' });
    assert.ok(!env.some((e) => e.startsWith('GLOBAL=') || e.startsWith('LOCAL=')), 'ARGs do not persist in the config');
    assert.ok(!r.history.some((h) => h.createdBy.includes('http://proxy') || h.createdBy.includes('HTTP_PROXY=')), 'proxy args stay out of history');
    assert.equal(r.config.architecture, 'arm64');
  });

  it('ARG TARGETSTAGE names the stage the build ends with (BuildKit testTargetStageNameArg)', async () => {
    const stages = (last: string) => `FROM scratch AS foo\nARG TARGETSTAGE\nENV first=$TARGETSTAGE\nFROM scratch${last}\nARG TARGETSTAGE\nENV second=$TARGETSTAGE\n`;
    const env = async (text: string, target?: string) => (await interpret(text, target !== undefined ? { target } : {})).config.config?.Env ?? [];
    assert.ok((await env(stages(''), 'foo')).includes('first=foo'));
    assert.ok((await env(stages(''))).includes('second=default'));
    assert.ok((await env(stages(' AS final'))).includes('second=final'));
    assert.ok(!(await env('FROM scratch\nENV x=${TARGETSTAGE:-undeclared}\n')).includes('x=default'), 'only after ARG TARGETSTAGE');
  });
});

describe('multi-stage', () => {
  it('COPY --from by name, index, scratch stage; owners kept; symlink sources followed', async () => {
    const base = await busyboxRef();
    const r = await interpret(
      [
        `FROM ${base} AS builder`,
        'COPY src/ /build/',
        'COPY --chown=1000:1000 owned.txt /build/owned.txt',
        'FROM scratch AS empty-first',
        'COPY src/one.txt /one.txt',
        'FROM scratch AS unused',
        'COPY does-not-exist /x',
        `FROM ${base}`,
        'COPY --from=builder /build /from-builder',
        'COPY --from=0 /build/one.txt /from-index.txt',
        'COPY --from=empty-first /one.txt /from-scratch-stage.txt',
        'COPY --from=builder /build/owned.txt /owned-copy.txt',
        'COPY --from=builder /bin/sh /sh-copy',
        'COPY --from=builder /etc/pass* /etc-copy/',
        `COPY --from=${base} /etc/group /group-from-image`,
      ].join('\n'),
      { files: { 'src/one.txt': '1', 'src/two/three.txt': '3', 'owned.txt': 'o' } },
    );
    const get = (p: string) => {
      const e = r.merged.get(p);
      assert.ok(e, `${p} missing`);
      return e;
    };
    assert.equal(get('from-builder/one.txt').content, '1');
    assert.equal(get('from-builder/two/three.txt').content, '3');
    assert.equal(get('from-index.txt').content, '1');
    assert.equal(get('from-scratch-stage.txt').content, '1');
    assert.deepEqual([get('owned-copy.txt').uid, get('owned-copy.txt').gid], [1000, 1000]);
    assert.equal(get('sh-copy').type, 'file', 'the /bin/sh symlink is followed');
    assert.ok((get('sh-copy').content ?? '').length > 100000, 'busybox binary copied');
    assert.match(get('etc-copy/passwd').content ?? '', /^root:/);
    assert.match(get('group-from-image').content ?? '', /nogroup/);
    assert.equal(r.layers.length, 7, 'only the target stage layers are in the image');
    assert.equal(r.config.rootfs.diff_ids.length, 8);
  });

  it('reads files of upper layers without decompressing the base', async () => {
    const r = await interpret(`FROM ${await busyboxRef()} AS b\nCOPY --link a.txt /a.txt\nFROM scratch\nCOPY --from=b /a.txt /copy.txt\n`, { files: { 'a.txt': 'A' } });
    assert.equal(r.merged.get('copy.txt')?.content, 'A');
    // --link needs no look at the base, and /a.txt is found in the stage's own layer: the base is never read.
    assert.equal(r.indexReads, 1);
  });

  it('a stage based on a stage continues its layers and config; ONBUILD triggers run in the child', async () => {
    const base = await busyboxRef();
    const r = await interpret(
      [`FROM ${base} AS template`, 'ONBUILD COPY trigger.txt /triggered/', 'ONBUILD LABEL triggered=yes', 'LABEL template=yes', 'ENV T=1', 'FROM template', 'COPY own.txt /own.txt', 'ONBUILD COPY next.txt /next/'].join('\n'),
      { files: { 'trigger.txt': 't', 'own.txt': 'o', 'next.txt': 'n' } },
    );
    assert.equal(r.merged.get('triggered/trigger.txt')?.content, 't');
    assert.equal(r.merged.has('next/next.txt'), false, 'own triggers are only stored');
    assert.deepEqual(r.config.config?.Labels, { template: 'yes', triggered: 'yes' });
    assert.deepEqual(r.config.config?.OnBuild, ['COPY next.txt /next/']);
    assert.ok(r.config.config?.Env?.includes('T=1'));
    assert.deepEqual(
      r.history.map((h) => h.createdBy),
      ['LABEL template=yes', 'ENV T=1', 'COPY trigger.txt /triggered/ # buildkit', 'LABEL triggered=yes', 'COPY own.txt /own.txt # buildkit'],
    );
  });

  it('runs ONBUILD triggers stored in a base image config', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-onbuild-'));
    try {
      // Make an image with OnBuild by writing the first build into an OCI layout by hand.
      const { ociLayout } = await import('../../src/transports/oci-layout.ts');
      const { assembleImage } = await import('../../src/pipeline/assemble.ts');
      const { memorySource } = await import('../../src/image/memory.ts');
      const { copyImage } = await import('../../src/image/copy.ts');
      const first = await interpret('FROM scratch\nONBUILD LABEL from-trigger=1\nONBUILD ENV X=2\n');
      const source = memorySource();
      const img = assembleImage({ base: first.state.root.image as never, baseName: undefined, baseDigest: undefined, config: first.state.config, steps: first.state.steps, format: 'oci', created: 0 }, source);
      await copyImage(source, img.rawManifest.digest, ociLayout(path.join(tmp, 'layout')), ['v1']);
      const r = await interpret(`FROM oci:${path.join(tmp, 'layout')}:v1\nLABEL own=1\n`);
      assert.deepEqual(r.config.config?.Labels, { 'from-trigger': '1', own: '1' });
      assert.ok(r.config.config?.Env?.includes('X=2'));
      assert.equal(r.config.config?.OnBuild, undefined, 'triggers are consumed');
      // A trigger may read a stage nothing else needs: it is built (BuildKit testOnBuildNewDeps).
      const withDeps = await interpret('FROM scratch\nONBUILD COPY --from=otherstage /testfile /out/foo\n');
      const image2 = assembleImage({ base: withDeps.state.root.image as never, baseName: undefined, baseDigest: undefined, config: withDeps.state.config, steps: withDeps.state.steps, format: 'oci', created: 0 }, source);
      await copyImage(source, image2.rawManifest.digest, ociLayout(path.join(tmp, 'layout')), ['deps']);
      const built = await interpret(`FROM scratch AS otherstage\nCOPY testfile /testfile\nFROM oci:${path.join(tmp, 'layout')}:deps AS inputstage\nFROM scratch\nCOPY --from=inputstage /out/foo /bar\n`, { files: { testfile: 'hello' } });
      assert.equal(built.merged.get('bar')?.content, 'hello');
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

  it('a missing stage in FROM is an image reference; --target selects a stage', async () => {
    const r = await interpret('FROM scratch AS one\nLABEL stage=one\nFROM scratch AS two\nLABEL stage=two\n', { target: 'one' });
    assert.deepEqual(r.config.config?.Labels, { stage: 'one' });
  });
});

describe('RUN before any work', () => {
  it('throws UnsupportedError naming file and line, even in a dependency stage and in ONBUILD', async () => {
    for (const [text, line] of [
      ['FROM scratch AS a\nCOPY x /x\nRUN echo hi\nFROM scratch\nCOPY --from=a /x /y\n', 3],
      ['FROM scratch AS a\nONBUILD RUN echo\nFROM a\n', 2],
    ] as const) {
      await assert.rejects(interpret(text, { files: { x: 'x' }, file: 'Dockerfile.run' }), (e: unknown) => {
        assert.ok(e instanceof UnsupportedError, String(e));
        assert.match(e.message, new RegExp(`^Dockerfile\\.run:${line}: RUN is not supported`));
        return true;
      });
    }
    // A RUN in a stage the target does not need is fine.
    const r = await interpret('FROM scratch AS skipped\nRUN echo\nFROM scratch\nLABEL ok=1\n');
    assert.deepEqual(r.config.config?.Labels, { ok: '1' });
  });
});

describe('reproducibility', () => {
  it('the same Dockerfile and context give the same digest', async () => {
    const text = `FROM ${await busyboxRef()}\nCOPY . /app/\nWORKDIR /app\nENV A=1\nCMD ["x"]\n`;
    const files = { 'a.txt': 'A', 'dir/b.txt': 'B' };
    const one = await interpret(text, { files, created: 1234 });
    const two = await interpret(text, { files, created: 1234 });
    assert.equal(one.digest, two.digest);
    const other = await interpret(text, { files: { ...files, 'a.txt': 'changed' }, created: 1234 });
    assert.notEqual(one.digest, other.digest);
  });
});
