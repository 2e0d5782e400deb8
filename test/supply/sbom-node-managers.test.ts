// The Node preset's SBOM with each package manager's real install (npm, pnpm, Yarn 1, from the
// npm registry): the same production packages whatever the layout (pnpm's store of links
// included), never a dev dependency, the same sha512 from each manager's lockfile (it is the
// published tarball's), and debug's dependency on ms found through each layout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { nodeAppSbomPackages } from '../../src/presets/sbom.ts';
import type { SbomPackage } from '../../src/supply/types.ts';
import { installManagers, installWith } from '../presets/package-managers.ts';

let tmp: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-sbom-managers-'));
  await installManagers();
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function makeApp(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `app-${name}`, version: '1.0.0', dependencies: { debug: '4.3.4', mkdirp: '1.0.4' }, devDependencies: { 'is-odd': '3.0.1' } }, null, 2),
  );
  return dir;
}

const results = new Map<string, SbomPackage[]>();

for (const manager of ['npm', 'pnpm', 'yarn1'] as const) {
  test(`${manager}: the production packages, their integrity and edges`, async () => {
    const dir = await makeApp(manager);
    await installWith(manager, dir, path.join(tmp, 'caches'));
    const packages = await nodeAppSbomPackages(dir);
    results.set(manager, packages);
    assert.deepEqual(
      packages.map((p) => p.purl),
      ['pkg:npm/debug@4.3.4', 'pkg:npm/mkdirp@1.0.4', 'pkg:npm/ms@2.1.2'],
    );
    for (const p of packages) {
      assert.equal(p.license, 'MIT', p.name);
      assert.equal(p.checksums?.[0]?.algorithm, 'SHA512', `${manager} recorded the sha512 of ${p.name}`);
      assert.match(p.checksums?.[0]?.value ?? '', /^[0-9a-f]{128}$/);
    }
    assert.deepEqual(packages[0]?.dependsOn, ['pkg:npm/ms@2.1.2']);
    assert.equal(packages[1]?.dependsOn, undefined);
  });
}

test('every manager records the same checksums (those of the published tarballs)', () => {
  const [first, ...others] = [...results.values()];
  assert.ok(first !== undefined && others.length === 2, 'the three installs ran');
  for (const other of others) assert.deepEqual(other.map((p) => p.checksums), first.map((p) => p.checksums));
});
