/**
 * A RUN whose command cannot start (FROM scratch has no /bin/sh) fails naming the Dockerfile
 * line, as BuildKit's errors carry their source (its testErrorsSourceMap: `run what` on scratch
 * points at line 3), and saying what is missing; nothing is written.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildImage, DockerfileError } from '../../src/index.ts';

test('a RUN that cannot start names its line and the missing program', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-run-start-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\n\nrun what\n');
  const out = path.join(dir, 'out');
  await assert.rejects(buildImage({ context: dir, dockerfile: 'Dockerfile', to: `oci:${out}:x`, cache: false }), (e: unknown) => {
    assert.ok(e instanceof DockerfileError, String(e));
    assert.equal(e.line, 3);
    assert.match(e.message, /^Dockerfile:3: RUN \/bin\/sh -c what could not start: \/bin\/sh is not in the image$/);
    return true;
  });
  await assert.rejects(fs.stat(out), { code: 'ENOENT' });
});
