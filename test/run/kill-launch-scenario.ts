/**
 * Run as a script (as root, or as an unprivileged user) by the launch SIGKILL test: starts
 * kill-scenario.ts again and again and SIGKILLs it at a different moment of the step's launch
 * each time (0 to about 40 ms after it starts the executor: setpriv, unshare, the launcher's
 * ops, bwrap's set-up, the step), then waits up to 5 s for every process of that step to go.
 * Prints `{ runs, left }` as JSON, `left` naming the runs whose processes outlived the kill.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeRootfs } from '../../src/run/owners.ts';

const runs = Number(process.argv[2] ?? '20');
const script = fileURLToPath(new URL('./kill-scenario.ts', import.meta.url));

/** Pids of processes whose argv holds `marker`, the scenario script itself excepted. */
function processes(marker: string): { pid: string; argv: string }[] {
  const out: { pid: string; argv: string }[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (argv.includes(marker) && !argv.includes('kill-scenario')) out.push({ pid, argv: argv.split('\0').slice(0, 3).join(' ') });
    } catch {
      // Gone already.
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const left: { delayMs: number; processes: { pid: string; argv: string }[] }[] = [];
for (let i = 0; i < runs; i++) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-run-kill-'));
  const marker = String(10_000 + Math.floor(Math.random() * 80_000));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, path.join(tmp, 'rootfs'), marker], { stdio: ['ignore', 'pipe', 'ignore'] });
  const delayMs = (i * 40) / Math.max(1, runs - 1);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('launching') && resolve());
      child.on('close', (code) => reject(new Error(`the scenario ended before launching (exit ${code})`)));
    });
    await sleep(delayMs);
    child.kill('SIGKILL');
    const t0 = Date.now();
    while (processes(marker).length > 0 && Date.now() - t0 < 5000) await sleep(25);
    const still = processes(marker);
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
