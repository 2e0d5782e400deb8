import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inspectHost } from '../../src/run/host.ts';
import { linuxExecutor } from '../../src/run/linux.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';
import { newMarker, processesWith } from '../helpers/marker-processes.ts';
import { runScenario, type ScenarioResult } from './scenario.ts';

const scenarioScript = fileURLToPath(new URL('./scenario.ts', import.meta.url));

function entry(r: ScenarioResult, p: string, type?: string): ScenarioResult['diff'][number] | undefined {
  return r.diff.find((e) => e.path === p && (type === undefined || e.type === type));
}

/** Processes whose argv holds `marker` (the sleeping step and bwrap, which shows the command). */
function sandboxProcesses(marker: string): number {
  return processesWith(marker, 'kill-scenario').length;
}

function checkScenario(r: ScenarioResult, rootless: boolean): void {
  assert.deepEqual(r.probe, { ok: true });
  assert.equal(r.rootless, rootless);
  assert.deepEqual(r.homeApp, [1000, 1000], 'base layer owners survive extraction');
  // New files and their parents.
  assert.equal(entry(r, '/app/data/hello.txt', 'file')?.uid, 0);
  assert.equal(entry(r, '/app/data', 'directory')?.mode, 0o755);
  // Deleted base file and deleted tree: whiteouts, only the top of the tree.
  assert.ok(entry(r, '/bin/vi', 'whiteout'));
  assert.ok(entry(r, '/opt/gone', 'whiteout'));
  assert.equal(entry(r, '/opt/gone/sub', 'whiteout'), undefined);
  // Replaced directory: opaque, then its new content.
  assert.ok(entry(r, '/opt/old', 'opaque'));
  assert.ok(entry(r, '/opt/old/c', 'file'));
  assert.equal(entry(r, '/opt/old/a', 'whiteout'), undefined);
  // Ownership is container-side, whatever the host ids are.
  assert.deepEqual([entry(r, '/app/owned')?.uid, entry(r, '/app/owned')?.gid], [1000, 1000]);
  assert.deepEqual([entry(r, '/app/nobody')?.uid, entry(r, '/app/nobody')?.gid], [65534, 0]);
  if (rootless) {
    const uid = process.getuid?.() ?? 0;
    assert.notEqual(r.hostOwner.owned[0], 1000, 'rootless files belong to subordinate ids on the host');
    assert.ok(r.hostOwner.owned[0] > uid);
  } else {
    // A root caller's step is not host root: its ids land in the sandbox's subordinate range.
    assert.ok(r.rootStart >= 65536, `container root maps onto a subordinate id, not ${r.rootStart}`);
    assert.deepEqual(r.hostOwner.owned, [r.rootStart + 1000, r.rootStart + 1000]);
    assert.deepEqual(r.hostOwner.nobody, [r.rootStart + 65534, r.rootStart]);
  }
  // Symlink and hardlink preserved.
  assert.equal(entry(r, '/app/link', 'symlink')?.target, '/app/data/hello.txt');
  const hard = r.diff.filter((e) => e.path === '/app/hard' || e.path === '/app/data/hello.txt');
  assert.deepEqual(hard.map((e) => e.type).sort(), ['file', 'hardlink']);
  // Nothing the sandbox set up leaks into the diff.
  for (const e of r.diff) assert.ok(!/^\/(proc|sys|dev)(\/|$)|resolv\.conf|\/etc\/hosts(name)?$/.test(e.path), e.path);
  assert.deepEqual(r.stubsLeft, []);
  // BuildKit's hostname, in the step's own UTS namespace; /etc/hostname stays the image's file
  // (BuildKit binds only resolv.conf and hosts), so looking changes nothing.
  assert.deepEqual(r.hostname, { out: 'buildkitsandbox\nbuildkitsandbox\n', exitCode: 0, diff: [] });
  assert.equal(entry(r, '/etc/hostname'), undefined);
  assert.equal(r.idAsApp, '1000\n1000');
  assert.equal(r.pwdAuto, '/work/auto/dir');
  assert.equal(r.workdirCreated, true);
  assert.notEqual(r.netNone, 0, 'network=none must not reach the host');
  assert.equal(r.netDefault, 0);
  assert.equal(r.serverReceived.trim(), 'default');
  assert.equal(r.fail.exitCode, 7);
  assert.match(r.fail.stderrTail, /boom/);
  assert.ok(r.orphanMs < 5000, `background processes must not keep the step alive (${r.orphanMs} ms)`);
  assert.equal(r.orphansLeft, 0);
}

describe('linuxExecutor', { skip: process.platform !== 'linux' }, () => {
  it('runs a RUN-like sequence as the current user (root in CI)', async () => {
    const r = await runScenario();
    checkScenario(r, !isRoot());
  });

  it('runs the same sequence as an unprivileged user with a subordinate id range', { skip: !isRoot() && 'needs root to create the user' }, async () => {
    const user = ensureUnprivilegedUser();
    const result = await runAs(user, [...tsxArgv(scenarioScript), '--json'], { cwd: path.dirname(scenarioScript), timeoutMs: 60_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    checkScenario(JSON.parse(result.stdout) as ScenarioResult, true);
  });

  it('rejects a workdir that is not absolute and a missing user', async () => {
    const executor = linuxExecutor();
    const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-bad-'));
    try {
      await assert.rejects(executor.run({ rootfs, argv: ['true'], env: [], workdir: 'relative' }), { code: 'ERR_INVALID_ARGUMENT' });
      await assert.rejects(executor.run({ rootfs, argv: ['true'], env: [], workdir: '/', user: 'nosuchuser' }), { code: 'ERR_RUN', message: /nosuchuser/ });
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('leaves no process and no mount behind when ocibuild itself is killed with SIGKILL', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-kill-'));
    const rootfs = path.join(tmp, 'rootfs');
    const marker = newMarker();
    const script = fileURLToPath(new URL('./kill-scenario.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, rootfs, marker], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
        child.on('close', (code) => reject(new Error(`the step did not start (exit ${code})`)));
      });
      // The precondition: the step's processes run.
      assert.ok(sandboxProcesses(marker) >= 2);
      child.kill('SIGKILL');
      const t0 = Date.now();
      while (sandboxProcesses(marker) > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      assert.equal(sandboxProcesses(marker), 0, 'every process of the step died with ocibuild');
      assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(rootfs), 'no mount of the rootfs is left');
    } finally {
      child.kill('SIGKILL');
      await removeRootfs(tmp);
    }
  });

  // The step's pid 1 used to outlive a SIGKILL that landed while bwrap changed credentials
  // (bwrap's --die-with-parent is set again afterwards, too late for a parent already gone):
  // several of these 30 kills, before the launcher got its own PID namespace.
  const killLaunch = fileURLToPath(new URL('./kill-launch-scenario.ts', import.meta.url));
  const checkKills = (stdout: string, runs: number): void => {
    const r = JSON.parse(stdout) as { runs: number; left: unknown[] };
    assert.equal(r.runs, runs);
    assert.deepEqual(r.left, [], 'every process of the step died with ocibuild, whenever it was killed');
  };

  it('leaves no process behind whatever moment of the launch ocibuild is SIGKILLed at', { timeout: 180_000 }, async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), killLaunch, '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(result.code, 0, result.stderr);
    checkKills(result.stdout, 30);
  });

  it('leaves no process behind when a rootless ocibuild is SIGKILLed during a step', { skip: !isRoot() && 'needs root to create the user', timeout: 180_000 }, async () => {
    const user = ensureUnprivilegedUser();
    const result = await runAs(user, [...tsxArgv(killLaunch), '10', 'started'], { cwd: path.dirname(killLaunch), timeoutMs: 170_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    checkKills(result.stdout, 10);
  });

  // Rootless kills across the launch. Once in CI, before the launcher watched ocibuild's pipe,
  // one of 30 left a step running (launcher with parent 1, not killed; cause unknown,
  // docs/security.md); with the watch it has run clean in a clean-clone CI run and 270 kills
  // under load here, so it runs by default again (OCIBUILD_TEST_ROOTLESS_LAUNCH_KILLS=0 skips it).
  const rootlessLaunch = process.env.OCIBUILD_TEST_ROOTLESS_LAUNCH_KILLS !== '0';
  it('leaves no process behind whatever moment of the launch a rootless ocibuild is SIGKILLed at', { skip: (!isRoot() && 'needs root to create the user') || (!rootlessLaunch && 'OCIBUILD_TEST_ROOTLESS_LAUNCH_KILLS=0'), timeout: 180_000 }, async () => {
    const user = ensureUnprivilegedUser();
    const result = await runAs(user, [...tsxArgv(killLaunch), '30'], { cwd: path.dirname(killLaunch), timeoutMs: 170_000 });
    assert.equal(result.exitCode, 0, result.stderr);
    checkKills(result.stdout, 30);
  });

  it('gives the step the hostname asked for, in its UTS namespace and /etc/hosts (BuildKit BUILDKIT_SANDBOX_HOSTNAME)', async () => {
    const executor = linuxExecutor();
    const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-hostname-'));
    fs.mkdirSync(path.join(rootfs, 'bin'));
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    const host = inspectHost();
    if (host.root) for (const p of [rootfs, path.join(rootfs, 'bin'), path.join(rootfs, 'etc'), path.join(rootfs, 'bin/busybox')]) fs.chownSync(p, host.mapping.uids[0]?.outside ?? 0, host.mapping.gids[0]?.outside ?? 0);
    try {
      for (const [hostname, expected] of [[undefined, 'buildkitsandbox'], ['foo', 'foo']] as const) {
        let out = '';
        const result = await executor.run({ rootfs, argv: ['/bin/busybox', 'sh', '-c', '/bin/busybox hostname; /bin/busybox head -n 1 /etc/hosts'], env: [], workdir: '/', ...(hostname ? { hostname } : {}), stdout: (c) => (out += c.toString()) });
        assert.equal(result.exitCode, 0);
        assert.equal(out, `${expected}\n127.0.0.1\tlocalhost ${expected}\n`);
      }
      await assert.rejects(executor.run({ rootfs, argv: ['/bin/busybox', 'true'], env: [], workdir: '/', hostname: 'bad name;' }), { code: 'ERR_INVALID_ARGUMENT' });
      // docker build --add-host: lines after BuildKit's two, names and addresses checked.
      let hosts = '';
      const extraHosts = { 'db.internal': '10.0.0.5', v6host: '::1' };
      const r = await executor.run({ rootfs, argv: ['/bin/busybox', 'head', '-n', '4', '/etc/hosts'], env: [], workdir: '/', extraHosts, stdout: (c) => (hosts += c.toString()) });
      assert.equal(r.exitCode, 0);
      assert.equal(hosts, '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.5\tdb.internal\n::1\tv6host\n');
      await assert.rejects(executor.run({ rootfs, argv: ['/bin/busybox', 'true'], env: [], workdir: '/', extraHosts: { db: 'not-an-ip' } }), { code: 'ERR_INVALID_ARGUMENT', message: /not-an-ip/ });
      await assert.rejects(executor.run({ rootfs, argv: ['/bin/busybox', 'true'], env: [], workdir: '/', extraHosts: { 'a\nb': '10.0.0.1' } }), { code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('aborts a running step and kills everything in it', async () => {
    const executor = linuxExecutor();
    const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-abort-'));
    fs.mkdirSync(path.join(rootfs, 'bin'));
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    const host = inspectHost();
    // The sandbox's root must own the rootfs (as StageRootfs arranges for a root caller).
    if (host.root) for (const p of [rootfs, path.join(rootfs, 'bin'), path.join(rootfs, 'bin/busybox')]) fs.chownSync(p, host.mapping.uids[0]?.outside ?? 0, host.mapping.gids[0]?.outside ?? 0);
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const t0 = Date.now();
      await assert.rejects(
        executor.run({ rootfs, argv: ['/bin/busybox', 'sleep', '4242'], env: [], workdir: '/', signal: controller.signal }),
        { code: 'ERR_ABORTED' },
      );
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });
});
