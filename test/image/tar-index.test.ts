/**
 * `indexTar` (the docker-archive reader's index) keeps its memory bounded on a hostile archive:
 * an extended header over `maxHeaderBytes` is refused before it is read into memory, and more
 * members than `maxEntries` stop the walk. An honest archive from GNU tar is indexed as before.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LimitExceededError } from '../../src/errors.ts';
import { indexTar } from '../../src/image/tar-index.ts';
import { ustarHeader as header } from '../helpers/tar.ts';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-tar-index-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('indexTar bounds', () => {
  it('refuses a PAX header over maxHeaderBytes, and GNU long names likewise', async () => {
    for (const type of ['x', 'L']) {
      const size = 2 << 20;
      const file = path.join(tmp, `big-${type}.tar`);
      // The body really is there (a truncated one is refused for that reason instead).
      fs.writeFileSync(file, Buffer.concat([header('x', type, size), Buffer.alloc(size, 0x41), header('f', '0', 0), Buffer.alloc(1024)]));
      await assert.rejects(indexTar(file, 'archive'), (e: unknown) => e instanceof LimitExceededError && e.limit === 'maxHeaderBytes', type);
      await assert.rejects(indexTar(file, 'archive', { maxHeaderBytes: 1 << 20, maxEntries: 10 }), { code: 'ERR_LIMIT_EXCEEDED' });
    }
  });

  it('stops at maxEntries and indexes an honest archive', async () => {
    const src = path.join(tmp, 'src');
    fs.mkdirSync(src);
    for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(src, `f${i}`), String(i));
    const file = path.join(tmp, 'many.tar');
    execFileSync('tar', ['--format=pax', '-cf', file, '-C', src, '.']);
    const members = await indexTar(file, 'archive');
    assert.equal(members.get('f7')?.size, 1);
    await assert.rejects(indexTar(file, 'archive', { maxHeaderBytes: 1 << 20, maxEntries: 5 }), (e: unknown) => e instanceof LimitExceededError && e.limit === 'maxEntries');
  });
});
