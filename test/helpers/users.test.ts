/** The rootless test helpers say which folder keeps the unprivileged user from the repository. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertReachable, ensureUnprivilegedUser, isRoot } from './users.ts';

it('names the folder the unprivileged test user cannot traverse, and accepts the repository', { skip: !isRoot() && 'needs root' }, () => {
  const user = ensureUnprivilegedUser();
  const closed = fs.mkdtempSync(path.join(os.tmpdir(), 'ocibuild-reach-'));
  try {
    fs.chmodSync(closed, 0o700);
    assert.throws(() => assertReachable(user, path.join(closed, 'repo')), new RegExp(`${closed} has mode 0700`));
    fs.chmodSync(closed, 0o711);
    assertReachable(user, closed);
    assertReachable(user, new URL('../..', import.meta.url).pathname);
  } finally {
    fs.rmSync(closed, { recursive: true, force: true });
  }
});
