// `ocibuild node packages/api` inside a monorepo (npm, pnpm, Yarn 1 and Yarn Berry workspaces,
// installed by the real managers): the image holds that package, the workspace sibling it
// depends on (with the sibling's own production dependencies) and their production
// dependencies, nothing else of the monorepo; it runs chrooted from its own directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, nodeApp } from '../../src/index.ts';
import { readImage } from '../helpers/tree.ts';
import { installManagers, installWith, type ManagerName } from './package-managers.ts';
import { BASE_NODE, composeRootfs, nodeBase, runApp, type NodeBase } from './node-base.ts';

let tmp: string;
let base: NodeBase;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-workspaces-'));
  [base] = await Promise.all([nodeBase(), installManagers()]);
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(value, null, 2));
}

/** root (dev: is-odd) · packages/lib (ms; dev is-number) · packages/api (lib, debug; dev mkdirp) · packages/other (mkdirp). */
async function makeMonorepo(manager: ManagerName): Promise<string> {
  const root = path.join(tmp, manager);
  const sibling = manager === 'pnpm' || manager === 'berry' ? 'workspace:*' : '*';
  await writeJson(path.join(root, 'package.json'), { name: 'mono', private: true, workspaces: ['packages/*'], devDependencies: { 'is-odd': '3.0.1' } });
  if (manager === 'pnpm') await fs.writeFile(path.join(root, 'pnpm-workspace.yaml'), "packages:\n  - 'packages/*'\n");
  await writeJson(path.join(root, 'packages/lib/package.json'), { name: '@acme/lib', version: '1.0.0', main: 'index.js', dependencies: { ms: '2.1.3' }, devDependencies: { 'is-number': '7.0.0' } });
  await fs.writeFile(path.join(root, 'packages/lib/index.js'), "module.exports = (n) => require('ms')(n);\n");
  await writeJson(path.join(root, 'packages/api/package.json'), { name: 'api', version: '2.0.0', main: 'server.js', dependencies: { '@acme/lib': sibling, debug: '4.3.4' }, devDependencies: { mkdirp: '1.0.4' } });
  await fs.writeFile(path.join(root, 'packages/api/server.js'), "console.log(['api', require('@acme/lib')(60000), typeof require('debug'), process.cwd()].join(' '));\n");
  await writeJson(path.join(root, 'packages/other/package.json'), { name: 'other', version: '1.0.0', dependencies: { mkdirp: '1.0.4' } });
  await fs.writeFile(path.join(root, 'packages/other/index.js'), '');
  return root;
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

/** Every package name installed (a package.json under a node_modules) in the image's /app. */
async function installedNames(appRoot: string): Promise<Set<string>> {
  const names = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name === 'package.json' && full.includes(`${path.sep}node_modules${path.sep}`)) names.add((JSON.parse(await fs.readFile(full, 'utf8')) as { name: string }).name);
    }
  };
  await walk(appRoot);
  return names;
}

for (const manager of ['npm', 'pnpm', 'yarn1', 'berry'] as const) {
  test(`${manager} workspace: one package, its sibling and their production dependencies`, async () => {
    const root = await makeMonorepo(manager);
    await installWith(manager, root, path.join(tmp, 'caches'));
    const out = path.join(tmp, `out-${manager}`);
    const options = await nodeApp(path.join(root, 'packages', 'api'), { from: base.ref, to: `oci:${out}:v1`, cache: { dir: path.join(tmp, 'cache') } });
    assert.equal(options.nodeApp.productionOnly, true);
    assert.deepEqual(options.nodeApp.entrypoint, [BASE_NODE, '/app/packages/api/server.js'], "the base's absolute node");
    await buildImage(options);
    const { config, manifest } = await readImage(out, 'v1');
    assert.equal(manifest.layers.length, base.layerCount + 3, 'dependencies, workspace packages, app');
    assert.equal(config.config?.WorkingDir, '/app/packages/api');
    const rootfs = await composeRootfs(base, out, 'v1', path.join(tmp, `rootfs-${manager}`));
    const app = path.join(rootfs, 'app');
    assert.deepEqual((await fs.readdir(path.join(app, 'packages'))).sort(), ['api', 'lib'], 'packages/other is not shipped');
    assert.ok(await exists(path.join(app, 'packages/lib/index.js')));
    assert.ok(!(await exists(path.join(app, 'package.json'))), "the workspace root's package.json is not shipped");
    const names = await installedNames(app);
    for (const name of ['ms', 'debug']) assert.ok(names.has(name), `${name} shipped`);
    for (const name of ['mkdirp', 'is-odd', 'is-number']) assert.ok(!names.has(name), `${name} (dev, or another package's) left out`);
    assert.equal((await runApp(rootfs, config.config ?? {})).trim(), 'api 1m function /app/packages/api');
  });
}
