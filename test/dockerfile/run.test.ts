/**
 * RUN in whole Dockerfile builds (issue 6): the same scenario (run-scenario.ts) as root and as an
 * unprivileged user with a subordinate id range, through `buildImage` on the busybox base.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';
import type { LayerMember } from './run-helpers.ts';
import { runRunScenario, type RunScenarioResult } from './run-scenario.ts';

const scenarioScript = path.join(import.meta.dirname, 'run-scenario.ts');

function find(layers: LayerMember[][], p: string): LayerMember | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const m = layers[i]?.find((x) => x.path === p);
    if (m) return m;
  }
  return undefined;
}

function check(r: RunScenarioResult): void {
  const L = r.mainLayers;
  // Files created, owners 1000 and 65534, symlink and hardlink.
  assert.equal(find(L, 'app/greeting')?.content, 'one\n', 'ARG values are visible to RUN as env');
  assert.deepEqual([find(L, 'app/owned')?.uid, find(L, 'app/owned')?.gid], [1000, 1000]);
  assert.deepEqual([find(L, 'app/nobody')?.type, find(L, 'app/nobody')?.uid, find(L, 'app/nobody')?.gid], ['directory', 65534, 65534]);
  assert.deepEqual([find(L, 'app/link')?.type, find(L, 'app/link')?.linkname], ['symlink', '/app/greeting']);
  assert.deepEqual([find(L, 'app/hard')?.type, find(L, 'app/hard')?.linkname], ['link', 'app/greeting']);
  // A deleted base file is a whiteout; a replaced directory is opaque, its old content gone.
  const second = L[1] ?? [];
  assert.ok(second.some((m) => m.path === 'bin/.wh.vi'), 'whiteout for /bin/vi');
  // No step of the main build touches /etc/hostname, so no layer has it.
  assert.ok(!L.flat().some((m) => m.path.startsWith('etc/hostname') || m.path === 'etc/.wh.hostname'), 'no /etc/hostname in a RUN layer');
  assert.ok(second.some((m) => m.path === 'opt/d/.wh..wh..opq'), 'opaque marker for the replaced /opt/d');
  assert.ok(!second.some((m) => m.path === 'opt/d/old'));
  assert.equal(find(L, 'opt/d/new')?.content, 'n\n');
  // USER 1000 then RUN, in a WORKDIR that did not exist.
  assert.equal(find(L, 'home/app/work/deep/uid')?.content, '1000\n');
  assert.equal(find(L, 'home/app/work/deep/pwd')?.content, '/home/app/work/deep\n');
  assert.deepEqual([find(L, 'tmp/by-app')?.uid, find(L, 'tmp')?.mode], [1000, 0o1777]);
  // Secrets readable in RUN (file and env), never in a layer, the config or the history.
  assert.equal(find(L, 'secret-ok')?.content, 'ok\n');
  assert.deepEqual(r.secretLeaks, []);
  for (const layer of L) for (const m of layer) assert.ok(!m.path.startsWith('run/secrets') && m.path !== 's2', `secret mount point ${m.path} leaked`);
  // Cache mounts persist between builds and never reach a layer; tmpfs and bind targets neither.
  assert.equal(r.cacheLogFirst, 'one\n');
  assert.equal(r.cacheLogSecond, 'one\ntwo\n');
  for (const layer of L) for (const m of layer) assert.ok(!/^(var\/cache|scratch|mnt|dev|proc|sys)(\/|$)/.test(m.path), `mount target ${m.path} in a layer`);
  assert.equal(find(L, 'from-ctx')?.content, 'from the context\n');
  // --network=none blocks the loopback server; the default network reaches it.
  assert.equal(find(L, 'net-none')?.content, '1\n');
  assert.equal(find(L, 'net-default')?.content, '0\n');
  assert.ok(!r.serverReceived.includes('none'), `the server got ${JSON.stringify(r.serverReceived)}`);
  // Private directories and files of another user (unreadable by a rootless caller) are complete.
  const f = find(L, 'app/private/sub/f');
  assert.deepEqual([f?.content, f?.mode, f?.uid, find(L, 'app/private')?.mode], ['p\n', 0o600, 1000, 0o700]);
  // (The layer before RUN true's.)
  const lastPrivate = L[L.length - 2] ?? [];
  assert.deepEqual(lastPrivate.filter((m) => m.path.startsWith('app/private/sub/')).map((m) => [m.path, m.content, m.uid]), [['app/private/sub/g', 'q\n', 1000]]);
  // No change: still a layer (an empty one), as BuildKit commits one; the history names the
  // stage's ARGs before the command, as BuildKit's does (GREETING, given as a build arg).
  assert.ok(r.history.includes('L RUN |1 GREETING=one /bin/sh -c true # buildkit'), r.history.join('\n'));
  const last = L[L.length - 1] ?? [];
  assert.deepEqual(last, [], 'the layer of RUN true holds nothing');
  // A failing RUN names the Dockerfile line and the exit code, with stderr.
  assert.equal(r.failure.code, 'ERR_DOCKERFILE');
  assert.equal(r.failure.line, 3);
  assert.match(r.failure.message, /^Dockerfile:3: .*exit code 7/);
  assert.match(r.failure.message, /boom/);
  // SOURCE_DATE_EPOCH: same digest twice, mtimes clamped.
  assert.equal(r.reproducible.first, r.reproducible.second);
  assert.ok(r.reproducible.maxMtime <= 1_700_000_000);
  // Multi-stage: COPY --from and a bind mount from a stage whose files came from RUN; the
  // unused stage (RUN exit 99) never ran.
  assert.equal(r.multiStage.artifact, 'built\n');
  assert.equal(r.multiStage.viaBind, 'built\n');
  // BuildKit's hostname (the step's own UTS namespace), and on a base without /etc none of the
  // mount-point stubs (/etc, hosts, resolv.conf) reach the layer.
  assert.deepEqual(r.hostname, { uts: 'buildkitsandbox\n', layer: ['uts-hostname'] });
  // Malicious base layers: rejected or contained, never outside the rootfs.
  const outcome = Object.fromEntries(r.malicious.map((m) => [m.name, m.outcome]));
  assert.match(outcome['dotdot path'] ?? '', /^rejected ERR_PATH_ESCAPE/);
  assert.match(outcome['whiteout naming ..'] ?? '', /^rejected ERR_PATH_ESCAPE/);
  assert.deepEqual(r.outsideEntries, [], 'nothing written through a symlink outside the rootfs');
  assert.deepEqual(r.hostPasswd, { sha: 'unchanged', nlink: 0 }, 'the host /etc/passwd was not linked or changed');
}

describe('RUN in Dockerfile builds', { skip: process.platform !== 'linux' }, () => {
  it('as the current user (root in CI)', async () => {
    check(await runRunScenario());
  });

  it('as an unprivileged user with a subordinate id range', { skip: !isRoot() && 'needs root to create the user' }, async () => {
    const user = ensureUnprivilegedUser();
    const result = await runAs(user, [...tsxArgv(scenarioScript), '--json'], { cwd: path.dirname(scenarioScript), timeoutMs: 120_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    const r = JSON.parse(result.stdout) as RunScenarioResult;
    assert.equal(r.rootless, true);
    check(r);
  });
});
