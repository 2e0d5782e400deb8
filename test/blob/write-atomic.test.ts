import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/blob/files.ts';

describe('writeFileAtomic', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-atomic-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes a new file and replaces an old one whole, leaving no temp file', async () => {
    const file = join(dir, 'digest');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, new TextEncoder().encode('second'), { mode: 0o600 });
    assert.equal(await readFile(file, 'utf8'), 'second');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['digest']);
  });

  it('leaves the target untouched and removes its temp file when the rename fails', async () => {
    const sub = join(dir, 'fails');
    await mkdir(join(sub, 'target'), { recursive: true });
    await mkdir(join(sub, 'target', 'inside'));
    // A non-empty directory cannot be replaced by a file.
    await assert.rejects(writeFileAtomic(join(sub, 'target'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'EISDIR' || e.code === 'ENOTEMPTY');
    assert.deepEqual(await readdir(sub), ['target']);
    assert.deepEqual(await readdir(join(sub, 'target')), ['inside']);
  });

  it('writes through the temp path it is given', async () => {
    const temps = join(dir, 'tmp');
    await mkdir(temps);
    await writeFileAtomic(join(dir, 'given'), 'y', { temp: join(temps, 'given.tmp') });
    assert.equal(await readFile(join(dir, 'given'), 'utf8'), 'y');
    assert.deepEqual(await readdir(temps), []);
  });
});
