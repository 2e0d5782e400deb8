// Image metadata from the project: org.opencontainers.image.* labels and manifest annotations
// from package.json and a real git checkout (revision from HEAD, also through packed refs and
// a worktree; source from the remote without its credentials; created from the creation
// time), overridable; the entrypoint heuristic (start script, main, bin, server.js) and the
// distroless rule (the base's absolute node), run chrooted on a shell-less base.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildImage, nodeApp } from '../../src/index.ts';
import { gitFacts, normalizeRepositoryUrl } from '../../src/presets/project-metadata.ts';
import { readImage } from '../helpers/tree.ts';
import { composeRootfs, nodeBase, runApp, BASE_NODE, type NodeBase } from './node-base.ts';

const run = promisify(execFile);
let tmp: string;
let base: NodeBase;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-metadata-'));
  base = await nodeBase();
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const git = (cwd: string, ...args: string[]) => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd });

test('repository URLs: shorthands, scp-style remotes and credentials', () => {
  assert.equal(normalizeRepositoryUrl('git+https://user:secret@github.com/acme/app.git'), 'https://github.com/acme/app');
  assert.equal(normalizeRepositoryUrl('git@github.com:acme/app.git'), 'https://github.com/acme/app');
  assert.equal(normalizeRepositoryUrl('github:acme/app'), 'https://github.com/acme/app');
  assert.equal(normalizeRepositoryUrl('acme/app'), 'https://github.com/acme/app');
  assert.equal(normalizeRepositoryUrl('ssh://git@gitlab.com/g/p.git'), 'https://gitlab.com/g/p');
  assert.equal(normalizeRepositoryUrl('https://example.com/app#readme'), 'https://example.com/app');
  assert.equal(normalizeRepositoryUrl('file:///srv/repo'), undefined);
});

test('labels and annotations from package.json and git, overridable; entrypoint from the start script on a distroless base', async () => {
  const app = path.join(tmp, 'app');
  await fs.mkdir(app);
  await fs.writeFile(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'meta-app', version: '3.1.4', description: 'An app', license: 'Apache-2.0', homepage: 'https://example.com/meta#readme', scripts: { start: 'node --enable-source-maps src/main.js --port 8080' } }),
  );
  await fs.mkdir(path.join(app, 'src'));
  await fs.writeFile(path.join(app, 'src', 'main.js'), "console.log(['started', ...process.argv.slice(2), process.cwd()].join(' '));\n");
  await git(app, 'init', '-q');
  await git(app, 'remote', 'add', 'origin', 'https://deploy:hunter2@git.example.com/team/meta-app.git');
  await git(app, 'add', '.');
  await git(app, 'commit', '-qm', 'one');
  await git(app, 'pack-refs', '--all'); // the branch now lives in packed-refs only
  const head = (await git(app, 'rev-parse', 'HEAD')).stdout.trim();
  assert.deepEqual(await gitFacts(path.join(app, 'src')), { revision: head, remote: 'https://deploy:hunter2@git.example.com/team/meta-app.git' });

  const out = path.join(tmp, 'out');
  const options = await nodeApp(app, { from: base.ref, to: `oci:${out}:v1`, creationTime: '2024-05-06T07:08:09Z', labels: { 'org.opencontainers.image.version': 'override' }, cache: false });
  assert.deepEqual(options.nodeApp.entrypoint, [BASE_NODE, '--enable-source-maps', '/app/src/main.js', '--port', '8080'], "the base's absolute node, no shell");
  await buildImage(options);
  const { config, manifest } = await readImage(out, 'v1');
  const expected = {
    'org.opencontainers.image.created': '2024-05-06T07:08:09Z',
    'org.opencontainers.image.title': 'meta-app',
    'org.opencontainers.image.description': 'An app',
    'org.opencontainers.image.version': '3.1.4',
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'org.opencontainers.image.url': 'https://example.com/meta',
    'org.opencontainers.image.source': 'https://git.example.com/team/meta-app',
    'org.opencontainers.image.revision': head,
  };
  assert.deepEqual(config.config?.Labels, { ...expected, 'org.opencontainers.image.version': 'override' });
  const annotations = { ...(manifest as { annotations?: Record<string, string> }).annotations };
  for (const key of Object.keys(annotations)) if (key.startsWith('org.opencontainers.image.base.')) delete annotations[key]; // buildImage's own
  assert.deepEqual(annotations, expected);
  assert.ok(!JSON.stringify(config).includes('hunter2') && !JSON.stringify(manifest).includes('hunter2'), 'no credentials');
  const rootfs = await composeRootfs(base, out, 'v1', path.join(tmp, 'rootfs'));
  await assert.rejects(fs.access(path.join(rootfs, 'bin', 'sh')), 'the base has no shell');
  assert.equal((await runApp(rootfs, config.config ?? {})).trim(), 'started --port 8080 /app');

  // A worktree: .git is a file pointing into the main checkout.
  await git(app, 'worktree', 'add', '-q', path.join(tmp, 'wt'));
  assert.equal((await gitFacts(path.join(tmp, 'wt'))).revision, head);
  const none = await nodeApp(app, { from: base.ref, to: `oci:${out}:v2`, projectMetadata: false, cache: false });
  assert.equal(none.config?.labels, undefined);
  assert.equal(none.annotations, undefined);
});

test('entrypoint heuristic: main, then a single bin, then server.js; a shell start script keeps npm start semantics', async () => {
  const make = async (name: string, pkg: Record<string, unknown>, files: string[]): Promise<string[]> => {
    const dir = path.join(tmp, name);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...pkg }));
    for (const f of files) {
      await fs.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
      await fs.writeFile(path.join(dir, f), '');
    }
    return (await nodeApp(dir, { from: 'scratch', to: `oci:${path.join(tmp, `${name}-out`)}`, cache: false })).nodeApp.entrypoint;
  };
  assert.deepEqual(await make('main', { main: 'lib/app.js', bin: { x: 'cli.js' } }, ['server.js', 'lib/app.js']), ['node', '/app/lib/app.js']);
  assert.deepEqual(await make('bin', { bin: { tool: 'cli.js' } }, ['index.js', 'cli.js']), ['node', '/app/cli.js']);
  // The script must be there, found as node finds it (extension added, a folder's index.js).
  assert.deepEqual(await make('main-no-ext', { main: 'dist/index' }, ['dist/index.js']), ['node', '/app/dist/index']);
  assert.deepEqual(await make('main-dir', { main: './lib' }, ['lib/index.js']), ['node', '/app/lib']);
  const missing = (file: string, what: string) => (e: unknown) =>
    (e as { code?: string }).code === 'ERR_SOURCE_NOT_FOUND' && (e as Error).message.includes(`the image would run ${file} (${what}), which the app does not have: build the app first`);
  await assert.rejects(make('unbuilt', { main: 'dist/index.js', scripts: { build: 'tsc' } }, ['src/index.ts']), missing('/app/dist/index.js', '"main"'));
  await assert.rejects(make('unbuilt-start', { scripts: { start: 'node --enable-source-maps dist/server.js' } }, ['src/server.ts']), missing('/app/dist/server.js', 'the "start" script'));
  await assert.rejects(make('unbuilt-bin', { bin: 'bin/cli.js' }, []), missing('/app/bin/cli.js', '"bin"'));
  assert.deepEqual(await make('server', {}, ['server.js', 'index.js']), ['node', '/app/server.js']);
  assert.deepEqual(await make('shell', { scripts: { start: 'NODE_OPTIONS=--x next start' } }, []), ['sh', '-c', 'PATH=/app/node_modules/.bin:$PATH; NODE_OPTIONS=--x next start']);
  await assert.rejects(make('nothing', {}, []), /pass an entrypoint/);
});
