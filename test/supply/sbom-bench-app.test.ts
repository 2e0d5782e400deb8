// The SBOM of the benchmark Node app (bench/lib/app.ts, quick size) lists every production
// package of its lockfile and nothing else: a devDependency added to it (installed, in the
// lockfile with "dev": true) stays out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { nodeAppSbomPackages } from '../../src/presets/sbom.ts';
import { appSize, makeApp } from '../../bench/lib/app.ts';

let tmp: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-sbom-bench-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('the bench app SBOM is exactly the production set of its lockfile', async () => {
  const dir = path.join(tmp, 'app');
  await makeApp(dir, appSize(true));
  // A devDependency, installed and locked as npm would record it.
  const pkgFile = path.join(dir, 'package.json');
  const pkg = JSON.parse(await fs.readFile(pkgFile, 'utf8')) as { devDependencies?: Record<string, string> };
  pkg.devDependencies = { 'dev-only-tool': '2.0.0' };
  await fs.writeFile(pkgFile, JSON.stringify(pkg, null, 2));
  await fs.mkdir(path.join(dir, 'node_modules', 'dev-only-tool'), { recursive: true });
  await fs.writeFile(path.join(dir, 'node_modules', 'dev-only-tool', 'package.json'), JSON.stringify({ name: 'dev-only-tool', version: '2.0.0' }));
  const lockFile = path.join(dir, 'package-lock.json');
  const lock = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean; devDependencies?: Record<string, string> }> };
  lock.packages['node_modules/dev-only-tool'] = { version: '2.0.0', dev: true };
  (lock.packages[''] as { devDependencies?: Record<string, string> }).devDependencies = { 'dev-only-tool': '2.0.0' };
  await fs.writeFile(lockFile, JSON.stringify(lock, null, 2));

  const expected = Object.entries(lock.packages)
    .filter(([key, entry]) => key.startsWith('node_modules/') && entry.dev !== true)
    .map(([key, entry]) => `pkg:npm/${key.slice('node_modules/'.length)}@${entry.version}`)
    .sort();
  assert.ok(expected.length > 10, 'the bench app has production packages');
  const packages = await nodeAppSbomPackages(dir);
  assert.deepEqual(packages.map((p) => p.purl).sort(), expected);
  assert.ok(!packages.some((p) => p.name === 'dev-only-tool'));
});
