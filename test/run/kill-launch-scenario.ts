/**
 * Run as a script (as root, or as an unprivileged user) by the launch SIGKILL test: starts
 * kill-scenario.ts again and again and SIGKILLs it at a different moment of the step's launch
 * each time (0 to about 40 ms after it starts the executor: setpriv, unshare, the launcher's
 * ops, bwrap's set-up, the step), then waits up to 15 s for every process of that step to go
 * (a loaded machine can be slow to end them; a leaked step sleeps for years). With `started` as
 * second argument each kill comes once the step runs instead. Prints `{ runs, left }` as JSON,
 * `left` naming the runs whose processes outlived the kill.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeRootfs } from '../../src/run/owners.ts';
import { newMarker, processesWith, type MarkedProcess } from '../helpers/marker-processes.ts';

const runs = Number(process.argv[2] ?? '20');
/** `launch`: kills spread over the launch; `started`: each kill once the step runs. */
const mode = process.argv[3] === 'started' ? 'started' : 'launch';
const script = fileURLToPath(new URL('./kill-scenario.ts', import.meta.url));

/**
 * Processes holding the marker, the killed scenario itself excepted. A child it forked but had
 * not yet exec'd when killed shows the scenario's command line too, and is counted: it may still
 * become the launcher.
 */
const processes = (marker: string, scenario: number): MarkedProcess[] => processesWith(marker).filter((p) => p.pid !== String(scenario));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const left: { delayMs: number; processes: MarkedProcess[] }[] = [];
for (let i = 0; i < runs; i++) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-kill-'));
  const marker = newMarker();
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, path.join(tmp, 'rootfs'), marker], { stdio: ['ignore', 'pipe', 'ignore'] });
  const delayMs = mode === 'started' ? 0 : (i * 40) / Math.max(1, runs - 1);
  const awaited = mode === 'started' ? 'started' : 'launching';
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes(awaited) && resolve());
      child.on('close', (code) => reject(new Error(`the scenario ended before launching (exit ${code})`)));
    });
    await sleep(delayMs);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    // Gone means none for a while: a process caught between fork and exec, or one ending on its
    // own (the launcher's parent check), can show up after a first empty look.
    const t0 = Date.now();
    let none = 0;
    while (none < 4 && Date.now() - t0 < 15_000) {
      none = processes(marker, child.pid as number).length === 0 ? none + 1 : 0;
      await sleep(25);
    }
    const still = processes(marker, child.pid as number);
    if (still.length > 0) {
      left.push({ delayMs, processes: still });
      for (const p of still) {
        try {
          process.kill(Number(p.pid), 'SIGKILL');
        } catch {
          // Not ours, or gone.
        }
      }
    }
  } finally {
    child.kill('SIGKILL');
    await removeRootfs(tmp);
  }
}
process.stdout.write(`${JSON.stringify({ runs, left })}\n`);
