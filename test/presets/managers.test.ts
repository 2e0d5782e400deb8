// The Node preset with every package manager: the same app installed from the npm registry
// by npm, pnpm, Yarn 1, Yarn Berry (node-modules linker) and Bun, built on a distroless-style
// base, its dependency layer checked (production packages in, dev packages out, each
// manager's own layout kept) and the image run chrooted. A devDependency bump keeps the
// dependency layer; Yarn Plug'n'Play is refused with what to do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, nodeApp, OcibuildError } from '../../src/index.ts';
import { readImage } from '../helpers/tree.ts';
import { installManagers, installWith, type ManagerName } from './package-managers.ts';
import { composeRootfs, nodeBase, runApp, type NodeBase } from './node-base.ts';

let tmp: string;
let base: NodeBase;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-managers-'));
  [base] = await Promise.all([nodeBase(), installManagers()]);
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const SERVER = `const debug = require('debug');
const mkdirp = require('mkdirp');
let dev = 'dev-absent';
try { require('is-odd'); dev = 'dev-present'; } catch {}
console.log(['ok', typeof debug, typeof mkdirp.sync, debug.humanize(1500), dev].join(' '));
`;

async function makeApp(name: string, devVersion = '3.0.1'): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `app-${name}`, version: '1.0.0', main: 'server.js', dependencies: { debug: '4.3.4', mkdirp: '1.0.4' }, devDependencies: { 'is-odd': devVersion } }, null, 2),
  );
  await fs.writeFile(path.join(dir, 'server.js'), SERVER);
  return dir;
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

const expectedLockfile: Record<ManagerName, string> = { npm: 'npm', pnpm: 'pnpm', yarn1: 'yarn', berry: 'yarn-berry', bun: 'bun' };

for (const manager of ['npm', 'pnpm', 'yarn1', 'berry', 'bun'] as const) {
  test(`${manager}: production dependencies only, the manager's layout, the app runs`, async () => {
    const dir = await makeApp(manager);
    await installWith(manager, dir, path.join(tmp, 'caches'));
    const out = path.join(tmp, `out-${manager}`);
    const options = await nodeApp(dir, { from: base.ref, to: `oci:${out}:v1`, cache: { dir: path.join(tmp, 'cache') } });
    assert.equal(options.nodeApp.lockfile, expectedLockfile[manager]);
    assert.equal(options.nodeApp.productionOnly, true);
    await buildImage(options);
    const { config, manifest } = await readImage(out, 'v1');
    assert.equal(manifest.layers.length, base.layerCount + 2, 'dependencies and app layers');
    const rootfs = await composeRootfs(base, out, 'v1', path.join(tmp, `rootfs-${manager}`));
    const nm = path.join(rootfs, 'app', 'node_modules');
    // Production packages resolve (through pnpm's links too); dev ones are gone in any layout.
    assert.equal(JSON.parse(await fs.readFile(path.join(nm, 'debug', 'package.json'), 'utf8')).version, '4.3.4');
    assert.equal(JSON.parse(await fs.readFile(path.join(nm, 'mkdirp', 'package.json'), 'utf8')).version, '1.0.4');
    assert.ok(await exists(path.join(nm, '.bin', 'mkdirp')), '.bin of a production package kept');
    for (const gone of ['is-odd', 'is-number']) assert.ok(!(await exists(path.join(nm, gone))), `${gone} left out`);
    if (manager === 'pnpm') {
      const store = await fs.readdir(path.join(nm, '.pnpm'));
      assert.deepEqual(store.filter((e) => e !== 'node_modules').sort(), ['debug@4.3.4', 'mkdirp@1.0.4', 'ms@2.1.2']);
      assert.equal((await fs.lstat(path.join(nm, 'debug'))).isSymbolicLink(), true, 'pnpm links kept as links');
      assert.ok(!(await exists(path.join(nm, '.modules.yaml'))) && !(await exists(path.join(nm, '.pnpm', 'lock.yaml'))), "pnpm's bookkeeping left out");
    } else {
      assert.ok(await exists(path.join(nm, 'ms', 'package.json')), 'transitive production dependency');
    }
    for (const junk of ['.package-lock.json', '.yarn-integrity', '.yarn-state.yml']) assert.ok(!(await exists(path.join(nm, junk))), junk);
    assert.equal((await runApp(rootfs, config.config ?? {})).trim(), 'ok function function 2s dev-absent');
  });
}

test('pnpm: a devDependency bump leaves the dependency layer as it was (a cache hit)', async () => {
  const dir = await makeApp('bump', '3.0.1');
  await installWith('pnpm', dir, path.join(tmp, 'caches'));
  const cache = { dir: path.join(tmp, 'bump-cache') };
  const first = await buildImage(await nodeApp(dir, { from: base.ref, to: `oci:${path.join(tmp, 'bump-out')}:1`, cache }));
  const pkgFile = path.join(dir, 'package.json');
  const pkg = JSON.parse(await fs.readFile(pkgFile, 'utf8')) as { devDependencies: Record<string, string> };
  pkg.devDependencies['is-odd'] = '2.0.0';
  await fs.writeFile(pkgFile, JSON.stringify(pkg, null, 2));
  await installWith('pnpm', dir, path.join(tmp, 'caches'));
  assert.ok(await exists(path.join(dir, 'node_modules', '.pnpm', 'is-odd@2.0.0')), 'the bump was installed');
  const second = await buildImage(await nodeApp(dir, { from: base.ref, to: `oci:${path.join(tmp, 'bump-out')}:2`, cache }));
  const depsIndex = base.layerCount;
  assert.equal(second.manifest.layers[depsIndex]?.digest, first.manifest.layers[depsIndex]?.digest);
  assert.equal(second.stats.layersCached, 1, 'the dependency layer came from the cache');
  assert.notEqual(second.digest, first.digest, 'package.json is in the app layer');
});

test("Yarn Plug'n'Play is refused with what to change; a required dependency not installed is named", async () => {
  const dir = await makeApp('pnp');
  await fs.writeFile(path.join(dir, '.yarnrc.yml'), 'nodeLinker: pnp\n');
  await installWith('berry', dir, path.join(tmp, 'caches'));
  await assert.rejects(nodeApp(dir, { from: base.ref, to: `oci:${path.join(tmp, 'pnp')}` }), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_UNSUPPORTED' && /nodeLinker: node-modules/.test(e.message));

  const bare = await makeApp('not-installed');
  await fs.writeFile(path.join(bare, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: {} }));
  await assert.rejects(nodeApp(bare, { from: base.ref, to: `oci:${path.join(tmp, 'bare')}` }), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_SOURCE_NOT_FOUND' && /debug \(a dependency of app-not-installed/.test(e.message));
});
