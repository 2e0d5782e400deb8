// JSON progress is rate-limited per transfer (issue 13): a blob reported every 64 KiB gives at
// most ~10 events a second, plus its first and last; other events all pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProgress, progressMode } from '../../src/cli/progress.ts';

test('json: blob-progress at most every 100 ms per blob, first and final always; other events all', async () => {
  const lines: string[] = [];
  const reporter = createProgress('json', { out: () => {}, err: (t) => lines.push(t), isTTY: false });
  const digest = 'sha256:' + 'ab'.repeat(32);
  const other = 'sha256:' + 'cd'.repeat(32);
  const total = 3200 * 65536;
  const started = Date.now();
  for (let i = 1; i <= 3200; i++) {
    reporter.onEvent({ type: 'copy', target: 't', event: { type: 'blob-progress', digest, bytes: i * 65536, total } });
    reporter.onEvent({ type: 'copy', target: 't', event: { type: 'blob-progress', digest: other, bytes: i, total: 10_000 } });
    if (i % 400 === 0) await sleep(60);
  }
  reporter.onEvent({ type: 'copy', target: 't', event: { type: 'blob-done', digest, bytes: total, total } });
  reporter.onEvent({ type: 'step-start', step: 's', name: '[2/2] RUN x', platform: 'linux/amd64', stage: 0 });
  reporter.onEvent({ type: 'log', step: 's', stream: 'stdout', data: 'a\n' });
  reporter.done();
  const elapsed = Date.now() - started;
  const events = lines.map((l) => JSON.parse(l) as { type: string; event?: { type: string; digest: string; bytes: number } });
  const progress = events.filter((e) => e.event?.type === 'blob-progress' && e.event.digest === digest);
  assert.ok(progress.length <= Math.ceil(elapsed / 100) + 2, `${progress.length} progress events in ${elapsed} ms`);
  assert.ok(progress.length >= 2);
  assert.equal(progress[0]?.event?.bytes, 65536, 'the first passes');
  assert.equal(progress[progress.length - 1]?.event?.bytes, total, 'the final one passes');
  assert.ok(events.some((e) => e.type === 'copy' && e.event?.type === 'blob-done'));
  assert.deepEqual(events.slice(-2).map((e) => e.type), ['step-start', 'log']);
  // The other blob is limited on its own.
  assert.ok(events.some((e) => e.event?.digest === other));
});

test('progress mode: flags, OCIBUILD_PROGRESS, terminal', () => {
  const tty = { out: () => {}, err: () => {}, isTTY: true };
  const pipe = { ...tty, isTTY: false };
  assert.equal(progressMode({}, tty, {}), 'tty');
  assert.equal(progressMode({}, pipe, {}), 'plain');
  assert.equal(progressMode({}, tty, { OCIBUILD_PROGRESS: 'plain' }), 'plain');
  assert.equal(progressMode({ progress: 'json' }, tty, { OCIBUILD_PROGRESS: 'plain' }), 'json');
  assert.equal(progressMode({ quiet: true, progress: 'tty' }, tty, {}), 'quiet');
  assert.equal(progressMode({ json: true }, tty, {}), 'json');
  assert.throws(() => progressMode({ progress: 'rainbow' }, tty, {}), /--progress must be one of/);
});
