// AbortSignal while a docker-archive tarball or a new oci: layout is being written: the build rejects with
// ERR_ABORTED, the partial tarball or staging folder next to the target is removed, and so is the work folder.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, OcibuildError } from '../../src/index.ts';

/** Where the build writes, and how its partial output next to `target` is recognised. */
interface AbortCase {
  /** The target's name inside the output folder. */
  target: string;
  /** The build's `to`, given the output folder. */
  to: (out: string) => string;
  /** The prefix of the partial file or staging folder the build makes next to the target. */
  partial: string;
  /** Also check, after each attempt, that no `ocibuild-*` work folder is left. */
  checkWork: boolean;
}

/**
 * Builds a 48 MiB incompressible layer and aborts as soon as the partial output appears: the
 * build rejects with ERR_ABORTED and leaves nothing next to the target. The abort races the
 * write (a file-system watch sees the partial output appear); when the write wins, the run
 * proves nothing and is tried again.
 */
async function assertAbortCleansUp(t: TestContext, c: AbortCase): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-abort-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out');
  const work = path.join(dir, 'work');
  await fs.mkdir(out);
  await fs.mkdir(work);
  // Incompressible, so the output takes a while to write.
  await fs.writeFile(path.join(dir, 'big.bin'), randomBytes(48 * 1024 * 1024));
  let aborted = false;
  for (let attempt = 0; attempt < 5 && !aborted; attempt++) {
    await fs.rm(path.join(out, c.target), { recursive: true, force: true });
    const controller = new AbortController();
    const watcher = watch(out, (_event, name) => {
      if (name !== null && name.startsWith(c.partial) && !controller.signal.aborted) controller.abort(new Error('test abort'));
    });
    try {
      await buildImage({ to: c.to(out), layers: [{ directories: [{ source: dir, destination: '/data' }] }], workDir: work, signal: controller.signal });
    } catch (error) {
      assert.ok(error instanceof OcibuildError && error.code === 'ERR_ABORTED', String(error));
      aborted = true;
    } finally {
      watcher.close();
    }
    // Either way: no partial output (and, where checked, no spilled blobs).
    assert.deepEqual((await fs.readdir(out)).filter((n) => n !== c.target), []);
    if (c.checkWork) assert.deepEqual((await fs.readdir(work)).filter((n) => n.startsWith('ocibuild-')), []);
  }
  assert.ok(aborted, 'the write always finished before the abort');
  assert.deepEqual(await fs.readdir(out), []);
}

test('abort during the tarball write: ERR_ABORTED, no partial tarball, no work folder', async (t) => {
  await assertAbortCleansUp(t, { target: 'image.tar', to: (out) => `docker-archive:${out}/image.tar`, partial: '.image.tar-', checkWork: true });
});

test('abort while a new oci: layout is staged: ERR_ABORTED, no staging folder, no layout', async (t) => {
  // The staging folder is made next to the target before the first blob is written.
  await assertAbortCleansUp(t, { target: 'layout', to: (out) => `oci:${out}/layout:v1`, partial: '.layout', checkWork: false });
});
