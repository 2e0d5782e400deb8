/**
 * Run as a script by the SIGKILL tests: prints `launching` just before it starts a step that
 * sleeps, `started` once the step runs, and waits to be killed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspectHost } from '../../src/run/host.ts';
import { linuxExecutor } from '../../src/run/linux.ts';

const [rootfs, marker] = process.argv.slice(2) as [string, string];
fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
const host = inspectHost();
if (host.root) for (const p of [rootfs, path.join(rootfs, 'bin'), path.join(rootfs, 'bin/busybox')]) fs.chownSync(p, host.mapping.uids[0]?.outside ?? 0, host.mapping.gids[0]?.outside ?? 0);
process.stdout.write('launching\n');
void linuxExecutor().run({
  rootfs,
  argv: ['/bin/busybox', 'sh', '-c', `echo started; /bin/busybox sleep ${marker} & /bin/busybox sleep ${marker}`],
  env: [],
  workdir: '/',
  stdout: (c) => process.stdout.write(c),
});
