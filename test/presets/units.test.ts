// Pure pieces of the Node preset: node_modules path ownership, passwd parsing and user
// resolution, reading a file through layers (top wins, whiteouts hide), creation times,
// lockfile detection and fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { owningPackage, selectDependencies, selectWithTree } from '../../src/presets/lockfile.ts';
import { findProject, jsonErrorText, matchesWorkspace, parsePnpmWorkspace, readPackageJson, readPackageJsonSync } from '../../src/presets/project.ts';
import { nodeApp } from '../../src/presets/node.ts';
import { readNpmLockfile } from '../../src/presets/npm-lockfile.ts';
import { OcibuildError } from '../../src/errors.ts';
import { isPlatformSpecific, npmTarget, platformAllows } from '../../src/presets/npm-platform.ts';
import { registryFor, tarballUrl } from '../../src/presets/npm-registry.ts';
import { parseYamlLite } from '../../src/presets/yaml-lite.ts';
import { parseYarnLock } from '../../src/presets/yarn-lockfile.ts';
import { parsePasswd, readImageFile, resolveUser } from '../../src/presets/passwd.ts';
import { packageContents } from '../../src/presets/dependency-tree.ts';
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

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(value));
}

test('selectDependencies: the production closure of a hand-made tree, nested and hoisted, bins, optional, peers', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-lock-'));
  try {
    await writeJson(path.join(dir, 'package.json'), { name: 'app', dependencies: { a: '1', '@s/b': '1' }, optionalDependencies: { gone: '1' }, devDependencies: { d: '1' } });
    await writeJson(path.join(dir, 'package-lock.json'), { lockfileVersion: 1, dependencies: {} });
    await writeJson(path.join(dir, 'node_modules/a/package.json'), { name: 'a', bin: { acli: 'cli.js' }, dependencies: { c: '2' }, peerDependencies: { p: '1', q: '1' }, peerDependenciesMeta: { q: { optional: true } } });
    await writeJson(path.join(dir, 'node_modules/a/node_modules/c/package.json'), { name: 'c', version: '2' });
    await writeJson(path.join(dir, 'node_modules/c/package.json'), { name: 'c', version: '1' }); // only d needs this one
    await writeJson(path.join(dir, 'node_modules/@s/b/package.json'), { name: '@s/b', bin: 'b.js' });
    await writeJson(path.join(dir, 'node_modules/p/package.json'), { name: 'p' });
    await writeJson(path.join(dir, 'node_modules/d/package.json'), { name: 'd', bin: { dcli: 'x.js' }, dependencies: { c: '1' } });
    await fs.mkdir(path.join(dir, 'node_modules/.bin'));
    await fs.symlink('../a/cli.js', path.join(dir, 'node_modules/.bin/acli'));
    await fs.symlink('../@s/b/b.js', path.join(dir, 'node_modules/.bin/b'));
    await fs.symlink('../d/x.js', path.join(dir, 'node_modules/.bin/dcli'));
    const selection = await selectWithTree(dir);
    assert.equal(selection.lockfile, 'npm', 'a v1 lockfile is read like any other: the installed tree decides');
    assert.equal(selection.productionOnly, true);
    assert.deepEqual(selection.excludedPackages, ['node_modules/c', 'node_modules/d']);
    const keep = (rel: string) => selection.filter(rel);
    for (const p of ['node_modules', 'node_modules/a/package.json', 'node_modules/a/node_modules', 'node_modules/a/node_modules/c/package.json', 'node_modules/@s', 'node_modules/@s/b/package.json', 'node_modules/p', 'node_modules/.bin/acli', 'node_modules/.bin/b']) assert.ok(keep(p), p);
    for (const p of ['node_modules/c', 'node_modules/d/package.json', 'node_modules/.bin/dcli', 'node_modules/.package-lock.json', 'node_modules/.cache', 'node_modules/q']) assert.ok(!keep(p), p);
    assert.deepEqual(selection.tree?.missingOptional.map((m) => m.name).sort(), ['gone', 'q']);
    const withDev = await selectDependencies(dir, { includeDev: true });
    assert.ok(withDev.filter('node_modules/d/package.json') && withDev.filter('node_modules/c/package.json') && withDev.filter('node_modules/.bin/dcli'));

    // Hostile names are refused, naming the file and the field.
    await writeJson(path.join(dir, 'node_modules/p/package.json'), { name: 'p', dependencies: { '../../../etc': '1' } });
    await assert.rejects(selectDependencies(dir), /node_modules\/p\/package\.json: "dependencies" names an invalid package/);
    // A link out of the project is refused.
    await writeJson(path.join(dir, 'node_modules/p/package.json'), { name: 'p' });
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-outside-'));
    await writeJson(path.join(outside, 'package.json'), { name: 'p' });
    await fs.rm(path.join(dir, 'node_modules/p'), { recursive: true });
    await fs.symlink(outside, path.join(dir, 'node_modules/p'));
    await assert.rejects(selectDependencies(dir), (e: { code?: string }) => e.code === 'ERR_PATH_ESCAPE');
    await fs.rm(outside, { recursive: true });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('project detection: lockfile kinds, no lockfile keeps node_modules whole, workspaces, Yarn PnP', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-project-'));
  try {
    await writeJson(path.join(dir, 'package.json'), { name: 'x' });
    const none = await selectDependencies(dir);
    assert.equal(none.lockfile, 'none');
    assert.equal(none.filter('node_modules/a/x'), true);
    assert.equal(none.filter('node_modules/.cache/x'), false);
    assert.match(none.notes.join(), /no lockfile/);
    await fs.writeFile(path.join(dir, 'yarn.lock'), '# yarn lockfile v1\n');
    assert.equal((await findProject(dir)).lockfile, 'yarn');
    await fs.writeFile(path.join(dir, 'yarn.lock'), '__metadata:\n  version: 8\n');
    await assert.rejects(findProject(dir), (e: { code?: string; message: string }) => e.code === 'ERR_UNSUPPORTED' && /Plug'n'Play/.test(e.message));
    await fs.writeFile(path.join(dir, '.yarnrc.yml'), 'nodeLinker: "node-modules"\n');
    assert.equal((await findProject(dir)).lockfile, 'yarn-berry');
    await fs.writeFile(path.join(dir, 'pnpm-lock.yaml'), 'lockfileVersion: 9\n');
    assert.equal((await findProject(dir)).lockfile, 'pnpm');

    // A pnpm workspace: the package's project is the root.
    await fs.writeFile(path.join(dir, 'pnpm-workspace.yaml'), "packages:\n  - 'packages/*'\n  - '!packages/skip' # not this one\nother: 1\n");
    await writeJson(path.join(dir, 'packages/api/package.json'), { name: 'api' });
    await writeJson(path.join(dir, 'packages/skip/package.json'), { name: 'skip' });
    const api = await findProject(path.join(dir, 'packages/api'));
    assert.equal(api.root, await fs.realpath(dir));
    assert.equal(api.workspace, true);
    assert.equal(api.lockfile, 'pnpm');
    assert.equal((await findProject(path.join(dir, 'packages/skip'))).workspace, false, 'excluded by a ! pattern');
    assert.deepEqual(parsePnpmWorkspace("packages:\n  - 'packages/*'\n  - \"apps/**\"\n"), ['packages/*', 'apps/**']);
    assert.ok(matchesWorkspace(['apps/**'], 'apps/a/b'));
    assert.ok(!matchesWorkspace(['packages/*'], 'packages/a/b'));
    await writeJson(path.join(dir, 'node_modules/big/package.json'), {});
    await fs.writeFile(path.join(dir, 'node_modules/big/package.json'), Buffer.alloc(5 * 1024 * 1024, 32));
    await writeJson(path.join(dir, 'package.json'), { name: 'x', dependencies: { big: '1' } });
    await fs.rm(path.join(dir, 'yarn.lock'));
    await assert.rejects(selectDependencies(dir), (e: { code?: string }) => e.code === 'ERR_LIMIT_EXCEEDED');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("npm platform rules: os/cpu/libc allow-lists and '!' exclusions; registry and tarball URLs from .npmrc", async () => {
  const arm64musl = { os: 'linux', cpu: 'arm64', libc: 'musl' as const };
  assert.deepEqual(npmTarget({ os: 'linux', architecture: 'amd64' }, 'glibc'), { os: 'linux', cpu: 'x64', libc: 'glibc' });
  assert.ok(platformAllows({ os: ['linux'], cpu: ['arm64'] }, arm64musl));
  assert.ok(!platformAllows({ os: ['linux'], cpu: ['x64'] }, arm64musl));
  assert.ok(!platformAllows({ os: ['linux'], cpu: ['arm64'], libc: ['glibc'] }, arm64musl));
  assert.ok(platformAllows({ cpu: ['!x64'] }, arm64musl));
  assert.ok(!platformAllows({ os: ['!linux'] }, arm64musl));
  assert.ok(platformAllows({ libc: ['glibc'] }, { os: 'darwin', cpu: 'arm64', libc: undefined }), 'libc only counts on Linux');
  assert.ok(isPlatformSpecific({ cpu: ['x64'] }) && !isPlatformSpecific({ os: [] }));

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-npmrc-'));
  try {
    const env = { npm_config_userconfig: path.join(dir, 'user-npmrc') };
    assert.equal(await registryFor('a', dir, env), 'https://registry.npmjs.org/');
    await fs.writeFile(path.join(dir, 'user-npmrc'), 'registry=http://127.0.0.1:1/user\n');
    await fs.writeFile(path.join(dir, '.npmrc'), '# comment\n@s:registry = "http://127.0.0.1:2/scoped/"\n//127.0.0.1:2/:_authToken=${TOKEN}\n');
    assert.equal(await registryFor('a', dir, env), 'http://127.0.0.1:1/user/');
    assert.equal(await registryFor('@s/b', dir, env), 'http://127.0.0.1:2/scoped/');
    assert.equal(await registryFor('@t/b', dir, env), 'http://127.0.0.1:1/user/', 'a scope without its own registry');
    assert.equal(await registryFor('a', dir, { ...env, npm_config_registry: 'http://127.0.0.1:3' }), 'http://127.0.0.1:3/');
    assert.equal(tarballUrl('https://r/', '@esbuild/linux-arm64', '0.23.1'), 'https://r/@esbuild/linux-arm64/-/linux-arm64-0.23.1.tgz');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the YAML subset of pnpm-lock.yaml: block and flow collections, quoting, comments; bad lines named', () => {
  const text = [
    "lockfileVersion: '9.0'",
    '# a comment',
    'importers:',
    '  .:',
    '    dependencies:',
    '      esbuild: {specifier: 0.23.1, version: 0.23.1}',
    'packages:',
    "  '@esbuild/linux-arm64@0.23.1':",
    '    resolution: {integrity: sha512-/93b==, tarball: "https://r/x.tgz"}',
    "    engines: {node: '>=18'}",
    '    cpu: [arm64]',
    '    os: [linux, "!win32"]  # trailing comment',
    '    list:',
    '      - a',
    "      - 'it''s'",
    '    empty: []',
    '    nothing:',
  ].join('\n');
  assert.deepEqual(parseYamlLite(text, 'lock.yaml'), {
    lockfileVersion: '9.0',
    importers: { '.': { dependencies: { esbuild: { specifier: '0.23.1', version: '0.23.1' } } } },
    packages: {
      '@esbuild/linux-arm64@0.23.1': {
        resolution: { integrity: 'sha512-/93b==', tarball: 'https://r/x.tgz' },
        engines: { node: '>=18' },
        cpu: ['arm64'],
        os: ['linux', '!win32'],
        list: ['a', "it's"],
        empty: [],
        nothing: null,
      },
    },
  });
  assert.throws(() => parseYamlLite('a: 1\n   b: 2\n', 'lock.yaml'), /lock\.yaml:2: unexpected indentation/);
  assert.throws(() => parseYamlLite('a: {b: 1\n', 'lock.yaml'), /lock\.yaml:1: unterminated \{/);
  assert.throws(() => parseYamlLite('just text\n', 'lock.yaml'), /lock\.yaml:1: expected "key: value"/);
  assert.throws(() => parseYamlLite(`a: ${'['.repeat(100_000)}`, 'lock.yaml'), (e: { code?: string }) => e.code === 'ERR_LIMIT_EXCEEDED');
  const deep = Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  assert.throws(() => parseYamlLite(deep, 'lock.yaml'), (e: { code?: string }) => e.code === 'ERR_LIMIT_EXCEEDED');
});

test('yarn.lock v1: patterns, fields and dependency blocks', () => {
  const text = [
    '# THIS IS AN AUTOGENERATED FILE.',
    '# yarn lockfile v1',
    '',
    '"@esbuild/linux-arm64@0.23.1":',
    '  version "0.23.1"',
    '  resolved "https://registry.yarnpkg.com/@esbuild/linux-arm64/-/linux-arm64-0.23.1.tgz#8050af6d51ddb388c75653ef9871f5ccd8f12383"',
    '  integrity sha512-abc==',
    '',
    'debug@^4, debug@4.3.4:',
    '  version "4.3.4"',
    '  dependencies:',
    '    ms "2.1.2"',
    '  optionalDependencies:',
    '    "@esbuild/linux-arm64" "0.23.1"',
  ].join('\n');
  const lock = parseYarnLock(text, 'yarn.lock');
  assert.equal(lock.get('@esbuild/linux-arm64@0.23.1')?.integrity, 'sha512-abc==');
  assert.match(lock.get('@esbuild/linux-arm64@0.23.1')?.resolved ?? '', /#8050af/);
  assert.equal(lock.get('debug@^4'), lock.get('debug@4.3.4'));
  assert.deepEqual(lock.get('debug@^4')?.dependencies, { ms: '2.1.2' });
  assert.deepEqual(lock.get('debug@^4')?.optionalDependencies, { '@esbuild/linux-arm64': '0.23.1' });
  assert.throws(() => parseYarnLock('  version "1"\n', 'yarn.lock'), /yarn\.lock:1: indented line outside an entry/);
});

test("platform sources of Yarn Berry and Bun: Berry's conditions as npm's platform fields", async () => {
  const { berryConditions } = await import('../../src/presets/platform-source.ts');
  assert.deepEqual(berryConditions('os=linux & cpu=arm64 & libc=musl'), { os: ['linux'], cpu: ['arm64'], libc: ['musl'] });
  assert.deepEqual(berryConditions(undefined), {});
});

test("platform sources of Yarn Berry and Bun: Bun's text lockfile with trailing commas, commas and quotes inside strings kept", async () => {
  const { parseBunLock } = await import('../../src/presets/platform-source.ts');
  const doc = parseBunLock('{ "packages": { "a": ["a@1.0.0", "", { "os": "linux", }, "sha512-x,]"], }, "s": "q\\",}", }', 'bun.lock');
  assert.deepEqual(doc, { packages: { a: ['a@1.0.0', '', { os: 'linux' }, 'sha512-x,]'] }, s: 'q",}' });
  assert.throws(() => parseBunLock('{ "packages": ', 'bun.lock'), (e: unknown) => e instanceof Error && /bun\.lock: not a Bun text lockfile/.test(e.message));
});

test('packageContents answers as the climb to the nearest package, for every path of a random tree', () => {
  // The reference: climb from the path to the nearest package; a package's own node_modules is not its content.
  const reference = (root: string, packages: ReadonlySet<string>, excluded: ReadonlySet<string>, abs: string): boolean => {
    let child: string | undefined;
    for (let d = abs; (d === root || d.startsWith(root + path.sep)) && d !== root; d = path.dirname(d)) {
      if (packages.has(d)) return !excluded.has(d) && (child === undefined || path.basename(child) !== 'node_modules');
      child = d;
    }
    return false;
  };
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const names = ['node_modules', 'a', 'b', '@s', 'lib', 'node_modules', 'x.js'];
  for (let round = 0; round < 20; round++) {
    const root = '/r/app';
    const paths = new Set<string>([root, '/r', '/elsewhere/node_modules/a']);
    for (let i = 0; i < 300; i++) {
      let p = root;
      for (let depth = 1 + rand(7); depth > 0; depth--) {
        p = path.join(p, names[rand(names.length)] as string);
        paths.add(p);
      }
    }
    const all = [...paths];
    const packages = new Set(all.filter(() => rand(4) === 0));
    const excluded = new Set([...packages].filter(() => rand(3) === 0));
    const ours = packageContents(root, packages, excluded);
    // Asked in random order, so answers kept per directory come from every kind of first question.
    for (const abs of all.sort(() => rand(3) - 1)) {
      assert.equal(ours(abs), reference(root, packages, excluded, abs), `${abs} (round ${round})`);
    }
  }
});

test('a package.json or lockfile that is not JSON: ERR_INVALID_ARGUMENT naming the file, line and column; a missing one: ERR_SOURCE_NOT_FOUND', async () => {
  const text = '{\n  "name": "a",\n  "version" "1"\n}\n';
  let thrown: unknown;
  try {
    JSON.parse(text);
  } catch (error) {
    thrown = error;
  }
  assert.match(jsonErrorText(text, thrown), / at line 3, column 13$/);
  assert.equal(jsonErrorText(text, new Error('other')), 'other');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-bad-json-'));
  try {
    const file = path.join(dir, 'package.json');
    await fs.writeFile(file, text);
    const bad = (e: unknown): boolean => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT' && e.message.startsWith(`${file}: not valid JSON (`) && / at line 3, column 13\)$/.test(e.message);
    await assert.rejects(readPackageJson(file), bad);
    assert.throws(() => readPackageJsonSync(file), bad);
    await assert.rejects(nodeApp(dir, { to: 'oci:/nonexistent/out' }), bad);
    const lock = path.join(dir, 'package-lock.json');
    await fs.writeFile(lock, '{"lockfileVersion": 3,}');
    await assert.rejects(readNpmLockfile(lock), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT' && /package-lock\.json: not valid JSON \(.* at line 1, column 23\)$/.test(e.message));
    await fs.rm(file);
    await assert.rejects(nodeApp(dir, { to: 'oci:/nonexistent/out' }), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_SOURCE_NOT_FOUND' && /package\.json: cannot read it \(the app folder has no package\.json\)/.test(e.message));
    await assert.rejects(nodeApp(path.join(dir, 'nope'), { to: 'oci:/nonexistent/out' }), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_SOURCE_NOT_FOUND' && /\(no such folder\)/.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('without a lockfile, a package in node_modules linked from outside the project is ERR_PATH_ESCAPE (it would dangle in the image), as with one; links inside are fine', async () => {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-links-')));
  try {
    const app = path.join(dir, 'app');
    await fs.mkdir(path.join(app, 'node_modules', '@scope'), { recursive: true });
    await fs.mkdir(path.join(app, 'packages', 'local'), { recursive: true });
    await fs.mkdir(path.join(dir, 'elsewhere', 'lib'), { recursive: true });
    await fs.writeFile(path.join(app, 'package.json'), '{"name":"app","version":"1.0.0"}');
    await fs.symlink('../packages/local', path.join(app, 'node_modules', 'local'));
    assert.equal((await selectDependencies(app)).lockfile, 'none', 'a link inside the project is kept');
    await fs.symlink('../../../elsewhere/lib', path.join(app, 'node_modules', '@scope', 'lib'));
    const escape = (name: string) => (e: unknown) =>
      e instanceof OcibuildError && e.code === 'ERR_PATH_ESCAPE' && e.message.startsWith(`${path.join(app, 'node_modules', name)} links to ${path.join(dir, 'elsewhere', 'lib')}, outside the project ${app}: its files would not be in the image`);
    await assert.rejects(selectDependencies(app), escape('@scope/lib'));
    await fs.rm(path.join(app, 'node_modules', '@scope', 'lib'));
    await fs.symlink(path.join(dir, 'elsewhere', 'lib'), path.join(app, 'node_modules', 'lib'));
    await assert.rejects(selectDependencies(app), escape('lib'));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
