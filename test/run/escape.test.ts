import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';
import { runEscapeScenario, type EscapeResult } from './escape-scenario.ts';

const script = fileURLToPath(new URL('./escape-scenario.ts', import.meta.url));

/**
 * Docker's default bounding set without CAP_SYS_CHROOT (Docker's is 00000000a80425fb; bit 18 is
 * SYS_CHROOT, which the chroot-in-a-subdirectory escape needs), as /proc/self/status prints it.
 */
const DOCKER_CAPS = '00000000a80025fb';

function check(r: EscapeResult): void {
  // Preconditions: there is something to steal and something to see.
  assert.equal(r.victimReadableOnHost, true);
  assert.equal(r.markerVisibleOnHost, true);
  assert.ok(r.attacks.length >= 18, 'every attack ran');
  for (const a of r.attacks) {
    assert.doesNotMatch(a.output, /LEAK/, `${a.name}: ${a.output}`);
    assert.doesNotMatch(a.output, /victim-secret/, `${a.name}: ${a.output}`);
  }
  const pids = r.attacks.find((a) => a.name === 'host-processes')?.output ?? '';
  const count = Number(/pids: (\d+)/.exec(pids)?.[1]);
  assert.ok(count > 0 && count < 10, `only the step's own processes are visible (${count})`);
  assert.deepEqual(r.outsideCreated, [], 'nothing was created outside the rootfs');
  assert.deepEqual(r.plantedAfter, r.plantedBefore, 'clean-up did not follow a planted symlink to the host');
  assert.deepEqual(r.plantedBefore, ['hosts', 'keep', 'resolv.conf']);
  assert.match(r.status, new RegExp(`CapBnd:\\s*${DOCKER_CAPS}`));
  assert.match(r.status, /NoNewPrivs:\s*1/);
  assert.equal(r.onbuild.error, undefined);
  assert.equal(r.onbuild.leakedInLayers, false, 'the ONBUILD trigger read nothing of the host');
  assert.deepEqual(r.onbuild.outsideCreated, []);
}

describe('RUN sandbox escapes', { skip: process.platform !== 'linux' }, () => {
  it('contains every attack as the current user (root in CI)', async () => {
    check(await runEscapeScenario());
  });

  it('contains every attack as an unprivileged user', { skip: !isRoot() && 'needs root to create the user' }, async () => {
    const user = ensureUnprivilegedUser();
    const result = await runAs(user, [...tsxArgv(script), '--json'], { cwd: path.dirname(script), timeoutMs: 240_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    const r = JSON.parse(result.stdout) as EscapeResult;
    assert.equal(r.root, false);
    check(r);
  });
});
