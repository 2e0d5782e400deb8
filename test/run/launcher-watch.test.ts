/**
 * The launcher's watch of ocibuild's pipe, alone: the launcher is started as ocibuild starts it
 * (init of its own PID namespace) but without unshare's --kill-child, and its unshare is killed,
 * which is the state a parent-death signal lost between unshare's fork and its prctl leaves (seen
 * once in a CI run: one of 30 SIGKILLs of a root ocibuild across the launch left a step running).
 * Only the watch can end it then. Without the watch (W unset) the same state stays running,
 * which shows the test can fail.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { HOST_PATH, inspectHost } from '../../src/run/host.ts';
import { SANDBOX_SCRIPT } from '../../src/run/sandbox-script.ts';
import { newMarker, processesWith } from '../helpers/marker-processes.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (check()) return true;
    await sleep(25);
  }
  return check();
}

function killAll(marker: string): void {
  for (const p of processesWith(marker)) {
    try {
      process.kill(Number(p.pid), 'SIGKILL');
    } catch {
      // Gone.
    }
  }
}

/**
 * Starts the launcher with a stand-in for setpriv that becomes `sleep MARKER` (the step), once
 * the launcher holds the fifos as it does while bwrap sets up. Resolves when that step runs.
 */
async function startLauncher(dir: string, marker: string, watch: boolean, ended = false): Promise<{ child: ChildProcess; pipe: number | undefined }> {
  const scratch = path.join(dir, 's');
  fs.mkdirSync(scratch, { mode: 0o700 });
  const made = spawnSync('mkfifo', ['--', ...['block', 'info', 'out', 'err'].map((n) => path.join(scratch, n))]);
  assert.equal(made.status, 0);
  fs.writeFileSync(path.join(scratch, 'args'), '');
  const fake = path.join(dir, 'fake-setpriv');
  fs.writeFileSync(fake, `#!/bin/sh\nexec sleep ${marker}\n`, { mode: 0o755 });
  const host = inspectHost();
  const user = host.root ? [] : ['--user', '--map-root-user'];
  // ocibuild's pipe, as a fifo this process holds open (Node ends a child's stdin pipe itself when
  // the child exits, which here would be unshare).
  const fifo = path.join(dir, 'ocibuild');
  assert.equal(spawnSync('mkfifo', ['--', fifo]).status, 0);
  const pipe = fs.openSync(fifo, 'r+');
  const readEnd = fs.openSync(fifo, 'r');
  const child = spawn(host.tools.unshare ?? 'unshare', [...user, '--mount', '--propagation=private', '--pid', '--fork', '--mount-proc', '--', '/bin/sh', '-c', SANDBOX_SCRIPT, 'ocibuild-sandbox', 'run', 'step', marker], {
    env: { PATH: HOST_PATH, LC_ALL: 'C', S: scratch, U: '0', G: '0', GR: '0', SETPRIV: fake, BWRAP: 'bwrap', UMAP: '', GMAP: '', ...(watch ? { W: '0' } : {}) },
    stdio: [readEnd, 'ignore', 'pipe'],
  });
  fs.closeSync(readEnd);
  if (ended) {
    // ocibuild gone before the launcher's shell even starts.
    fs.closeSync(pipe);
    return { child, pipe: undefined };
  }
  const running = await until(() => processesWith(marker).some((p) => p.argv.startsWith('sleep')), 10_000);
  assert.ok(running, 'the stand-in step started');
  return { child, pipe };
}

describe('the launcher watches ocibuild', { skip: process.platform !== 'linux' }, () => {
  for (const watch of [false, true]) {
    it(watch ? 'ends every process of its namespace when ocibuild is gone, with no parent-death signal' : 'control: without the watch, a launcher whose unshare died stays', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-watch-'));
      const marker = newMarker();
      let pipe: number | undefined;
      try {
        const started = await startLauncher(dir, marker, watch);
        const child = started.child;
        pipe = started.pipe;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
        // unshare is gone and its child (the launcher) was given no signal: it and the step run on
        // while ocibuild's end of the pipe is open.
        await sleep(300);
        assert.ok(processesWith(marker).length > 0, 'the launcher outlived its unshare');
        if (pipe !== undefined) fs.closeSync(pipe);
        pipe = undefined;
        const gone = await until(() => processesWith(marker).length === 0, 5_000);
        if (watch) assert.ok(gone, `left running: ${JSON.stringify(processesWith(marker))}`);
        else assert.ok(!gone, 'without the watch nothing ends it');
      } finally {
        if (pipe !== undefined) fs.closeSync(pipe);
        killAll(marker);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('ends the launcher when ocibuild is gone before it starts', async () => {
    // The watcher then reads the end at once: it must still find the launcher's work to kill.
    for (let i = 0; i < 5; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-watch-'));
      const marker = newMarker();
      try {
        const { child } = await startLauncher(dir, marker, true, true);
        // Bounded: without the watch the launcher would run on, and the test must fail, not hang.
        const code = await new Promise<number | null | 'running'>((resolve) => {
          const timer = setTimeout(() => resolve('running'), 10_000);
          child.once('exit', (c) => {
            clearTimeout(timer);
            resolve(c);
          });
        });
        if (code === 'running') child.kill('SIGKILL');
        assert.equal(code, 137, 'the launcher ended killed');
        await sleep(200);
        assert.deepEqual(processesWith(marker), [], 'nothing of the launch is left');
      } finally {
        killAll(marker);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
