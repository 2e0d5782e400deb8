// The tty renderer in a real terminal (tmux): while a RUN runs, the screen shows its step line
// with the last output lines under it; when it ends the window collapses into `DONE`; pushed
// blobs end as bars at 100% named by target; the summary follows. Skipped without tmux.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const socket = `ocibuild-test-${process.pid}`;
const session = 'progress';

let dir: string;
let base: BusyboxLayout;
let registry: TestRegistry;

const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session);

async function waitFor(what: RegExp, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < end) {
    text = screen();
    if (what.test(text)) return text;
    await sleep(100);
  }
  assert.fail(`the screen never showed ${what}:\n${text}`);
}

before(async () => {
  if (!hasTmux) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-tty-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
  registry = await startRegistry();
});
after(async () => {
  if (!hasTmux) return;
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  await registry.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('tmux: a step window with the last lines while it runs, DONE after, bars at 100%, summary', { skip: !hasTmux && 'tmux not installed' }, async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    `FROM oci:${base.layoutPath}:${base.tag}\nRUN for i in 1 2 3 4 5 6 7 8 9 10; do echo progress-line-$i; sleep 0.3; done; sleep 2; echo > /built\n`,
  );
  const target = `${registry.host}/tty/app:1`;
  const command = [process.execPath, '--import', 'tsx', main, 'build', ctx, '--to', target, '--progress', 'auto'].map((a) => `'${a}'`).join(' ');
  // `auto` on a terminal is tty; the shell then waits so the pane stays to be captured.
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '50', '-c', root, `${command}; echo EXIT=$?; sleep 600`);
  // While the RUN sleeps after its output: the step line with a timer, the last 6 lines under it, not the first ones.
  const running = await waitFor(/progress-line-10/, 60_000);
  assert.match(running, /^#\d+ \[2\/2\] RUN for i in .* \d+\.\ds$/m, running);
  assert.match(running, /^#\d+ progress-line-5$/m, running);
  assert.doesNotMatch(running, /progress-line-4$/m, 'the window keeps the last 6 lines');
  const done = await waitFor(/EXIT=\d+/, 60_000);
  assert.match(done, /EXIT=0/, done);
  // The window collapsed: its lines are gone, the step is one DONE line.
  assert.doesNotMatch(done, /progress-line-\d/, done);
  assert.match(done, /^#\d+ \[2\/2\] RUN for i in .*DONE \d+\.\ds$/m, done);
  // Each pushed blob is a finished bar at 100%, named by the target, short digest whole.
  const bars = done.split('\n').filter((l) => l.startsWith(`push ${target} `));
  assert.ok(bars.length >= 2, done);
  for (const bar of bars) assert.match(bar, /^push \S+ [0-9a-f]{12} \[=+\] 100% .* done$/, bar);
  assert.match(done, /Summary:\n.*RAN \d+\.\ds\n {2}total \d+\.\ds\n {2}\S+ sha256:[0-9a-f]{64}/, done);
});

test('tmux: base layers downloaded from a registry end as bars at 100%, named by reference and short digest', { skip: !hasTmux && 'tmux not installed' }, async () => {
  const { runCli } = await import('../helpers/cli.ts');
  const from = `${registry.host}/tty/base:1`;
  const pushed = await runCli(['copy', `oci:${base.layoutPath}:${base.tag}`, from, '-q']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const ctx = path.join(dir, 'ctx-pull');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${from}\nRUN echo pulled\n`);
  const command = [process.execPath, '--import', 'tsx', main, 'build', ctx, '--no-push', '--progress', 'tty'].map((a) => `'${a}'`).join(' ');
  const pane = 'pull';
  tmux('new-session', '-d', '-s', pane, '-x', '160', '-y', '50', '-c', root, `${command}; echo EXIT=$?; sleep 600`);
  const end = Date.now() + 60_000;
  let done = '';
  while (Date.now() < end && !/EXIT=\d+/.test(done)) {
    await sleep(100);
    done = tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', pane);
  }
  assert.match(done, /EXIT=0/, done);
  const short = base.layerDigest.slice(7, 19);
  const line = done.split('\n').find((l) => l.startsWith(`pull ${from} ${short} `));
  assert.ok(line, done);
  assert.match(line, /^pull \S+ [0-9a-f]{12} \[=+\] 100% .* done$/, line);
});
