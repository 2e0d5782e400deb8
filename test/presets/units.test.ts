// Pure pieces of the Node preset: node_modules path ownership, passwd parsing and user
// resolution, reading a file through layers (top wins, whiteouts hide), creation times,
// lockfile detection and fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { owningPackage, selectDependencies } from '../../src/presets/lockfile.ts';
import { parsePasswd, readImageFile, resolveUser } from '../../src/presets/passwd.ts';
import { neverCopied, parseCreationTime } from '../../src/presets/node.ts';
import { memorySource } from '../../src/image/memory.ts';
import { writeLayer } from '../../src/layer/write.ts';
import type { LayerSpec } from '../../src/layer/types.ts';

test('owningPackage finds the package a node_modules path belongs to', () => {
  assert.deepEqual(owningPackage('node_modules'), { kind: 'container' });
  assert.deepEqual(owningPackage('node_modules/@s'), { kind: 'container' });
  assert.deepEqual(owningPackage('node_modules/.bin'), { kind: 'container' });
  assert.deepEqual(owningPackage('node_modules/.bin/x'), { kind: 'bin' });
  assert.deepEqual(owningPackage('node_modules/a/lib/x.js'), { kind: 'package', key: 'node_modules/a' });
  assert.deepEqual(owningPackage('node_modules/@s/a/x.js'), { kind: 'package', key: 'node_modules/@s/a' });
  assert.deepEqual(owningPackage('node_modules/a/node_modules/@s/b/y'), { kind: 'package', key: 'node_modules/a/node_modules/@s/b' });
  assert.deepEqual(owningPackage('node_modules/a/node_modules'), { kind: 'package', key: 'node_modules/a' });
  assert.deepEqual(owningPackage('src/x.js'), { kind: 'outside' });
});

test('passwd parsing and user resolution', () => {
  const users = parsePasswd('root:x:0:0:root:/root:/bin/sh\n# c\nbad line\nnode:x:1000:1001::/home/node:/bin/sh\n');
  assert.deepEqual(users.map((u) => u.name), ['root', 'node']);
  assert.deepEqual(resolveUser('node', users), { uid: 1000, gid: 1001 });
  assert.deepEqual(resolveUser('node:5', users), { uid: 1000, gid: 5 });
  assert.deepEqual(resolveUser('1000', users), { uid: 1000, gid: 1001 });
  assert.deepEqual(resolveUser('42:43', users), { uid: 42, gid: 43 });
  assert.deepEqual(resolveUser('42', users), { uid: 42, gid: 42 });
  assert.equal(resolveUser('nobody', users), undefined);
});

test('readImageFile: the top-most layer wins, a whiteout or opaque dir hides lower copies', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-readfile-'));
  try {
    const source = memorySource();
    const layer = async (spec: LayerSpec) => {
      const built = await writeLayer(spec, { directory: dir });
      source.addBlob(built.descriptor, () => built.open());
      return built.descriptor;
    };
    const text = (s: string) => new TextEncoder().encode(s);
    const bottom = await layer({ entries: [{ type: 'file', path: '/etc/passwd', source: text('bottom\n') }] });
    const top = await layer({ entries: [{ type: 'file', path: '/etc/passwd', source: text('top\n') }] });
    const unrelated = await layer({ entries: [{ type: 'file', path: '/other', source: text('x') }] });
    const whiteout = await layer({ entries: [{ type: 'whiteout', path: '/etc/passwd' }] });
    const opaque = await layer({ entries: [{ type: 'opaque', path: '/etc' }] });
    const read = async (layers: typeof bottom[]) => {
      const bytes = await readImageFile(source, layers, '/etc/passwd');
      return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
    };
    assert.equal(await read([bottom, top, unrelated]), 'top\n');
    assert.equal(await read([bottom, unrelated]), 'bottom\n');
    assert.equal(await read([bottom, whiteout]), undefined);
    assert.equal(await read([bottom, opaque]), undefined);
    assert.equal(await read([bottom, whiteout, top]), 'top\n');
    assert.equal(await read([unrelated]), undefined);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('creation times and never-copied paths', () => {
  assert.equal(parseCreationTime(undefined), undefined);
  assert.equal(parseCreationTime('EPOCH'), 0);
  assert.equal(parseCreationTime('2024-01-02T03:04:05Z'), 1704164645);
  assert.equal(parseCreationTime('17'), 17);
  assert.ok(Math.abs((parseCreationTime('USE_CURRENT_TIMESTAMP') as number) - Date.now() / 1000) < 5);
  assert.throws(() => parseCreationTime('soon'), /creationTime/);
  for (const p of ['.git', '.git/HEAD', 'sub/.git/x', '.env', '.env.local', 'cfg/.env.prod', 'node_modules/x', 'lib/node_modules/.cache/y']) assert.ok(neverCopied(p), p);
  for (const p of ['src/x.js', 'environment.js', 'lib/node_modules/x']) assert.ok(!neverCopied(p), p);
});

test('lockfile detection: pnpm and yarn keep node_modules whole with a note; npm v1 too', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-lock-'));
  try {
    const none = await selectDependencies(dir);
    assert.equal(none.lockfile, 'none');
    assert.equal(none.filter('node_modules/a/x'), true);
    assert.equal(none.filter('node_modules/.cache/x'), false);
    await fs.writeFile(path.join(dir, 'yarn.lock'), '# yarn\n');
    const yarn = await selectDependencies(dir);
    assert.equal(yarn.lockfile, 'yarn');
    assert.match(yarn.notes.join(), /yarn\.lock/);
    await fs.writeFile(path.join(dir, 'pnpm-lock.yaml'), 'lockfileVersion: 9\n');
    assert.equal((await selectDependencies(dir)).lockfile, 'pnpm');
    await fs.writeFile(path.join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 1, dependencies: {} }));
    const v1 = await selectDependencies(dir);
    assert.equal(v1.lockfile, 'npm');
    assert.equal(v1.productionOnly, false);
    assert.match(v1.notes.join(), /lockfileVersion 1/);
    await fs.writeFile(
      path.join(dir, 'package-lock.json'),
      JSON.stringify({ lockfileVersion: 3, packages: { '': {}, 'node_modules/a': {}, 'node_modules/d': { dev: true }, 'node_modules/o': { devOptional: true } } }),
    );
    const v3 = await selectDependencies(dir);
    assert.equal(v3.productionOnly, true);
    assert.deepEqual(v3.excludedPackages, ['node_modules/d']);
    assert.equal(v3.filter('node_modules/a/index.js'), true);
    assert.equal(v3.filter('node_modules/d'), false);
    assert.equal(v3.filter('node_modules/d/node_modules/x/y.js'), false, 'nested under a dev package');
    assert.equal(v3.filter('node_modules/o/index.js'), true, 'devOptional stays (optional dependency of production code)');
    assert.equal(v3.filter('node_modules/.package-lock.json'), false);
    assert.equal((await selectDependencies(dir, { includeDev: true })).filter('node_modules/d'), true);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
