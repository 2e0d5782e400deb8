/**
 * Issue 11: stage names, ONBUILD here-documents and `RUN --mount=from=$X`, checked with the
 * assertions of BuildKit's tests (testOnBuildHeredoc, testMountFromError) and its
 * DuplicateStageName lint rule.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { DockerfileError } from '../../src/errors.ts';
import { parseInstructions } from '../../src/dockerfile/index.ts';
import { parseTriggers } from '../../src/dockerfile/interpret.ts';
import { planStages } from '../../src/dockerfile/stages.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { busyboxRef, cleanupBusybox, interpret } from './interpret-harness.ts';
import { readImage } from './run-helpers.ts';

after(cleanupBusybox);

const platform = parsePlatform('linux/amd64');

describe('duplicate stage names (defect 8)', () => {
  const text = [
    'FROM scratch AS base',
    'COPY a.txt /a',
    'FROM base AS one',
    'FROM scratch AS Base',
    'COPY b.txt /b',
    'FROM base',
    'COPY --from=one /a /from-one',
    'COPY --from=base /b /from-base',
  ].join('\n');

  it('warns with BuildKit rule DuplicateStageName instead of failing', () => {
    const graph = planStages(parseInstructions(text, { file: 'Dockerfile' }), { targetPlatform: platform });
    assert.deepEqual(
      graph.warnings.map((w) => [w.rule, w.line]),
      [['DuplicateStageName', 4]],
    );
    assert.match(graph.warnings[0]?.message ?? '', /Duplicate stage name "base"/);
    assert.deepEqual(graph.stages.map((s) => (s.base.kind === 'stage' ? s.base.index : s.base.kind)), ['scratch', 0, 'scratch', 2]);
  });

  it('reports the warning once to onEvent and the build goes on', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-dup-stage-'));
    try {
      await fs.writeFile(path.join(dir, 'a.txt'), 'A');
      await fs.writeFile(path.join(dir, 'b.txt'), 'B');
      const events: unknown[] = [];
      await buildImage({ dockerfile: { text }, context: dir, platforms: ['linux/amd64', 'linux/arm64'], to: [], onEvent: (e) => events.push(e) });
      const warnings = events.filter((e) => (e as { type: string }).type === 'dockerfile-warning');
      assert.deepEqual(warnings, [{ type: 'dockerfile-warning', rule: 'DuplicateStageName', message: 'Duplicate stage name "base", stage names should be unique', file: 'Dockerfile', line: 4 }]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('references after the second definition use it; earlier ones keep the first', async () => {
    const r = await interpret(text, { files: { 'a.txt': 'A', 'b.txt': 'B' } });
    assert.equal(r.merged.get('b')?.content, 'B', 'FROM base after the redefinition is the second stage');
    assert.ok(!r.merged.has('a'));
    assert.equal(r.merged.get('from-one')?.content, 'A', 'stage one was FROM the first base');
    assert.equal(r.merged.get('from-base')?.content, 'B');
    const t = await interpret(text, { files: { 'a.txt': 'A', 'b.txt': 'B' }, target: 'base' });
    assert.equal(t.merged.get('b')?.content, 'B', '--target picks the last definition');
  });
});

describe('RUN --mount from= with a variable (defect 10, testMountFromError)', () => {
  it("is refused with BuildKit's message, defined or not", async () => {
    for (const prelude of ['ENV ttt=test', 'ARG ttt']) {
      await assert.rejects(
        interpret(`FROM scratch AS test\nFROM scratch\n${prelude}\nRUN --mount=from=$ttt,type=cache,target=/tmp ls\n`),
        (e: unknown) => e instanceof DockerfileError && e.line === 4 && e.message.includes("'from' doesn't support variable expansion, define alias stage instead"),
      );
    }
    // A `$` that starts no variable (last character) is a name like any other.
    const graph = planStages(parseInstructions('FROM scratch\nRUN --mount=from=x$,target=/m true\n', { file: 'Dockerfile' }), { targetPlatform: platform });
    assert.equal(graph.stages.length, 1);
  });
});

describe('ONBUILD with a here-document (defect 4, testOnBuildHeredoc)', () => {
  it('stores the body in OnBuild and parses it back as one RUN with its here-document', async () => {
    const r = await interpret('FROM scratch\nONBUILD RUN <<EOF\necho "hello world" >> /dest\nEOF\nONBUILD RUN <<-X cat\n\tindented\n\tX\n');
    const triggers = r.config.config?.OnBuild ?? [];
    assert.deepEqual(triggers, ['RUN <<EOF\necho "hello world" >> /dest\nEOF', 'RUN <<-X cat\n\tindented\nX']);
    const parsed = parseTriggers(triggers, { file: 'Dockerfile', line: 1 });
    assert.equal(parsed[0]?.kind, 'run');
    assert.deepEqual(parsed[0]?.kind === 'run' ? parsed[0].heredocs.map((h) => [h.name, h.content]) : [], [['EOF', 'echo "hello world" >> /dest\n']]);
    assert.deepEqual(parsed[1]?.kind === 'run' ? parsed[1].heredocs.map((h) => [h.name, h.chomp]) : [], [['X', true]]);
  });

  it('runs the trigger in a child build', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-onbuild-heredoc-'));
    try {
      const base = await busyboxRef();
      const context = path.join(dir, 'context');
      await fs.mkdir(context);
      const parent = path.join(dir, 'parent');
      await buildImage({ dockerfile: { text: `FROM ${base}\nONBUILD RUN <<EOF\necho "hello world" >> /dest\nEOF\n` }, context, to: `oci:${parent}:base` });
      const child = path.join(dir, 'child');
      await buildImage({ dockerfile: { text: `FROM oci:${parent}:base AS base\nFROM scratch\nCOPY --from=base /dest /dest\n` }, context, to: `oci:${child}:latest` });
      const image = await readImage(child);
      const dest = image.layers.flatMap((l) => l.members).find((m) => m.path === 'dest');
      assert.equal(dest?.content, 'hello world\n');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
