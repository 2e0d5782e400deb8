/**
 * The build arg SOURCE_DATE_EPOCH pins a build's times as `sourceDateEpoch` and the variable do,
 * as in BuildKit (testReproSourceDateEpoch, testSourceDateEpochWithoutExporter); a value that is
 * not whole seconds is refused with BuildKit's words.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildImage, InvalidArgumentError } from '../../src/index.ts';

test('--build-arg SOURCE_DATE_EPOCH sets created and every history time; a bad value is refused', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-sde-arg-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nENTRYPOINT foo bar\nCOPY Dockerfile .\n');
  const result = await buildImage({ context: dir, dockerfile: 'Dockerfile', buildArgs: { SOURCE_DATE_EPOCH: '1700000001' }, to: `oci:${path.join(dir, 'out')}:x`, cache: false });
  assert.equal(result.config.created, '2023-11-14T22:13:21Z');
  assert.equal(result.config.history?.length, 2);
  assert.ok((result.config.history ?? []).every((h) => h.created === '2023-11-14T22:13:21Z'), JSON.stringify(result.config.history));
  // The option wins over the build arg.
  const option = await buildImage({ context: dir, dockerfile: 'Dockerfile', sourceDateEpoch: 5, buildArgs: { SOURCE_DATE_EPOCH: '1700000001' }, to: `oci:${path.join(dir, 'out')}:y`, cache: false });
  assert.equal(option.config.created, '1970-01-01T00:00:05Z');
  await assert.rejects(
    buildImage({ context: dir, dockerfile: 'Dockerfile', buildArgs: { SOURCE_DATE_EPOCH: 'not-a-timestamp' }, to: `oci:${path.join(dir, 'bad')}:x`, cache: false }),
    (e: unknown) => e instanceof InvalidArgumentError && /invalid SOURCE_DATE_EPOCH: not-a-timestamp/.test(e.message),
  );
  await assert.rejects(fs.stat(path.join(dir, 'bad')), { code: 'ENOENT' });
});
