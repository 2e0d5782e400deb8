// Ctrl-C (SIGINT) and SIGTERM during a CLI build: the process prints `interrupted`, exits 130
// soon (not when the slow work would have ended), and leaves no ocibuild-* folder in its TMPDIR
// and nothing next to its targets; on a terminal the cursor that progress bars hid is shown again.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../helpers/registry.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { isRoot } from '../helpers/users.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');

interface Running {
  child: ChildProcess;
  result: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>;
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, env: { ...process.env, ...env } });
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
  return { child, result };
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ocibuildEntries = async (dir: string): Promise<string[]> => (await fs.readdir(dir)).filter((n) => n.includes('ocibuild') || n.startsWith('.'));

/**
 * A proxy in front of the registry that forwards every request but holds blob uploads (PATCH and
 * PUT under /blobs/uploads/) without answering: a push that never ends by itself.
 */
async function stallingProxy(target: string): Promise<{ host: string; stalled: () => number; stop: () => Promise<void> }> {
  let stalled = 0;
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if ((req.method === 'PATCH' || req.method === 'PUT') && (req.url ?? '').includes('/blobs/uploads/')) {
      stalled++;
      held.push(res);
      req.resume();
      return;
    }
    const upstream = http.request(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    stalled: () => stalled,
    stop: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A temporary folder and a registry behind a {@link stallingProxy}, all removed when `t` ends. */
async function stalledRegistry(t: TestContext): Promise<{ dir: string; proxy: Awaited<ReturnType<typeof stallingProxy>> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-interrupt-'));
  const registry = await startRegistry();
  const proxy = await stallingProxy(registry.url);
  t.after(async () => {
    await proxy.stop();
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { dir, proxy };
}

test('SIGINT while pushing through a stalled upload: interrupted, exit 130, no debris', async (t) => {
  const { dir, proxy } = await stalledRegistry(t);
  const tmp = path.join(dir, 'tmp');
  const ctx = path.join(dir, 'ctx');
  const out = path.join(dir, 'out');
  await fs.mkdir(tmp);
  await fs.mkdir(ctx);
  await fs.mkdir(out);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big.bin /big.bin\n');
  await fs.writeFile(path.join(ctx, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 1));
  const running = startCli(['build', ctx, '--to', `oci:${out}/layout:v1`, '--to', `${proxy.host}/app/x:v1`, '--tar', `${out}/image.tar`], { TMPDIR: tmp });
  await waitFor('a blob upload to stall', () => proxy.stalled() > 0);
  running.child.kill('SIGINT');
  const result = await running.result;
  assert.equal(result.code, 130, result.stderr);
  assert.equal(result.stderr.trim().split('\n').at(-1), 'interrupted', result.stderr);
  assert.equal(result.stdout, '');
  assert.ok(result.ms < 20_000, `took ${result.ms} ms`);
  assert.deepEqual(await ocibuildEntries(tmp), [], 'TMPDIR left with debris');
  // The oci: target (first) was written before the push; nothing partial lies next to it.
  assert.deepEqual((await fs.readdir(out)).sort(), ['layout']);
});

test('SIGINT and SIGTERM during a slow RUN: interrupted, exit 130, no debris', { skip: !isRoot() && 'RUN needs root or a test user here' }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-interrupt-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const base = await buildBusyboxLayout(path.join(dir, 'base'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const tmp = path.join(dir, `tmp-${signal}`);
    const ctx = path.join(dir, `ctx-${signal}`);
    const out = path.join(dir, `out-${signal}`);
    await fs.mkdir(tmp);
    await fs.mkdir(ctx);
    await fs.mkdir(out);
    const token = `ocibuild-interrupt-${process.pid}-${signal}`;
    await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${base.layoutPath}:${base.tag}\nRUN echo ${token} && sleep 60\n`);
    const running = startCli(['build', ctx, '--to', `oci:${out}/layout`, '--to', `docker-archive:${out}/image.tar`], { TMPDIR: tmp });
    // The step has started once its shell (named by the token) runs.
    await waitFor('the RUN step to start', () => {
      try {
        return execFileSync('pgrep', ['-f', token], { encoding: 'utf8' }).trim() !== '';
      } catch {
        return false;
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    running.child.kill(signal);
    const result = await running.result;
    assert.equal(result.code, 130, `${signal}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').at(-1), 'interrupted', result.stderr);
    assert.ok(result.ms < 30_000, `${signal}: took ${result.ms} ms`);
    assert.deepEqual(await ocibuildEntries(tmp), [], `${signal}: TMPDIR left with debris`);
    assert.deepEqual(await fs.readdir(out), [], `${signal}: something was left next to the targets`);
    assert.throws(() => execFileSync('pgrep', ['-f', token]), `${signal}: the RUN step is still running`);
  }
});

test('SIGINT while progress bars are drawn on a terminal: the cursor is shown again', async (t) => {
  const { dir, proxy } = await stalledRegistry(t);
  const base = await buildBusyboxLayout(path.join(dir, 'base'));
  const app = path.join(dir, 'app');
  const tmp = path.join(dir, 'tmp');
  await fs.mkdir(app);
  await fs.mkdir(tmp);
  await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', main: 'index.js' }));
  await fs.writeFile(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: '1.0.0' } } }));
  await fs.writeFile(path.join(app, 'index.js'), 'console.log(1)\n');
  await fs.writeFile(path.join(app, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 3));
  // `script` gives the CLI a terminal, so it draws bars (and hides the cursor); `exec` makes the
  // CLI the direct child of `script`, so the signal reaches it alone.
  const command = ['exec', process.execPath, '--import', 'tsx', main, 'node', app, '--from', `oci:${base.layoutPath}:${base.tag}`, '--to', `${proxy.host}/app/node:1`]
    .map((w) => `'${w.replace(/'/g, `'\\''`)}'`)
    .join(' ')
    .replace(/^'exec'/, 'exec');
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { cwd: root, env: { ...process.env, TMPDIR: tmp, TERM: 'xterm', COLUMNS: '100' } });
  let output = '';
  pty.stdout.on('data', (d: Buffer) => (output += d.toString('latin1')));
  const closed = new Promise<number | null>((resolve) => pty.on('close', (code) => resolve(code)));
  await waitFor('a blob upload to stall', () => proxy.stalled() > 0);
  await waitFor('the cursor to be hidden', () => output.includes('\u001b[?25l'));
  const cliPid = execFileSync('pgrep', ['-P', String(pty.pid)], { encoding: 'utf8' }).trim().split('\n')[0] as string;
  process.kill(Number(cliPid), 'SIGINT');
  const code = await closed;
  assert.equal(code, 130, output);
  assert.ok(output.lastIndexOf('\u001b[?25h') > output.lastIndexOf('\u001b[?25l'), 'the cursor was left hidden');
  assert.match(output, /\ninterrupted\r?\n(\u001b\[\?25h)?$/);
  assert.deepEqual(await ocibuildEntries(tmp), []);
});
