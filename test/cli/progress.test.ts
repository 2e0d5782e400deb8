// What `ocibuild build` shows (issue 13): RUN output streamed live in plain mode (each line of a
// RUN printing one line per second arrives within a second), `log` events in JSON mode, a failed
// step's whole output and command, the summary, and the CI output files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');

let dir: string;
let base: BusyboxLayout;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-progress-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Each stderr line with the time (ms since spawn) it arrived. */
  lines: { at: number; text: string }[];
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines: Run['lines'] = [];
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // Read as it comes: each line is stamped when it arrives, not when the process ends.
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) lines.push({ at: Date.now() - started, text });
    });
    child.on('close', (code) => resolve({ code, stdout, stderr, lines }));
  });
}

async function context(name: string, dockerfile: string): Promise<string> {
  const ctx = path.join(dir, name);
  await fs.mkdir(ctx, { recursive: true });
  await fs.writeFile(path.join(ctx, 'Dockerfile'), dockerfile.replace('BASE', `oci:${base.layoutPath}:${base.tag}`));
  return ctx;
}

test('plain: a RUN printing a line per second shows each line within a second', async () => {
  const ctx = await context('tick', 'FROM BASE\nRUN for i in 1 2 3 4; do echo tick-$i; sleep 1; done\n');
  const run = await cli(['build', ctx, '--no-push', '--progress', 'plain']);
  assert.equal(run.code, 0, run.stderr);
  const ticks = run.lines.filter((l) => /^#\d+ \d+\.\d{3} tick-\d$/.test(l.text));
  assert.deepEqual(ticks.map((l) => l.text.split(' ')[2]), ['tick-1', 'tick-2', 'tick-3', 'tick-4'], run.stderr);
  // The step header is BuildKit's: `#N [2/2] RUN ...`.
  const header = run.lines.find((l) => /^#\d+ \[2\/2\] RUN for i in/.test(l.text));
  assert.ok(header, run.stderr);
  const number = header.text.split(' ')[0];
  assert.ok(ticks.every((l) => l.text.startsWith(`${number} `)));
  // Lines arrive about a second apart (streamed), not all at the end: each some time after the
  // previous one, about three seconds from the first to the last. (Bounds wide enough for a
  // loaded CI machine, where a stall of a few hundred milliseconds moves one line.)
  for (let i = 1; i < ticks.length; i++) {
    const gap = (ticks[i]?.at ?? 0) - (ticks[i - 1]?.at ?? 0);
    assert.ok(gap > 250 && gap < 2500, `tick ${i} came ${gap} ms after the previous one:\n${run.stderr}`);
  }
  const span = (ticks[3]?.at ?? 0) - (ticks[0]?.at ?? 0);
  assert.ok(span > 2400 && span < 4500, `the ticks came over ${span} ms:\n${run.stderr}`);
  const done = run.lines.find((l) => l.text.startsWith(`${number} DONE `));
  assert.ok(done && done.at - (ticks[3]?.at ?? 0) < 2500, run.stderr);
  assert.match(run.stderr, /Summary:\n.*\[2\/2\] RUN for i in.*RAN \d+\.\ds\n {2}total \d+\.\ds/, run.stderr);
});

test('json: log events carry the step and the stream; step-start and step-end frame them', async () => {
  const ctx = await context('json', 'FROM BASE\nRUN echo out-line; echo err-line >&2\n');
  const run = await cli(['build', ctx, '--no-push'], { OCIBUILD_PROGRESS: 'json' });
  assert.equal(run.code, 0, run.stderr);
  const events = run.lines.map((l) => JSON.parse(l.text) as { type: string; step?: string; stream?: string; data?: string; name?: string; exitCode?: number });
  const start = events.find((e) => e.type === 'step-start');
  assert.equal(start?.name, '[2/2] RUN echo out-line; echo err-line >&2');
  const logs = events.filter((e) => e.type === 'log');
  assert.ok(logs.every((e) => e.step === start?.step));
  assert.equal(logs.filter((e) => e.stream === 'stdout').map((e) => e.data).join(''), 'out-line\n');
  assert.equal(logs.filter((e) => e.stream === 'stderr').map((e) => e.data).join(''), 'err-line\n');
  assert.equal(events.find((e) => e.type === 'step-end')?.exitCode, 0);
});

test('a failed step prints its whole output and the failing command, even in quiet mode', async () => {
  const ctx = await context('fail', 'FROM BASE\nRUN for i in $(seq 1 40); do echo line-$i; done; echo oops >&2; exit 3\n');
  for (const mode of ['quiet', 'tty', 'plain'] as const) {
    const run = await cli(['build', ctx, '--no-push', '--progress', mode]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /ERROR: \[2\/2\] RUN for i in .*: process "\/bin\/sh -c for i in .*exit 3" did not complete successfully: exit code: 3/, run.stderr);
    assert.match(run.stderr, /^oops$/m, `${mode}:\n${run.stderr}`);
    // quiet and tty show all of it; plain streamed it all already and repeats the last lines.
    if (mode !== 'plain') for (let i = 1; i <= 40; i++) assert.match(run.stderr, new RegExp(`^line-${i}$`, 'm'), `${mode}: line-${i}`);
    else assert.match(run.stderr, /^#\d+ \d+\.\d{3} line-1$/m);
  }
  // The cap bounds what is kept for the report.
  const capped = await cli(['build', ctx, '--no-push', '--progress', 'quiet'], { OCIBUILD_STEP_LOG_MAX_SIZE: '20' });
  assert.match(capped.stderr, /output clipped: \d+ bytes past the 20-byte cap/);
  assert.doesNotMatch(capped.stderr, /^line-40$/m);
});

test('--progress rejects an unknown mode with a usage error naming the flag', async () => {
  const ctx = await context('bad', 'FROM BASE\n');
  const run = await cli(['build', ctx, '--no-push', '--progress', 'fancy']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--progress must be one of auto, tty, plain, json, quiet/);
  const env = await cli(['build', ctx, '--no-push'], { OCIBUILD_PROGRESS: 'fancy' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /OCIBUILD_PROGRESS must be one of/);
});

test('multi-platform: step names lead with the platform, as BuildKit shows them', async () => {
  const multi = await buildBusyboxLayout(path.join(dir, 'multi-base'), { platforms: ['linux/amd64', 'linux/arm64'] });
  const ctx = path.join(dir, 'multi');
  await fs.mkdir(ctx, { recursive: true });
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM oci:${multi.layoutPath}:${multi.tag} AS build\nRUN echo one\nFROM build\nRUN echo two\n`);
  const run = await cli(['build', ctx, '--no-push', '--progress', 'plain', '--platform', 'linux/amd64,linux/arm64']);
  assert.equal(run.code, 0, run.stderr);
  for (const platform of ['linux/amd64', 'linux/arm64']) {
    assert.match(run.stderr, new RegExp(`^#\\d+ \\[${platform} build 2/2\\] RUN echo one$`, 'm'), run.stderr);
    assert.match(run.stderr, new RegExp(`^#\\d+ \\[${platform} stage-1 2/2\\] RUN echo two$`, 'm'), run.stderr);
  }
  // A single-platform build keeps BuildKit's plain `[2/2]`.
  const single = await cli(['build', ctx, '--no-push', '--progress', 'plain', '--platform', 'linux/arm64']);
  assert.equal(single.code, 0, single.stderr);
  assert.match(single.stderr, /^#\d+ \[build 2\/2\] RUN echo one$/m, single.stderr);
  // append names its layer steps the same way.
  await fs.mkdir(path.join(ctx, 'files'), { recursive: true });
  await fs.writeFile(path.join(ctx, 'files', 'file.txt'), 'x\n');
  const appended = await cli(['append', '--from', `oci:${multi.layoutPath}:${multi.tag}`, '--platform', 'all', '--layer', `${path.join(ctx, 'files')}:/files`, '--to', `oci:${path.join(dir, 'appended')}`, '--progress', 'plain']);
  assert.equal(appended.code, 0, appended.stderr);
  assert.match(appended.stderr, /^#\d+ \[linux\/arm64 1\/1\] /m, appended.stderr);
});
