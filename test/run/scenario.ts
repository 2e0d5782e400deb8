/**
 * A RUN-like sequence on the busybox base, shared by the root test and the unprivileged-user test
 * (which runs this file as a script and reads the JSON it prints).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { hostGidToContainer, hostUidToContainer } from '../../src/run/idmap.ts';
import { extractLayer, type RecordedOwner } from '../../src/run/extract.ts';
import { inspectHost } from '../../src/run/host.ts';
import { linuxExecutor } from '../../src/run/linux.ts';
import { applyRecordedOwners, removeRootfs } from '../../src/run/owners.ts';
import { diffSnapshots, takeSnapshot } from '../../src/run/snapshot.ts';
import type { ProbeResult, RunOptions } from '../../src/run/types.ts';
import { busyboxLayerBlob } from '../helpers/busybox.ts';

/** What the scenario observed, as plain JSON. */
export interface ScenarioResult {
  probe: ProbeResult;
  rootless: boolean;
  /** Root callers: the host id container root maps onto (0 rootless). */
  rootStart: number;
  diff: { type: string; path: string; uid?: number; gid?: number; mode?: number; target?: string }[];
  hostOwner: { owned: [number, number]; nobody: [number, number] };
  /** Owner of the base layer's /home/app (1000:1000 in the tar) as the container sees it. */
  homeApp: [number | undefined, number | undefined];
  idAsApp: string;
  pwdAuto: string;
  workdirCreated: boolean;
  stubsLeft: string[];
  /** `hostname` and the kernel's hostname, as a step saw them, and what the step changed. */
  hostname: { out: string; exitCode: number; diff: string[] };
  netNone: number;
  netDefault: number;
  serverReceived: string;
  fail: { exitCode: number; stderrTail: string };
  orphanMs: number;
  orphansLeft: number;
}

function collect(): { sink: (c: Uint8Array) => void; text: () => string } {
  const chunks: Uint8Array[] = [];
  return { sink: (c) => chunks.push(c), text: () => Buffer.concat(chunks).toString('utf8') };
}

function countProcesses(marker: string): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker)) n++;
    } catch {
      // Gone already.
    }
  }
  return n;
}

/** Runs the scenario in a fresh temp dir and removes it afterwards. */
export async function runScenario(): Promise<ScenarioResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-scenario-'));
  const rootfs = path.join(tmp, 'rootfs');
  const server = net.createServer();
  let received = '';
  server.on('connection', (socket) => socket.on('data', (d) => (received += d.toString())));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const { gz } = await busyboxLayerBlob();
    const owners = new Map<string, RecordedOwner>();
    const host = inspectHost();
    // As StageRootfs does: a root caller's rootfs belongs to the sandbox's subordinate ids.
    fs.mkdirSync(rootfs, { mode: 0o755 });
    if (host.root) fs.chownSync(rootfs, host.mapping.uids[0]?.outside ?? 0, host.mapping.gids[0]?.outside ?? 0);
    await extractLayer(rootfs, (async function* () { yield new Uint8Array(gunzipSync(gz)); })(), { owners, ...(host.root ? { idMapping: host.mapping } : {}) });
    await applyRecordedOwners(rootfs, owners);
    const executor = linuxExecutor();
    const probe = await executor.probe();
    const mapping = (await executor.ownerMapping?.()) ?? { uids: [], gids: [] };
    const homeStat = fs.lstatSync(path.join(rootfs, 'home/app'));
    const homeApp: [number | undefined, number | undefined] = [hostUidToContainer(mapping, homeStat.uid), hostGidToContainer(mapping, homeStat.gid)];
    const base: Omit<RunOptions, 'argv'> = { rootfs, env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], workdir: '/' };
    const sh = (script: string, extra: Partial<RunOptions> = {}): Promise<{ exitCode: number; stderrTail: string; out: string }> => {
      const out = collect();
      return executor.run({ ...base, argv: ['/bin/sh', '-c', script], stdout: out.sink, ...extra }).then((r) => ({ ...r, out: out.text() }));
    };
    const prep = await sh('set -e; mkdir -p /opt/old /opt/gone/sub; echo a > /opt/old/a; echo b > /opt/gone/sub/b');
    if (prep.exitCode !== 0) throw new Error(`prep failed: ${prep.stderrTail}`);
    const before = takeSnapshot(rootfs);
    const step = await sh(
      [
        'set -e',
        'mkdir -p /app/data',
        'echo hello > /app/data/hello.txt',
        'rm /bin/vi',
        'rm -rf /opt/gone',
        'rm -rf /opt/old && mkdir /opt/old && echo c > /opt/old/c',
        'touch /app/owned && chown 1000:1000 /app/owned',
        'mkdir /app/nobody && chown 65534 /app/nobody',
        'ln -s /app/data/hello.txt /app/link',
        'ln /app/data/hello.txt /app/hard',
      ].join('\n'),
    );
    if (step.exitCode !== 0) throw new Error(`step failed: ${step.stderrTail}`);
    const after = takeSnapshot(rootfs);
    const diff = diffSnapshots(before, after, { mapping }).map((e) => {
      const o: ScenarioResult['diff'][number] = { type: e.type, path: e.path };
      if ('uid' in e) Object.assign(o, { uid: e.uid, gid: e.gid, mode: e.mode });
      if ('target' in e) o.target = e.target;
      return o;
    });
    const ownedStat = fs.lstatSync(path.join(rootfs, 'app/owned'));
    const nobodyStat = fs.lstatSync(path.join(rootfs, 'app/nobody'));
    const asApp = await sh('id -u; id -g', { user: 'app' });
    const auto = await sh('pwd', { workdir: '/work/auto/dir', user: '1000' });
    const stubsLeft = ['etc/resolv.conf', 'etc/hosts', 'run'].filter((p) => fs.existsSync(path.join(rootfs, p)));
    const beforeHostname = takeSnapshot(rootfs);
    const hostnameStep = await sh('hostname; cat /proc/sys/kernel/hostname');
    const hostname = { out: hostnameStep.out, exitCode: hostnameStep.exitCode, diff: diffSnapshots(beforeHostname, takeSnapshot(rootfs), { mapping }).map((e) => `${e.type} ${e.path}`) };
    const netNone = await sh(`echo none | nc -w 2 127.0.0.1 ${port}`, { network: 'none' });
    const netDefault = await sh(`echo default | nc -w 2 127.0.0.1 ${port}`);
    const fail = await sh('echo boom >&2; exit 7');
    const t0 = Date.now();
    await sh('sleep 3131 & sleep 3131 & echo started');
    const orphanMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
    return {
      probe,
      rootless: !host.root,
      rootStart: host.root ? (host.mapping.uids[0]?.outside ?? 0) : 0,
      homeApp,
      diff,
      hostOwner: { owned: [ownedStat.uid, ownedStat.gid], nobody: [nobodyStat.uid, nobodyStat.gid] },
      idAsApp: asApp.out.trim(),
      pwdAuto: auto.out.trim(),
      workdirCreated: fs.statSync(path.join(rootfs, 'work/auto/dir')).isDirectory(),
      stubsLeft,
      hostname,
      netNone: netNone.exitCode,
      netDefault: netDefault.exitCode,
      serverReceived: received,
      fail: { exitCode: fail.exitCode, stderrTail: fail.stderrTail },
      orphanMs,
      orphansLeft: countProcesses('3131'),
    };
  } finally {
    server.close();
    await removeRootfs(tmp);
  }
}

// Run as a script (by the unprivileged-user test): print the result as JSON.
if (process.argv[2] === '--json') {
  runScenario().then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (error: unknown) => {
      process.stderr.write(String((error as Error).stack ?? error));
      process.exitCode = 1;
    },
  );
}
