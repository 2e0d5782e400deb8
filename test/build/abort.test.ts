// AbortSignal while a docker-archive tarball or a new oci: layout is being written: the build rejects with
// ERR_ABORTED, the partial tarball or staging folder next to the target is removed, and so is the work folder.
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
  // The abort races the write (a file-system watch sees the partial tarball appear); when the
  // write wins, the run proves nothing and is tried again.
  let aborted = false;
  for (let attempt = 0; attempt < 5 && !aborted; attempt++) {
    await fs.rm(path.join(out, 'image.tar'), { force: true });
    const controller = new AbortController();
    const watcher = watch(out, (_event, name) => {
      if (name !== null && name.startsWith('.image.tar-') && !controller.signal.aborted) controller.abort(new Error('test abort'));
    });
    try {
      await buildImage({
        to: `docker-archive:${out}/image.tar`,
        layers: [{ directories: [{ source: dir, destination: '/data' }] }],
        workDir: work,
        signal: controller.signal,
      });
    } catch (error) {
      assert.ok(error instanceof OcibuildError && error.code === 'ERR_ABORTED', String(error));
      aborted = true;
    } finally {
      watcher.close();
    }
    // Either way: no partial tarball, no spilled blobs.
    assert.deepEqual((await fs.readdir(out)).filter((n) => n !== 'image.tar'), []);
    assert.deepEqual((await fs.readdir(work)).filter((n) => n.startsWith('ocibuild-')), []);
  }
  assert.ok(aborted, 'the write always finished before the abort');
  assert.deepEqual(await fs.readdir(out), []);
});

test('abort while a new oci: layout is staged: ERR_ABORTED, no staging folder, no layout', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-abort-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out');
  const work = path.join(dir, 'work');
  await fs.mkdir(out);
  await fs.mkdir(work);
  await fs.writeFile(path.join(dir, 'big.bin'), randomBytes(48 * 1024 * 1024));
  let aborted = false;
  for (let attempt = 0; attempt < 5 && !aborted; attempt++) {
    await fs.rm(path.join(out, 'layout'), { recursive: true, force: true });
    const controller = new AbortController();
    // The staging folder is made next to the target before the first blob is written.
    const watcher = watch(out, (_event, name) => {
      if (name !== null && name.startsWith('.layout') && !controller.signal.aborted) controller.abort(new Error('test abort'));
    });
    try {
      await buildImage({ to: `oci:${out}/layout:v1`, layers: [{ directories: [{ source: dir, destination: '/data' }] }], workDir: work, signal: controller.signal });
    } catch (error) {
      assert.ok(error instanceof OcibuildError && error.code === 'ERR_ABORTED', String(error));
      aborted = true;
    } finally {
      watcher.close();
    }
    assert.deepEqual((await fs.readdir(out)).filter((n) => n !== 'layout'), []);
  }
  assert.ok(aborted, 'the write always finished before the abort');
  assert.deepEqual(await fs.readdir(out), []);
});
