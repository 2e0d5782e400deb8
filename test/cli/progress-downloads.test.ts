// Downloads have progress with their name (issue 13): base layers read from a registry (a RUN's
// root filesystem, `copy`, `warm`) are shown as `pull REF SHORTDIGEST` lines in plain mode,
// bars ending at 100% in tty mode, and `download` events (progress at most ~10 a second per
// blob, plus start and done) in JSON mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { runCli as cli } from '../helpers/cli.ts';
import { createProgress } from '../../src/cli/progress.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DownloadEvent, SourceEvent } from '../../src/index.ts';
import type { Transport } from '../../src/transports/types.ts';
import { withDownloadEvents } from '../../src/pipeline/source-events.ts';

let dir: string;
let base: BusyboxLayout;
let registry: TestRegistry;
let ref: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-downloads-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
  registry = await startRegistry();
  ref = `${registry.host}/dl/base:1`;
  const pushed = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, ref, '-q']);
  assert.equal(pushed.code, 0, pushed.stderr);
  await fs.mkdir(path.join(dir, 'ctx'));
  await fs.writeFile(path.join(dir, 'ctx', 'Dockerfile'), `FROM ${ref}\nRUN echo hello\n`);
});
after(async () => {
  await registry.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const short = (digest: string): string => digest.slice(7, 19);
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('plain: a RUN on a registry base shows a start and a done line per base layer, named by reference and short digest', async () => {
  const run = await cli(['build', path.join(dir, 'ctx'), '--no-push', '--progress', 'plain']);
  assert.equal(run.code, 0, run.stderr);
  const name = `pull ${escape(ref)} ${short(base.layerDigest)} \\d+\\.\\d (KiB|MiB)`;
  assert.match(run.stderr, new RegExp(`^${name}$`, 'm'), run.stderr);
  assert.match(run.stderr, new RegExp(`^${name} done$`, 'm'), run.stderr);
});

test('json: download events per blob, start and done, progress at most ~10 a second', async () => {
  const started = Date.now();
  const run = await cli(['build', path.join(dir, 'ctx'), '--no-push', '--json']);
  const elapsed = Date.now() - started;
  assert.equal(run.code, 0, run.stderr);
  const events = run.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string });
  const downloads = events.filter((e): e is DownloadEvent => e.type === 'download');
  const layer = downloads.filter((e) => e.digest === base.layerDigest);
  assert.equal(layer[0]?.phase, 'start', JSON.stringify(layer));
  assert.equal(layer[0]?.image, ref);
  const done = layer.filter((e) => e.phase === 'done');
  assert.equal(done.length, 1);
  assert.equal(done[0]?.bytes, done[0]?.total);
  const progress = layer.filter((e) => e.phase === 'progress');
  // Every blob of the run: its progress events are spread at least 100 ms apart (no timestamps in
  // the events, so the bound is checked against the whole build's time).
  for (const digest of new Set(downloads.map((e) => e.digest))) {
    const starts = downloads.filter((e) => e.digest === digest && e.phase === 'start').length;
    assert.equal(downloads.filter((e) => e.digest === digest && e.phase === 'done').length, starts, digest);
  }
  assert.ok(progress.every((e) => e.bytes < e.total));
  assert.ok(progress.length <= Math.ceil(elapsed / 100) + 1, `${progress.length} progress events in ${elapsed} ms`);
});

test('library: a slow blob emits start, progress at most every 100 ms, done', async () => {
  const digest = 'sha256:' + 'ef'.repeat(32);
  const chunks = 100;
  const fake = {
    description: 'fake',
    getManifest: () => Promise.reject(new Error('unused')),
    hasBlob: () => Promise.resolve(true),
    putManifest: () => Promise.reject(new Error('unused')),
    putBlob: () => Promise.reject(new Error('unused')),
    getBlob: () =>
      Promise.resolve(
        (async function* () {
          for (let i = 0; i < chunks; i++) {
            await sleep(10);
            yield new Uint8Array(10);
          }
        })(),
      ),
  } as unknown as Transport;
  const events: SourceEvent[] = [];
  const wrapped = withDownloadEvents(fake, 'r/x:1', (e) => events.push(e));
  const started = Date.now();
  let read = 0;
  for await (const chunk of await wrapped.getBlob({ mediaType: 'application/octet-stream', digest, size: chunks * 10 })) read += chunk.byteLength;
  const elapsed = Date.now() - started;
  assert.equal(read, chunks * 10);
  const phases = events.map((e) => (e.type === 'download' ? e.phase : e.type));
  assert.equal(phases[0], 'start');
  assert.equal(phases.at(-1), 'done');
  const progress = phases.filter((p) => p === 'progress').length;
  assert.ok(progress >= 3 && progress <= Math.ceil(elapsed / 100) + 1, `${progress} progress events in ${elapsed} ms`);
});

test('json renderer: download progress rate-limited per blob, start and done always pass', () => {
  const lines: string[] = [];
  const reporter = createProgress('json', { out: () => {}, err: (t) => lines.push(t), isTTY: false });
  const digest = 'sha256:' + 'ab'.repeat(32);
  const base = { type: 'download' as const, image: 'r/x:1', digest, total: 1000 };
  reporter.onEvent({ ...base, phase: 'start', bytes: 0 });
  for (let i = 1; i < 1000; i++) reporter.onEvent({ ...base, phase: 'progress', bytes: i });
  reporter.onEvent({ ...base, phase: 'done', bytes: 1000 });
  reporter.done();
  const phases = lines.map((l) => (JSON.parse(l) as DownloadEvent).phase);
  assert.deepEqual(phases, ['start', 'progress', 'done']);
});

test('tty renderer: a download ends as a bar at 100% named by reference and short digest', () => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  const reporter = createProgress('tty', { out: () => {}, err: () => {}, isTTY: true }, stream, { summary: false });
  const digest = 'sha256:' + 'cd'.repeat(32);
  const base = { type: 'download' as const, image: 'r/x:1', digest, total: 2 * 1024 * 1024 };
  reporter.onEvent({ ...base, phase: 'start', bytes: 0 });
  reporter.onEvent({ ...base, phase: 'progress', bytes: 1024 * 1024 });
  reporter.onEvent({ ...base, phase: 'done', bytes: base.total });
  reporter.done();
  assert.match(text, /pull r\/x:1 cdcdcdcdcdcd \[=+\] 100% 2\.0 MiB\/2\.0 MiB done\n/);
});

test('copy and warm from a registry show each blob downloaded', async () => {
  const copied = await cli(['copy', ref, `oci:${path.join(dir, 'copied')}:1`, '--progress', 'plain']);
  assert.equal(copied.code, 0, copied.stderr);
  assert.match(copied.stderr, new RegExp(`^pull ${escape(ref)} ${short(base.layerDigest)} .* done$`, 'm'), copied.stderr);
  const warmed = await cli(['warm', ref, '--cache-dir', path.join(dir, 'cache'), '--progress', 'plain']);
  assert.equal(warmed.code, 0, warmed.stderr);
  assert.match(warmed.stderr, new RegExp(`^pull ${escape(ref)} ${short(base.layerDigest)} .* done$`, 'm'), warmed.stderr);
});
