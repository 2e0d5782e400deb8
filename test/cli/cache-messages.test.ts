// Cache messages of `ocibuild build`: a cold cache does not list every step as a miss unless
// --verbose is given; hits (BuildKit's plain `#N [2/3] COPY ...` then `#N CACHED`, with where the
// hit came from) and misses with a reason (a changed source) are always shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli as cli } from '../helpers/cli.ts';
import { createProgress } from '../../src/cli/progress.ts';

test('cold cache: no miss per step unless --verbose; explained misses and hits shown', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cache-msg-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
  await fs.writeFile(path.join(ctx, 'a.txt'), 'a\n');
  await fs.writeFile(path.join(ctx, 'b.txt'), 'b\n');
  const build = (cache: string, ...extra: string[]) => cli(['build', ctx, '--no-push', '--cache-dir', path.join(dir, cache), ...extra]);

  const cold = await build('c1');
  assert.equal(cold.code, 0, cold.stderr);
  assert.doesNotMatch(cold.stderr, /step miss/, cold.stderr);

  const verbose = await build('c2', '--verbose');
  assert.equal(verbose.code, 0, verbose.stderr);
  assert.equal(verbose.stderr.match(/step miss/g)?.length, 2, verbose.stderr);

  await fs.writeFile(path.join(ctx, 'b.txt'), 'changed\n');
  const warm = await build('c1');
  assert.equal(warm.code, 0, warm.stderr);
  const hit = /^#(\d+) \[2\/3\] COPY a\.txt \/a\.txt\n#(\d+) CACHED \(local\)$/m.exec(warm.stderr);
  assert.ok(hit, warm.stderr);
  assert.equal(hit[1], hit[2], 'the CACHED line has the step\'s number');
  assert.doesNotMatch(warm.stderr, /step hit/, warm.stderr);
  assert.match(warm.stderr, /step miss \(source .*b\.txt changed\): COPY b\.txt/, warm.stderr);
});

test('tty: a cache hit is one finished-step line with its source', () => {
  let text = '';
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => (text += d.toString()));
  const reporter = createProgress('tty', { out: () => {}, err: () => {}, isTTY: true }, stream, { summary: false });
  reporter.onEvent({ type: 'step', platform: 'linux/amd64', stage: 0, step: 1, instruction: 'RUN make', name: '[2/3] RUN make', status: 'hit', source: 'registry' });
  reporter.done();
  assert.match(text, /^#1 \[2\/3\] RUN make {2}CACHED \(registry\)$/m);
});
