/**
 * Source-to-image builds (issue 19): the same scenario (scenario.ts) as root and as an
 * unprivileged user with a subordinate id range, with a builder image the tests build
 * themselves, through `buildImage({ s2i })`; the built images run in the RUN sandbox.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';
import { runS2iScenario, type BuildSeen, type S2iScenarioResult } from './scenario.ts';

const scenarioScript = path.join(import.meta.dirname, 'scenario.ts');

function member(b: BuildSeen, p: string) {
  return b.layer.find((m) => m.path === p);
}

function check(r: S2iScenarioResult): void {
  // A plain build: assemble ran as the builder's user and its image's run script prints the app.
  const { plain } = r;
  assert.equal(plain.assembleOut, 'assembling as uid 1001\n');
  assert.equal(plain.assembleErr, 'assembled build 1\n', 'stderr of assemble is passed on live');
  assert.deepEqual(plain.run, { exitCode: 0, stdout: 'app says: hello from the source (build 1, from-environment-file)\n', stderr: '' });
  assert.deepEqual(plain.cmd, ['/usr/libexec/s2i/run']);
  assert.equal(plain.user, '1001', 'the builder config is kept');
  assert.equal(plain.layerCount, 3, 'builder layers + one assemble layer');
  // .s2i/environment and --env are assemble's environment and the image's.
  assert.equal(member(plain, 'opt/app/env.txt')?.content, 'GREETING=from-environment-file EXTRA=from-flag\n');
  assert.ok(plain.env?.includes('GREETING=from-environment-file') && plain.env.includes('EXTRA=from-flag') && plain.env.includes('HOME=/opt/app'));
  // The source is copied in owned by the builder's user; .s2iignore and uncommitted files are left out.
  assert.deepEqual([member(plain, 'tmp/src/message.txt')?.uid, member(plain, 'tmp/src/message.txt')?.content], [1001, 'hello from the source']);
  assert.equal(member(plain, 'tmp/src/secret.txt'), undefined, '.s2iignore');
  assert.equal(member(plain, 'tmp/src/uncommitted.txt'), undefined, 'a Git source builds its commit');
  assert.ok(!plain.layer.some((m) => m.path.startsWith('tmp/src/.git')), '.git is excluded by default');
  assert.ok(!plain.layer.some((m) => m.path.startsWith('.ocibuild-s2i-upload')), 'the upload mount never reaches the layer');
  // s2i's labels over the builder's.
  const labels = plain.labels;
  assert.equal(labels['io.openshift.s2i.build.commit.id'], r.commitId);
  assert.equal(labels['io.openshift.s2i.build.commit.ref'], 'main');
  assert.equal(labels['io.openshift.s2i.build.commit.message'], 'first commit');
  assert.equal(labels['io.openshift.s2i.build.commit.author'], 'Test Author <author@example.test>');
  assert.equal(labels['io.openshift.s2i.build.source-location'], r.sourceDir);
  assert.match(labels['io.openshift.s2i.build.image'] ?? '', /builders:user$/);
  assert.equal(labels['test.kept'], 'yes');

  // Incremental: save-artifacts of the previous image of the same tag lands in /tmp/artifacts.
  assert.match(r.incremental.assembleOut, /restored artifacts: count 1/);
  assert.equal(r.incremental.run.stdout, 'app says: hello from the source (build 2, from-environment-file)\n');
  assert.equal(member(r.incremental, 'tmp/artifacts/count')?.uid, 1001);
  // No previous image: a clean build, and a note saying why.
  assert.equal(r.incrementalMissing.run.stdout, 'app says: hello from the source (build 1, from-environment-file)\n');
  assert.match(r.incrementalMissing.notes.join('\n'), /clean build: previous image .*fresh not found/);

  // .s2i/bin/assemble overrides the builder's; run still comes from the image.
  assert.equal(r.override.assembleOut, 'custom assemble\n');
  assert.equal(r.override.run.stdout, 'app says: hello from the override (build 7, )\n');
  assert.ok(member(r.override, 'opt/app/overridden'));
  // --inject: visible to assemble (relative to the working directory), absent from the image.
  assert.equal(member(r.override, 'opt/app/injected-seen')?.content, 'build-time only');
  assert.ok(!r.override.layer.some((m) => m.path.startsWith('opt/app/injected/') || m.path === 'opt/app/injected'), 'injected files never reach the image');
  assert.equal(member(r.override, 'tmp/scripts/assemble')?.mode, 0o755);
  assert.deepEqual(r.override.cmd, ['/usr/libexec/s2i/run']);

  // Extended build: the runtime image plus one layer from assemble-runtime, fed with the
  // artifacts of its assemble-input-files label, as the runtime image's user.
  const { extended } = r;
  assert.equal(extended.assembleOut, 'custom assemble\nruntime assembled as uid 1002\n');
  assert.equal(extended.run.stdout, 'runtime says: hello from the override\n');
  assert.deepEqual([extended.user, extended.cmd, extended.layerCount], ['1002', ['/usr/libexec/s2i/run'], 3]);
  assert.deepEqual([member(extended, 'opt/runtime/app/message.txt')?.uid, member(extended, 'opt/runtime/app/message.txt')?.mode], [1002, 0o644]);
  assert.ok(!extended.layer.some((m) => m.path.startsWith('opt/app') || m.path.startsWith('tmp/src')), 'nothing of the builder but the artifacts');
  assert.match(extended.labels['io.openshift.s2i.build.image'] ?? '', /builders:user$/);
  assert.match(r.extendedIncremental.message, /cannot be incremental/);

  // --allowed-uids: a root builder is refused with s2i's message; a numeric user in range builds.
  assert.equal(r.rootRefused.name, 'S2iError');
  assert.equal(r.rootRefused.code, 'ERR_INVALID_ARGUMENT');
  assert.match(r.rootRefused.message, /builders:root" must specify a user that is numeric and within the range of allowed users/);
  assert.equal(r.userAllowed, 'app says: hello from the override (build 7, )\n');

  // A failing assemble names the script and its exit code, with its stderr.
  assert.deepEqual([r.assembleFails.code, r.assembleFails.script, r.assembleFails.exitCode], ['ERR_RUN', 'assemble', 7]);
  assert.match(r.assembleFails.message, /assemble \(\/tmp\/scripts\/assemble\) failed: exit code 7\nassemble is failing/);

  assert.equal(r.aborted.code, 'ERR_ABORTED', r.aborted.message);
  assert.ok(r.aborted.ms < 30_000, `abort took ${r.aborted.ms} ms`);
  assert.deepEqual(r.aborted.leftovers, [], 'no scratch left in the work directory');

  assert.equal(r.usage, 'usage of the ocibuild test builder\n');
}

describe('s2i builds', { skip: process.platform !== 'linux' }, () => {
  it('as the current user (root in CI)', async () => {
    check(await runS2iScenario());
  });

  it('as an unprivileged user with a subordinate id range', { skip: !isRoot() && 'needs root to create the user' }, async () => {
    const user = ensureUnprivilegedUser();
    const result = await runAs(user, [...tsxArgv(scenarioScript), '--json'], { cwd: path.dirname(scenarioScript), timeoutMs: 180_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    const r = JSON.parse(result.stdout) as S2iScenarioResult;
    assert.equal(r.rootless, true);
    check(r);
  });
});
