// Cache messages of `ocibuild build`: a cold cache does not list every step as a miss unless
// --verbose is given; hits and misses with a reason (a changed source) are always shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli as cli } from '../helpers/cli.ts';

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
  assert.match(warm.stderr, /step hit \(local\): COPY a\.txt/, warm.stderr);
  assert.match(warm.stderr, /step miss \(source .*b\.txt changed\): COPY b\.txt/, warm.stderr);
});
