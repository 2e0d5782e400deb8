// Native packages for every target platform without emulation: an app depending on esbuild
// (installed by npm from the registry on this x64 machine) built for linux/amd64 and
// linux/arm64 gets @esbuild/linux-x64 resp. @esbuild/linux-arm64 (an ELF of the right
// machine, the arm64 one fetched from the lockfile's URL and checked against its integrity)
// and never the other; a tampered integrity fails; a package that compiled a .node file at
// install fails for the foreign platform with its name unless --deps-dir supplies that
// platform's node_modules; the base's libc is read from its layer names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, nodeApp, OcibuildError } from '../../src/index.ts';
import { scanBase } from '../../src/presets/base-scan.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { readImage } from '../helpers/tree.ts';
import { installWith } from './package-managers.ts';
import { composeRootfs, nodeBase, runApp } from './node-base.ts';

const run = promisify(execFile);
const ESBUILD = '0.23.1';
const ELF_MACHINE: Record<string, number> = { 'linux-x64': 62, 'linux-arm64': 183 };

let tmp: string;
let base: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-platforms-'));
  const layout = await buildBusyboxLayout(path.join(tmp, 'busybox'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
  base = `oci:${layout.layoutPath}:multi`;
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(value, null, 2));
}

/** The files of the image's dependency layer (the first layer above the one-layer base) for `platform`. */
async function depsLayerFiles(layout: string, platform: string, dest: string): Promise<string> {
  const { manifest } = await readImage(layout, 'v1', platform);
  const layer = manifest.layers[1];
  assert.ok(layer, 'a dependency layer');
  await fs.mkdir(dest, { recursive: true });
  await run('tar', ['-xzf', path.join(layout, 'blobs', 'sha256', layer.digest.slice(7)), '-C', dest]);
  return dest;
}

async function elfMachine(file: string): Promise<number> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(20);
    await handle.read(head, 0, 20, 0);
    assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is an ELF file`);
    return head.readUInt16LE(18);
  } finally {
    await handle.close();
  }
}

for (const manager of ['npm', 'pnpm', 'yarn1', 'berry', 'bun'] as const) {
  test(`${manager}: esbuild for linux/amd64 and linux/arm64, each platform with its own binary package, fetched and verified`, async () => {
    const app = path.join(tmp, `esbuild-${manager}`);
    await writeJson(path.join(app, 'package.json'), { name: 'bundler', version: '1.0.0', main: 'index.js', dependencies: { esbuild: ESBUILD } });
    await fs.writeFile(path.join(app, 'index.js'), "console.log(require('esbuild').version);\n");
    await installWith(manager, app, path.join(tmp, 'caches'));
    const out = path.join(tmp, `esbuild-out-${manager}`);
    const cache = { dir: path.join(tmp, 'cache') };
    const options = await nodeApp(app, { from: base, platforms: ['linux/amd64', 'linux/arm64'], to: `oci:${out}:v1`, cache });
    assert.deepEqual(options.nodeApp.platformPackages['linux/arm64'], { added: [`@esbuild/linux-arm64@${ESBUILD}`], excluded: ['@esbuild/linux-x64'] });
    assert.deepEqual(options.nodeApp.platformPackages['linux/amd64'], { added: [], excluded: [] });
    const result = await buildImage(options);
    assert.equal(result.index?.manifests.length, 2);
    for (const [platform, mine, other] of [
      ['linux/amd64', 'linux-x64', 'linux-arm64'],
      ['linux/arm64', 'linux-arm64', 'linux-x64'],
    ] as const) {
      const files = await depsLayerFiles(out, platform, path.join(tmp, `deps-${manager}-${mine}`));
      const nm = path.join(files, 'app', 'node_modules');
      // Where require('esbuild') looks for its platform package: beside esbuild's real directory.
      const holder = path.dirname(await fs.realpath(path.join(nm, 'esbuild')));
      assert.equal(await elfMachine(await fs.realpath(path.join(holder, '@esbuild', mine, 'bin', 'esbuild'))), ELF_MACHINE[mine], `${platform}: @esbuild/${mine} is for the right machine`);
      assert.equal(JSON.parse(await fs.readFile(path.join(holder, '@esbuild', mine, 'package.json'), 'utf8')).version, ESBUILD);
      await assert.rejects(fs.stat(path.join(holder, '@esbuild', other)), `${platform}: no @esbuild/${other}`);
      if (manager === 'pnpm') {
        const store = await fs.readdir(path.join(nm, '.pnpm'));
        assert.ok(!store.some((e) => e.includes(other)), `${platform}: no store entry for ${other}: ${store.join(', ')}`);
      }
      await fs.access(path.join(holder, 'esbuild', 'lib', 'main.js'));
    }
    if (manager !== 'npm') return;

    // The host's variant runs: esbuild's JS API starts the native binary from the layer.
    if (process.arch === 'x64') {
      await fs.writeFile(path.join(app, 'index.js'), "console.log(require('esbuild').transformSync('let x: number = 1', { loader: 'ts' }).code.trim());\n");
      const node = await nodeBase();
      const runOut = path.join(tmp, 'esbuild-run');
      await buildImage(await nodeApp(app, { from: node.ref, platforms: ['linux/amd64'], to: `oci:${runOut}:v1`, cache }));
      const rootfs = await composeRootfs(node, runOut, 'v1', path.join(tmp, 'esbuild-rootfs'));
      assert.equal((await runApp(rootfs, (await readImage(runOut, 'v1')).config.config ?? {})).trim(), 'let x = 1;');
    }

    // A lockfile whose integrity does not match what the registry serves: nothing is shipped.
    const lockFile = path.join(app, 'package-lock.json');
    const lock = JSON.parse(await fs.readFile(lockFile, 'utf8')) as { packages: Record<string, { integrity?: string }> };
    const entry = lock.packages['node_modules/@esbuild/linux-arm64'];
    assert.ok(entry?.integrity);
    entry.integrity = `sha512-${Buffer.alloc(64, 7).toString('base64')}`;
    await fs.writeFile(lockFile, JSON.stringify(lock));
    await assert.rejects(
      nodeApp(app, { from: base, platforms: ['linux/arm64'], to: `oci:${out}:v2`, cache: { dir: path.join(tmp, 'cache-tampered') } }),
      (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_DIGEST_MISMATCH' && /@esbuild\/linux-arm64/.test(e.message),
    );
  });
}

test('a package that compiled a .node file fails for a foreign platform, naming it, unless --deps-dir covers that platform', async () => {
  const pkgDir = path.join(tmp, 'src-native');
  await writeJson(path.join(pkgDir, 'package.json'), { name: 'native-thing', version: '1.0.0', main: 'index.js', scripts: { install: 'node-gyp rebuild' }, gypfile: true });
  await fs.writeFile(path.join(pkgDir, 'binding.gyp'), '{"targets":[{"target_name":"thing","sources":["thing.cc"]}]}\n');
  await fs.mkdir(path.join(pkgDir, 'build', 'Release'), { recursive: true });
  await fs.writeFile(path.join(pkgDir, 'build', 'Release', 'thing.node'), '\x7fELF fake addon');
  await fs.writeFile(path.join(pkgDir, 'index.js'), "module.exports = require('./build/Release/thing.node');\n");
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: pkgDir });
  const tarball = path.join(tmp, stdout.trim().split('\n').pop() as string);
  const app = path.join(tmp, 'native-app');
  await writeJson(path.join(app, 'package.json'), { name: 'native-app', version: '1.0.0', main: 'index.js', dependencies: { 'native-thing': `file:${tarball}` } });
  await fs.writeFile(path.join(app, 'index.js'), '');
  await installWith('npm', app, path.join(tmp, 'caches'), ['--ignore-scripts']);
  const cache = { dir: path.join(tmp, 'cache') };
  const host = `linux/${process.arch === 'x64' ? 'amd64' : 'arm64'}`;
  const foreign = host === 'linux/amd64' ? 'linux/arm64' : 'linux/amd64';
  await assert.rejects(
    nodeApp(app, { from: base, platforms: [host, foreign], to: `oci:${path.join(tmp, 'native-out')}:v1`, cache }),
    (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_UNSUPPORTED' && /native-thing/.test(e.message) && e.message.includes(`--deps-dir ${foreign}=PATH`),
  );
  await nodeApp(app, { from: base, platforms: [host], to: `oci:${path.join(tmp, 'native-out')}:v1`, cache });

  // The foreign platform's node_modules, prepared elsewhere (here: a copy standing in for it).
  const prepared = path.join(tmp, 'prepared-foreign');
  await fs.cp(path.join(app, 'node_modules'), path.join(prepared, 'node_modules'), { recursive: true });
  await fs.writeFile(path.join(prepared, 'node_modules', 'native-thing', 'build', 'Release', 'thing.node'), 'foreign build');
  const out = path.join(tmp, 'native-out2');
  const options = await nodeApp(app, { from: base, platforms: [host, foreign], depsDir: { [foreign]: prepared }, to: `oci:${out}:v1`, cache });
  await buildImage(options);
  const foreignFiles = await depsLayerFiles(out, foreign, path.join(tmp, 'native-foreign'));
  assert.equal(await fs.readFile(path.join(foreignFiles, 'app/node_modules/native-thing/build/Release/thing.node'), 'utf8'), 'foreign build');
  const hostFiles = await depsLayerFiles(out, host, path.join(tmp, 'native-host'));
  assert.equal(await fs.readFile(path.join(hostFiles, 'app/node_modules/native-thing/build/Release/thing.node'), 'utf8'), '\x7fELF fake addon');
});

test("the base's C library is read from its layer names: musl, glibc (merged /usr), none", async () => {
  const make = async (name: string, file: string): Promise<string> => {
    const out = path.join(tmp, `libc-${name}`);
    await buildImage({ from: base, platforms: ['linux/arm64'], layers: [{ entries: [{ type: 'file', path: file, source: new Uint8Array(1) }] }], to: `oci:${out}:v1`, cache: false });
    return `oci:${out}:v1`;
  };
  const musl = await scanBase(await make('musl', '/lib/ld-musl-aarch64.so.1'), { cache: false });
  assert.equal(musl[0]?.libc, 'musl');
  const glibc = await scanBase(await make('glibc', '/usr/lib/aarch64-linux-gnu/libc.so.6'), { cache: false });
  assert.equal(glibc[0]?.libc, 'glibc');
  const none = await scanBase(base, { platforms: ['linux/arm64'], cache: false });
  assert.equal(none[0]?.libc, undefined, 'static busybox has no libc');
  assert.equal(none[0]?.shell, true);
});

test('libc decides between glibc and musl packages; they come from the lockfile URL (a local registry) with integrity checked', async () => {
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  // Three platform packages, packed for real, served over HTTP on 127.0.0.1.
  const tarballs = new Map<string, Buffer>();
  const integrity = new Map<string, string>();
  for (const [name, libc] of [['napi-thing-linux-arm64-gnu', 'glibc'], ['napi-thing-linux-arm64-musl', 'musl'], ['napi-thing-linux-x64-gnu', 'glibc'], ['napi-thing-linux-x64-musl', 'musl']] as const) {
    const dir = path.join(tmp, 'napi-src', name);
    await writeJson(path.join(dir, 'package.json'), { name, version: '1.0.0', os: ['linux'], cpu: [name.includes('arm64') ? 'arm64' : 'x64'], libc: [libc], main: 'thing.node' });
    await fs.writeFile(path.join(dir, 'thing.node'), `${name}\n`);
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', path.join(tmp, 'napi-src')], { cwd: dir });
    const bytes = await fs.readFile(path.join(tmp, 'napi-src', stdout.trim().split('\n').pop() as string));
    tarballs.set(`/${name}/-/${name}-1.0.0.tgz`, bytes);
    integrity.set(name, `sha512-${createHash('sha512').update(bytes).digest('base64')}`);
  }
  const requested: string[] = [];
  const server = createServer((req, res) => {
    requested.push(req.url ?? '');
    const body = tarballs.get(req.url ?? '');
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    // The app as npm on an x64 glibc host leaves it: the host's package installed, all three locked.
    const app = path.join(tmp, 'napi-app');
    const optional = Object.fromEntries([...integrity.keys()].map((n) => [n, '1.0.0']));
    await writeJson(path.join(app, 'package.json'), { name: 'napi-app', version: '1.0.0', main: 'index.js', dependencies: { 'napi-thing': '1.0.0' } });
    await fs.writeFile(path.join(app, 'index.js'), '');
    await writeJson(path.join(app, 'node_modules/napi-thing/package.json'), { name: 'napi-thing', version: '1.0.0', optionalDependencies: optional });
    await writeJson(path.join(app, 'node_modules/napi-thing-linux-x64-gnu/package.json'), { name: 'napi-thing-linux-x64-gnu', version: '1.0.0', os: ['linux'], cpu: ['x64'], libc: ['glibc'] });
    const packages: Record<string, unknown> = { '': { name: 'napi-app', dependencies: { 'napi-thing': '1.0.0' } }, 'node_modules/napi-thing': { version: '1.0.0', optionalDependencies: optional } };
    for (const [name, sri] of integrity) {
      packages[`node_modules/${name}`] = { version: '1.0.0', resolved: `http://127.0.0.1:${port}/${name}/-/${name}-1.0.0.tgz`, integrity: sri, optional: true, os: ['linux'], cpu: [name.includes('arm64') ? 'arm64' : 'x64'], libc: [name.endsWith('musl') ? 'musl' : 'glibc'] };
    }
    await writeJson(path.join(app, 'package-lock.json'), { name: 'napi-app', lockfileVersion: 3, packages });

    // Another CPU on either libc, and this CPU on musl (an Alpine-like base on a glibc host).
    for (const [arch, libc, loader] of [
      ['arm64', 'musl', '/lib/ld-musl-aarch64.so.1'],
      ['arm64', 'glibc', '/usr/lib/aarch64-linux-gnu/libc.so.6'],
      ['amd64', 'musl', '/lib/ld-musl-x86_64.so.1'],
    ] as const) {
      const platform = `linux/${arch}`;
      const id = `${arch}-${libc}`;
      const baseOut = path.join(tmp, `napi-base-${id}`);
      await buildImage({ from: base, platforms: [platform], layers: [{ entries: [{ type: 'file', path: loader, source: new Uint8Array(1) }] }], to: `oci:${baseOut}:v1`, cache: false });
      const options = await nodeApp(app, { from: `oci:${baseOut}:v1`, platforms: [platform], to: `oci:${path.join(tmp, `napi-out-${id}`)}:v1`, cache: { dir: path.join(tmp, 'napi-cache') } });
      const wanted = `napi-thing-linux-${arch === 'amd64' ? 'x64' : 'arm64'}-${libc === 'musl' ? 'musl' : 'gnu'}`;
      assert.deepEqual(options.nodeApp.platformPackages[platform], { added: [`${wanted}@1.0.0`], excluded: ['napi-thing-linux-x64-gnu'] });
      await buildImage(options);
      const { manifest } = await readImage(path.join(tmp, `napi-out-${id}`), 'v1');
      const files = path.join(tmp, `napi-files-${id}`);
      await fs.mkdir(files);
      await run('tar', ['-xzf', path.join(tmp, `napi-out-${id}`, 'blobs', 'sha256', (manifest.layers[2]?.digest ?? '').slice(7)), '-C', files]);
      assert.deepEqual((await fs.readdir(path.join(files, 'app/node_modules'))).sort(), ['napi-thing', wanted]);
      assert.equal(await fs.readFile(path.join(files, 'app/node_modules', wanted, 'thing.node'), 'utf8'), `${wanted}\n`);
    }
    assert.deepEqual(
      requested.sort(),
      ['napi-thing-linux-arm64-gnu', 'napi-thing-linux-arm64-musl', 'napi-thing-linux-x64-musl'].map((n) => `/${n}/-/${n}-1.0.0.tgz`),
      'each fetched once, nothing else',
    );
  } finally {
    server.close();
  }
});
