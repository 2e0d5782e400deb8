/**
 * Escape attempts from a RUN step, shared by the root test and the unprivileged-user test (which
 * runs this file as a script and reads the JSON it prints). Every attack runs real code in the
 * sandbox on the busybox base and prints `LEAK ...` when it reaches something of the host; the
 * host side checks the same things from outside (files created, files deleted, what was read).
 * Each precondition is checked too, so a test cannot pass because the target was not there.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildImage } from '../../src/pipeline/index.ts';
import { extractLayer, type RecordedOwner } from '../../src/run/extract.ts';
import { inspectHost } from '../../src/run/host.ts';
import { linuxExecutor } from '../../src/run/linux.ts';
import { applyRecordedOwners, removeRootfs } from '../../src/run/owners.ts';
import { buildBusyboxLayout, busyboxLayerBlob } from '../helpers/busybox.ts';
import { readImage } from '../dockerfile/run-helpers.ts';

/** What the attacks observed, as plain JSON. */
export interface EscapeResult {
  root: boolean;
  /** Preconditions seen from the host: the victim file is readable by the caller, the marker process runs. */
  victimReadableOnHost: boolean;
  markerVisibleOnHost: boolean;
  /** Per attack: exit code and everything it printed. */
  attacks: { name: string; exitCode: number; output: string }[];
  /** Files that appeared in the host's "outside" directory. */
  outsideCreated: string[];
  /** Planted-symlink attack: the host directory's files before and after. */
  plantedBefore: string[];
  plantedAfter: string[];
  /** Capabilities and no_new_privs of a root step, from /proc/self/status. */
  status: string;
  /** The ONBUILD variant: build error (if any) and whether any layer holds the victim's secret. */
  onbuild: { error?: string; leakedInLayers: boolean; outsideCreated: string[] };
  /** A static helper doing chdir("..") loops and chroot("."), when a C compiler exists here. */
  chrootHelper: boolean;
}

const SECRET = 'victim-secret-5b1e9c';
const MARKER = '4711815';

/** A static helper for the classic chroot escape: chroot into a subdirectory, chdir("..") out of it, chroot("."). */
const CHROOT_C = String.raw`
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
  mkdir("/escape-sub", 0755);
  if (chroot("/escape-sub") != 0) perror("chroot sub");
  for (int i = 0; i < 64; i++) if (chdir("..") != 0) perror("chdir");
  if (chroot(".") != 0) perror("chroot .");
  FILE *f = fopen(argv[1], "r");
  if (f) { char b[256]; size_t n = fread(b, 1, sizeof b - 1, f); b[n] = 0; printf("LEAK chroot read %s\n", b); }
  FILE *o = fopen(argv[2], "w");
  if (o) { fputs("x", o); fclose(o); printf("LEAK chroot wrote %s\n", argv[2]); }
  return 0;
}
`;

function attackScripts(victim: string, outside: string): { name: string; script: string }[] {
  const tryRead = (what: string, p: string): string => `if v=$(cat "${p}" 2>/dev/null) && [ -n "$v" ]; then echo "LEAK ${what} read $v"; fi`;
  const tryWrite = (what: string, p: string): string => `if echo x > "${p}" 2>/dev/null; then echo "LEAK ${what} wrote ${p}"; fi`;
  return [
    { name: 'proc-1-root', script: [tryRead('/proc/1/root', `/proc/1/root${victim}`), tryWrite('/proc/1/root', `/proc/1/root${outside}/p1`), 'ls /proc/1/root/ > /dev/null'].join('\n') },
    {
      name: 'proc-star',
      script: `for p in /proc/[0-9]*; do
  ${tryRead('$p/root', `$p/root${victim}`)}
  ${tryRead('$p/cwd', `$p/cwd/../victim`)}
  for up in .. ../.. ../../.. ../../../..; do ${tryRead('$p/cwd/$up', `$p/cwd/$up${victim}`)}; done
  ${tryWrite('$p/root', `$p/root${outside}/p2`)}
done`,
    },
    { name: 'host-processes', script: `m=${MARKER.slice(0, 3)}; m="\${m}${MARKER.slice(3)}"; for p in /proc/[0-9]*; do if grep -q "$m" $p/cmdline 2>/dev/null; then echo "LEAK sees host process $p"; fi; done; echo "pids: $(ls -d /proc/[0-9]* | wc -l)"` },
    {
      name: 'busybox-chroot',
      script: `mkdir -p /jail && cd /jail && if chroot . /bin/sh -c 'true' 2>/dev/null; then echo "LEAK chroot allowed"; fi
cd / && for i in 1 2 3 4 5 6 7 8; do cd ..; done; ${tryRead('cd ..', `.${victim}`)}`,
    },
    { name: 'mount', script: `mkdir -p /mnt/m; if mount -t tmpfs t /mnt/m 2>/dev/null; then echo "LEAK mount allowed"; fi; if mount -t proc p /mnt/m 2>/dev/null; then echo "LEAK proc mount allowed"; fi; if mount --bind / /mnt/m 2>/dev/null; then echo "LEAK bind allowed"; fi` },
    { name: 'pivot_root', script: `mkdir -p /newroot/old; if pivot_root /newroot /newroot/old 2>/dev/null; then echo "LEAK pivot_root allowed"; fi` },
    {
      name: 'unshare',
      script: `unshare -U -r -m -p -f sh -c '
mkdir -p /tmp/u; mount -t tmpfs t /tmp/u 2>/dev/null
mount -t proc p /tmp/u 2>/dev/null && for p in /tmp/u/[0-9]*; do v=$(cat $p/root${victim} 2>/dev/null) && echo "LEAK nested proc read $v"; done
mount --rbind / /tmp/u 2>/dev/null
v=$(cat /proc/1/root${victim} 2>/dev/null) && echo "LEAK unshare read $v"
echo x > /proc/1/root${outside}/p3 2>/dev/null && echo "LEAK unshare wrote"
true' 2>/dev/null; true`,
    },
    {
      name: 'sys-and-proc',
      script: `if [ -n "$(ls -A /sys/firmware 2>/dev/null)" ]; then echo "LEAK /sys/firmware visible"; fi
if touch /sys/ocibuild 2>/dev/null; then echo "LEAK /sys writable"; fi
if echo 1 > /proc/sys/kernel/ocibuild 2>/dev/null || echo 0 > /proc/sys/vm/drop_caches 2>/dev/null; then echo "LEAK /proc/sys writable"; fi
if echo h > /proc/sysrq-trigger 2>/dev/null; then echo "LEAK sysrq"; fi
if [ -n "$(head -c 16 /proc/kcore 2>/dev/null)" ]; then echo "LEAK kcore"; fi
if [ -n "$(cat /proc/keys 2>/dev/null)" ] || [ -n "$(cat /proc/timer_list 2>/dev/null)" ]; then echo "LEAK masked proc file"; fi`,
    },
    {
      name: 'inherited-fds',
      script: `for fd in /proc/self/fd/*; do
  n=\${fd##*/}
  if [ -d "$fd" ]; then echo "LEAK directory fd $n -> $(readlink $fd)"; fi
  ${tryRead('fd', `$fd/../victim`)}
  ${tryRead('fd', `$fd${victim}`)}
done`,
    },
  ];
}

function writeOutput(chunks: Uint8Array[]): (c: Uint8Array) => void {
  return (c) => chunks.push(c);
}

/** Runs every attack (as the current user) and reports. */
export async function runEscapeScenario(): Promise<EscapeResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-escape-'));
  const rootfs = path.join(tmp, 'rootfs');
  const victim = path.join(tmp, 'victim');
  const outside = path.join(tmp, 'outside');
  const planted = path.join(tmp, 'planted');
  fs.writeFileSync(victim, SECRET, { mode: 0o600 });
  fs.mkdirSync(outside, { mode: 0o777 });
  fs.chmodSync(outside, 0o777);
  // A host directory an earlier step points /etc at: the old clean-up deleted empty files there.
  fs.mkdirSync(planted);
  for (const name of ['resolv.conf', 'hosts', 'keep']) fs.writeFileSync(path.join(planted, name), '');
  const marker = spawn('sleep', [MARKER], { stdio: 'ignore' });
  try {
    const host = inspectHost();
    const { gz } = await busyboxLayerBlob();
    const owners = new Map<string, RecordedOwner>();
    fs.mkdirSync(rootfs, { mode: 0o755 });
    if (host.root) fs.chownSync(rootfs, host.mapping.uids[0]?.outside ?? 0, host.mapping.gids[0]?.outside ?? 0);
    await extractLayer(rootfs, (async function* () { yield new Uint8Array(gunzipSync(gz)); })(), { owners, ...(host.root ? { idMapping: host.mapping } : {}) });
    await applyRecordedOwners(rootfs, owners);
    let chrootHelper = false;
    try {
      execFileSync('cc', ['-static', '-O1', '-o', path.join(tmp, 'escape'), '-x', 'c', '-'], { input: CHROOT_C, stdio: ['pipe', 'ignore', 'ignore'] });
      chrootHelper = true;
    } catch {
      // No compiler here: the busybox chroot attack still checks CAP_SYS_CHROOT.
    }
    const executor = linuxExecutor();
    const run = async (name: string, script: string, extra: { user?: string } = {}): Promise<{ name: string; exitCode: number; output: string }> => {
      const chunks: Uint8Array[] = [];
      const r = await executor.run({ rootfs, argv: ['/bin/sh', '-c', script], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], workdir: '/', stdout: writeOutput(chunks), stderr: writeOutput(chunks), ...extra });
      return { name, exitCode: r.exitCode, output: Buffer.concat(chunks).toString('utf8') };
    };
    const attacks: EscapeResult['attacks'] = [];
    for (const a of attackScripts(victim, outside)) {
      attacks.push(await run(a.name, a.script));
      attacks.push(await run(`${a.name} as app`, a.script, { user: 'app' }));
    }
    if (chrootHelper) {
      fs.copyFileSync(path.join(tmp, 'escape'), path.join(rootfs, 'escape'));
      fs.chmodSync(path.join(rootfs, 'escape'), 0o755);
      attacks.push(await run('chroot-helper', `/escape ${victim} ${outside}/p4`));
    }
    // Planted symlinks: while it runs, the step swaps /etc (which holds the resolv.conf and hosts
    // mount points, stubs the image lacks) for a link to a host directory with files of those
    // names; the clean-up of the stubs must not follow it. Then a later step runs with it.
    const plantedBefore = fs.readdirSync(planted).sort();
    const swap = await run('planted-etc', `mv /etc /etc.moved && ln -s ${planted} /etc && echo swapped`);
    if (!swap.output.includes('swapped')) throw new Error(`precondition: the step could not swap /etc: ${swap.output}`);
    attacks.push(swap);
    attacks.push(await run('after-planted', `cat /etc/resolv.conf > /dev/null; echo x > /etc/hosts 2>/dev/null; ls /etc/ > /dev/null`));
    const plantedAfter = fs.readdirSync(planted).sort();
    const status = (await run('status', 'grep -E "^(CapBnd|CapEff|NoNewPrivs)" /proc/self/status')).output;
    const onbuild = await onbuildAttack(tmp, victim, outside);
    return {
      root: host.root,
      victimReadableOnHost: fs.readFileSync(victim, 'utf8') === SECRET,
      markerVisibleOnHost: marker.pid !== undefined && fs.readFileSync(`/proc/${marker.pid}/cmdline`, 'utf8').includes(MARKER),
      attacks,
      outsideCreated: fs.readdirSync(outside),
      plantedBefore,
      plantedAfter,
      status,
      onbuild,
      chrootHelper,
    };
  } finally {
    marker.kill('SIGKILL');
    await removeRootfs(tmp);
  }
}

/** The same attacks delivered by a base image's ONBUILD RUN, in a build whose own Dockerfile has no RUN. */
async function onbuildAttack(tmp: string, victim: string, outside: string): Promise<EscapeResult['onbuild']> {
  const base = await buildBusyboxLayout(path.join(tmp, 'ob-base'));
  const context = path.join(tmp, 'ob-context');
  fs.mkdirSync(context);
  const cache = { dir: path.join(tmp, 'ob-cache') };
  const script = attackScripts(victim, outside)
    .filter((a) => ['proc-1-root', 'proc-star', 'unshare', 'inherited-fds'].includes(a.name))
    .map((a) => `{ ${a.script}\n} > /leak-${a.name} 2>&1`)
    .join('; ');
  const evil = path.join(tmp, 'ob-evil');
  await buildImage({
    context,
    cache,
    dockerfile: { text: `FROM oci:${base.layoutPath}:${base.tag}\nONBUILD RUN ${JSON.stringify(['/bin/sh', '-c', `${script}; cat /proc/1/root${victim} > /leak-direct 2>/dev/null; true`])}\n`, file: 'Dockerfile' },
    to: `oci:${evil}:latest`,
  });
  const victimOut = path.join(tmp, 'ob-victim');
  let error: string | undefined;
  try {
    await buildImage({ context, cache, dockerfile: { text: `FROM oci:${evil}:latest\nENV X=1\n`, file: 'Dockerfile' }, to: `oci:${victimOut}:latest` });
  } catch (e) {
    error = (e as Error).message;
  }
  let leakedInLayers = false;
  let ran = false;
  if (error === undefined) {
    const img = await readImage(victimOut);
    for (const l of img.layers) {
      if (l.tar.includes(Buffer.from(SECRET))) leakedInLayers = true;
      if (l.members.some((m) => m.path === 'leak-direct')) ran = true;
    }
  }
  if (error === undefined && !ran) error = 'the ONBUILD trigger did not run';
  return { ...(error !== undefined ? { error } : {}), leakedInLayers, outsideCreated: fs.readdirSync(outside) };
}

// Run as a script (by the unprivileged-user test): print the result as JSON.
if (process.argv[2] === '--json') {
  runEscapeScenario().then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (error: unknown) => {
      process.stderr.write(String((error as Error).stack ?? error));
      process.exitCode = 1;
    },
  );
}
