// The one-file rebuild's fast path (the dependency layer's key taken from its inputs record,
// src/cache/layer-inputs.ts) writes exactly what a build without any cache writes: the same
// image digest and the same set of blobs (layers, config, manifests, SBOM, provenance) in an
// `oci:` layout, blobs being content-addressed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, nodeApp } from '../../src/index.ts';
import { RACY_WINDOW_NS } from '../../src/cache/layer-inputs.ts';

let tmp: string;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-fast-rebuild-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** An app with a v3 lockfile, three installed production packages (one scoped, one nested) and a few sources. */
async function makeApp(dir: string): Promise<void> {
  const deps = ['alpha', '@scope/beta', 'gamma'];
  const packages: Record<string, unknown> = { '': { name: 'fast', version: '1.0.0', dependencies: Object.fromEntries(deps.map((d) => [d, '1.0.0'])) } };
  for (const name of deps) {
    const pkgDir = path.join(dir, 'node_modules', name);
    await fs.mkdir(path.join(pkgDir, 'lib'), { recursive: true });
    await fs.writeFile(path.join(pkgDir, 'package.json'), JSON.stringify({ name, version: '1.0.0', license: 'MIT' }));
    await fs.writeFile(path.join(pkgDir, 'lib', 'index.js'), `module.exports = ${JSON.stringify(name)};\n`.repeat(50));
    packages[`node_modules/${name}`] = { version: '1.0.0', license: 'MIT' };
  }
  const nested = path.join(dir, 'node_modules', 'gamma', 'node_modules', 'alpha');
  await fs.mkdir(nested, { recursive: true });
  await fs.writeFile(path.join(nested, 'package.json'), JSON.stringify({ name: 'alpha', version: '0.9.0' }));
  packages['node_modules/gamma/node_modules/alpha'] = { version: '0.9.0' };
  (packages['node_modules/gamma'] as Record<string, unknown>).dependencies = { alpha: '0.9.0' };
  await fs.writeFile(path.join(nested, 'index.js'), 'module.exports = 0.9;\n');
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'fast', version: '1.0.0', main: 'src/index.js', dependencies: (packages[''] as { dependencies: unknown }).dependencies }));
  await fs.writeFile(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'fast', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
  await fs.mkdir(path.join(dir, 'src'), { recursive: true });
  for (let i = 0; i < 5; i++) await fs.writeFile(path.join(dir, 'src', i === 0 ? 'index.js' : `m${i}.js`), `module.exports = ${i};\n`);
}

async function blobs(layout: string): Promise<string[]> {
  return (await fs.readdir(path.join(layout, 'blobs', 'sha256'))).sort();
}

test('a one-file rebuild through the inputs record is byte-identical to a cache-less build', async () => {
  const app = path.join(tmp, 'app');
  await makeApp(app);
  const cache = { dir: path.join(tmp, 'cache') };
  const build = async (name: string, withCache: boolean) => {
    const layout = path.join(tmp, name);
    const options = await nodeApp(app, { from: 'scratch', to: `oci:${layout}:app`, cache: withCache ? cache : false });
    return { layout, result: await buildImage(options) };
  };
  // Outside the racy window, so the first build records the dependency layer's inputs.
  await new Promise((r) => setTimeout(r, Number(RACY_WINDOW_NS / 1_000_000n) + 100));
  await build('first', true);
  const records = await fs.readdir(path.join(cache.dir, 'inputs'));
  assert.equal(records.length, 2, 'the dependency layer and the app layer are recorded');

  const inodes = async (): Promise<bigint[]> => Promise.all(records.map(async (r) => (await fs.stat(path.join(cache.dir, 'inputs', r), { bigint: true })).ino));
  const before = await inodes();

  await fs.appendFile(path.join(app, 'src', 'm3.js'), '// edited\n');
  const fast = await build('fast', true);
  // A layer that went the full way rewrites its record (atomically: a new inode) unless its
  // inputs are racy, as the just-edited app layer's are; the dependency layer's record was
  // only read, so the fast path was taken.
  assert.deepEqual(await inodes(), before, 'no record rewritten: the dependency layer came from its record');
  assert.equal(fast.result.stats.layersCached, 1, 'the dependency layer came from the cache');
  assert.equal(fast.result.stats.layersBuilt, 1, 'the app layer was written again');
  const plain = await build('plain', false);
  assert.equal(fast.result.digest, plain.result.digest);
  assert.deepEqual(await blobs(fast.layout), await blobs(plain.layout), 'the same layers, config, manifests and attachments');
  assert.deepEqual(
    JSON.parse(await fs.readFile(path.join(fast.layout, 'index.json'), 'utf8')),
    JSON.parse(await fs.readFile(path.join(plain.layout, 'index.json'), 'utf8')),
  );
  assert.equal((fast.result.attachments ?? []).length, 2, 'SBOM and provenance attached');
});
