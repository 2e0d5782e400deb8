// A build killed outright (SIGKILL: no handler runs) leaves its temp folder and a partial
// tarball; the next run removes both, and leaves alone what live processes and other tools own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { isRoot } from '../helpers/users.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');

function cli(args: string[], env: NodeJS.ProcessEnv): { pid: number; done: Promise<{ code: number | null; stderr: string }>; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { pid: child.pid as number, done, kill: (s) => child.kill(s) };
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const running = (token: string): boolean => {
  try {
    return execFileSync('pgrep', ['-f', token], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
};

test('debris of a SIGKILLed build is removed by the next run', { skip: !isRoot() && 'RUN needs root or a test user here' }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-killed-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const base = await buildBusyboxLayout(path.join(dir, 'base'));
  const tmp = path.join(dir, 'tmp');
  const out = path.join(dir, 'out');
  const ctx = path.join(dir, 'ctx');
  for (const d of [tmp, out, ctx]) await fs.mkdir(d);
  const token = `ocibuild-killed-${process.pid}`;
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nRUN echo ${token} && sleep 3\n`);
  const victim = cli(['build', ctx, '--to', `docker-archive:${out}/image.tar`], { TMPDIR: tmp });
  await waitFor('the RUN step to start', () => running(token));
  victim.kill('SIGKILL');
  await victim.done;
  await waitFor('the orphaned RUN step to end', () => !running(token));
  const left = (await fs.readdir(tmp)).filter((n) => n.startsWith(`ocibuild-${victim.pid}-`));
  assert.equal(left.length, 1, `expected the killed build's work folder, found ${JSON.stringify(await fs.readdir(tmp))}`);
  // A partial tarball as a killed commit leaves it, a live process's temp folder, and someone else's.
  const partial = path.join(out, `.image.tar-${victim.pid}-0123456789ab`);
  await fs.writeFile(partial, 'partial');
  const live = path.join(tmp, `ocibuild-${process.pid}-build-keep`);
  await fs.mkdir(live);
  await fs.mkdir(path.join(tmp, 'ocibuild-other-tool'));

  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /Dockerfile\n');
  const next = cli(['build', ctx, '--to', `docker-archive:${out}/image.tar`, '-q'], { TMPDIR: tmp });
  const result = await next.done;
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual((await fs.readdir(tmp)).filter((n) => !n.startsWith('tsx-')).sort(), [path.basename(live), 'ocibuild-other-tool']);
  assert.deepEqual(await fs.readdir(out), ['image.tar']);
});
