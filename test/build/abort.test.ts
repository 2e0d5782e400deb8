// AbortSignal while a docker-archive tarball is being written: the build rejects with
// ERR_ABORTED, the partial tarball next to the target is removed, and so is the work folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, OcibuildError } from '../../src/index.ts';

test('abort during the tarball write: ERR_ABORTED, no partial tarball, no work folder', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-abort-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out');
  const work = path.join(dir, 'work');
  await fs.mkdir(out);
  await fs.mkdir(work);
  // Incompressible, so the tarball takes a while to write.
  await fs.writeFile(path.join(dir, 'big.bin'), randomBytes(48 * 1024 * 1024));
  const controller = new AbortController();
  let sawPartial = false;
  const watcher = watch(out, (_event, name) => {
    if (name !== null && name.startsWith('.image.tar-') && !controller.signal.aborted) {
      sawPartial = true;
      controller.abort(new Error('test abort'));
    }
  });
  t.after(() => watcher.close());
  const started = Date.now();
  await assert.rejects(
    buildImage({
      to: `docker-archive:${out}/image.tar`,
      layers: [{ directories: [{ source: dir, destination: '/data' }] }],
      workDir: work,
      signal: controller.signal,
    }),
    (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_ABORTED',
  );
  assert.ok(sawPartial, 'the abort came before the tarball was started');
  assert.ok(Date.now() - started < 60_000);
  assert.deepEqual(await fs.readdir(out), []);
  assert.deepEqual((await fs.readdir(work)).filter((n) => n.startsWith('ocibuild-')), []);
});
