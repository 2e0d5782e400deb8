/**
 * The pure parts of s2i builds: --allowed-uids ranges and checks, environment files, labels,
 * destination, and the order in which scripts are looked up.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { destinationOf, inImage } from '../../src/pipeline/s2i/builder.ts';
import { mergeEnv, parseEnvironmentFile } from '../../src/pipeline/s2i/environment.ts';
import { S2iError } from '../../src/pipeline/s2i/errors.ts';
import { outputLabels } from '../../src/pipeline/s2i/labels.ts';
import { imageScriptsUrl, locateScripts } from '../../src/pipeline/s2i/scripts.ts';
import { prepareSource } from '../../src/pipeline/s2i/source.ts';
import { checkAllowedUsers, isUserAllowed, parseUidRanges } from '../../src/pipeline/s2i/users.ts';

test('--allowed-uids: ranges, numeric users only, root and names refused', () => {
  const ranges = parseUidRanges('1-999, 1001,2000-3000');
  assert.deepEqual(ranges, [{ from: 1, to: 999 }, { from: 1001, to: 1001 }, { from: 2000, to: 3000 }]);
  assert.equal(isUserAllowed('1001', ranges), true);
  assert.equal(isUserAllowed('2500:0', ranges), true);
  assert.equal(isUserAllowed('1000', ranges), false);
  assert.equal(isUserAllowed('0', ranges), false);
  assert.equal(isUserAllowed('', ranges), false, 'no USER is root');
  assert.equal(isUserAllowed(undefined, ranges), false);
  assert.equal(isUserAllowed('app', ranges), false, 'names are refused even when they would map inside');
  for (const bad of ['', 'abc', '5-1', '1-', '-5', '1-2-3', '1,,2']) {
    assert.throws(() => parseUidRanges(bad), (e: unknown) => e instanceof S2iError && e.code === 'ERR_INVALID_ARGUMENT' && e.message.includes('--allowed-uids'), bad);
  }
  const r = parseUidRanges('1-65535');
  assert.throws(() => checkAllowedUsers('b', r, { image: undefined, assemble: undefined, onBuild: [] }), /image "b" must specify a user that is numeric and within the range of allowed users/);
  assert.throws(() => checkAllowedUsers('b', r, { image: '1001', assemble: 'root', onBuild: [] }), /assemble user "root" must be numeric/);
  assert.throws(() => checkAllowedUsers('b', r, { image: '1001', assemble: undefined, onBuild: ['USER root'] }), /ONBUILD instruction that sets the user to a user that is not allowed/);
  checkAllowedUsers('b', r, { image: '1001', assemble: '1002', onBuild: ['RUN true', 'USER 1003'] });
});

test('environment files: comments, blank lines, first = splits, bad lines named', () => {
  assert.deepEqual(parseEnvironmentFile('# c\n\nA=1\nB=x=y\r\n  C=  \n', 'f'), [['A', '1'], ['B', 'x=y'], ['C', '']]);
  assert.throws(() => parseEnvironmentFile('A=1\nnope\n', '.s2i/environment'), /^S2iError: .s2i\/environment:2: expected KEY=VALUE/);
  assert.throws(() => parseEnvironmentFile('=v', 'f'), /f:1/);
  assert.deepEqual(mergeEnv(['PATH=/bin', 'A=base'], [['A', 'file'], ['B', '2'], ['A', 'flag']]), ['PATH=/bin', 'A=flag', 'B=2']);
});

test('output labels: s2i labels over the builder labels, empty values left out', () => {
  const labels = outputLabels({ keep: 'k', 'io.openshift.s2i.build.image': 'old' }, {
    builder: 'reg/b:1',
    info: { location: 'https://git.example/app.git', commitId: 'abc', ref: 'main', message: '', author: 'A <a@x>' },
    displayName: 'reg/app:1',
  });
  assert.deepEqual(labels, {
    keep: 'k',
    'io.k8s.display-name': 'reg/app:1',
    'io.openshift.s2i.build.image': 'reg/b:1',
    'io.openshift.s2i.build.commit.author': 'A <a@x>',
    'io.openshift.s2i.build.commit.id': 'abc',
    'io.openshift.s2i.build.commit.ref': 'main',
    'io.openshift.s2i.build.source-location': 'https://git.example/app.git',
  });
});

test('destination: flag, else label, else /tmp; absolute only', () => {
  assert.equal(destinationOf(undefined, {}), '/tmp');
  assert.equal(destinationOf(undefined, { 'io.openshift.s2i.destination': '/opt/s2i/' }), '/opt/s2i');
  assert.equal(destinationOf('/x', { 'io.openshift.s2i.destination': '/opt/s2i' }), '/x');
  assert.throws(() => destinationOf('rel', {}), /--destination "rel": must be an absolute path/);
  assert.throws(() => destinationOf(undefined, { 'io.openshift.s2i.destination': 'tmp' }), /label io.openshift.s2i.destination/);
});

test('scripts: --scripts-url, then .s2i/bin, then the label, each script on its own', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-s2i-parts-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const rootfs = path.join(dir, 'rootfs');
  for (const name of ['assemble', 'run', 'usage']) await fs.mkdir(path.join(rootfs, 'opt/s2i'), { recursive: true }).then(() => fs.writeFile(path.join(rootfs, 'opt/s2i', name), 'x'));
  // A symlink inside the image is followed inside the image.
  await fs.mkdir(path.join(rootfs, 'usr'), { recursive: true });
  await fs.symlink('/opt', path.join(rootfs, 'usr/linked'));
  assert.equal(await inImage(rootfs, '/usr/linked/s2i/run'), true);
  assert.equal(await inImage(rootfs, '/usr/linked/s2i/save-artifacts'), false);
  const url = path.join(dir, 'url');
  await fs.mkdir(url);
  await fs.writeFile(path.join(url, 'run'), 'from url');
  const source = path.join(dir, 'src');
  await fs.mkdir(path.join(source, '.s2i/bin'), { recursive: true });
  await fs.writeFile(path.join(source, '.s2i/bin/run'), 'from source');
  await fs.writeFile(path.join(source, '.s2i/bin/assemble'), 'from source');
  const labels = { 'io.openshift.s2i.scripts-url': 'image:///usr/linked/s2i' };
  const base = { labels, env: undefined, inImage: (p: string) => inImage(rootfs, p) };
  const found = await locateScripts({ ...base, scriptsUrl: `file://${url}`, sourceDir: source }, ['assemble', 'run'], ['save-artifacts']);
  const text = (n: 'assemble' | 'run') => {
    const l = found.get(n);
    return l?.kind === 'upload' ? new TextDecoder().decode(l.content) : l?.path;
  };
  assert.equal(text('run'), 'from url');
  assert.equal(text('assemble'), 'from source');
  assert.equal(found.has('save-artifacts'), false);
  const image = await locateScripts(base, ['assemble', 'run'], []);
  assert.deepEqual(image.get('run'), { kind: 'image', path: '/usr/linked/s2i/run', url: 'image:///usr/linked/s2i' });
  await assert.rejects(locateScripts({ ...base, labels: {} }, ['assemble'], []), /required script "assemble" not found \(looked in image:\/\/\/usr\/libexec\/s2i\)/);
  await assert.rejects(locateScripts({ ...base, scriptsUrl: `file://${dir}/none` }, ['assemble', 'run'], []), /could not download any scripts from URL/);
  await assert.rejects(locateScripts({ ...base, scriptsUrl: 'ftp://x/y' }, ['assemble'], []), /unsupported scheme/);
  assert.equal(imageScriptsUrl({}, ['STI_SCRIPTS_URL=image:///old']), 'image:///old');
  assert.equal(imageScriptsUrl({}, []), 'image:///usr/libexec/s2i');
});

test('source: .s2iignore (no ! exceptions), --exclude, --context-dir', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-s2i-source-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.mkdir(path.join(dir, 'app/logs'), { recursive: true });
  await fs.writeFile(path.join(dir, 'app/.s2iignore'), '*.log\nlogs\n!keep.log\n');
  const s = await prepareSource({ source: dir, contextDir: 'app', scratch: dir });
  assert.equal(s.dir, path.join(dir, 'app'));
  assert.equal(s.info.contextDir, 'app');
  assert.deepEqual(['a.log', 'keep.log', 'logs/x', 'main.js', '.git/config', 'sub/.git', 'a.git'].map((p) => s.include(p)), [false, false, false, true, false, false, true]);
  const all = await prepareSource({ source: path.join(dir, 'app'), exclude: '', scratch: dir });
  assert.equal(all.include('.git/config'), true);
  await assert.rejects(prepareSource({ source: dir, contextDir: '../x', scratch: dir }), (e: unknown) => e instanceof S2iError && e.code === 'ERR_PATH_ESCAPE');
  await assert.rejects(prepareSource({ source: path.join(dir, 'missing'), scratch: dir }), /is not a directory/);
  await assert.rejects(prepareSource({ source: dir, exclude: '(', scratch: dir }), /--exclude "\("/);
  await assert.rejects(prepareSource({ source: dir, ref: 'main', scratch: dir }), /--ref main needs a Git source/);
});

test('source: a Git URL is cloned at --ref, labels from that commit; a work tree builds its commit', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-s2i-git-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await fs.mkdir(repo);
  const { execFileSync } = await import('node:child_process');
  const git = (...args: string[]): string => execFileSync('git', ['-C', repo, '-c', 'user.name=R', '-c', 'user.email=r@example.test', ...args], { encoding: 'utf8' }).trim();
  git('init', '--quiet', '--initial-branch=main');
  await fs.writeFile(path.join(repo, 'v'), 'one');
  git('add', '.');
  git('commit', '--quiet', '-m', 'one');
  git('tag', 'v1');
  const first = git('rev-parse', 'HEAD');
  await fs.writeFile(path.join(repo, 'v'), 'two');
  git('commit', '--quiet', '-am', 'two');
  const url = `file://${repo}`;
  const scratch1 = path.join(dir, 's1');
  await fs.mkdir(scratch1);
  const tagged = await prepareSource({ source: url, ref: 'v1', scratch: scratch1 });
  assert.equal(await fs.readFile(path.join(tagged.dir, 'v'), 'utf8'), 'one');
  assert.deepEqual([tagged.info.commitId, tagged.info.message, tagged.info.location, tagged.info.author], [first, 'one', url, 'R <r@example.test>']);
  await fs.writeFile(path.join(repo, 'v'), 'dirty');
  const scratch2 = path.join(dir, 's2');
  await fs.mkdir(scratch2);
  const tree = await prepareSource({ source: repo, scratch: scratch2 });
  assert.equal(await fs.readFile(path.join(tree.dir, 'v'), 'utf8'), 'two', 'the committed file, not the working copy');
  assert.equal(tree.info.location, repo);
  const copied = await prepareSource({ source: repo, copy: true, scratch: scratch2 });
  assert.equal(copied.dir, repo);
  assert.deepEqual(copied.info, { location: repo }, '--copy: no Git labels, as s2i documents');
  await assert.rejects(prepareSource({ source: url, ref: 'nope', scratch: path.join(dir, 's3') }), (e: unknown) => e instanceof S2iError && /checking out nope/.test(e.message));
});

test('runtime artifacts: SRC[:DEST] as s2i documents them', async () => {
  const { parseArtifactMappings, artifactMappings } = await import('../../src/pipeline/s2i/runtime.ts');
  assert.deepEqual(parseArtifactMappings(['/tmp/app.war', '/tmp/app.war:.', '/tmp/app.war:app/dist', '/opt/data/'], 'f'), [
    { source: '/tmp/app.war', destination: '.' },
    { source: '/tmp/app.war', destination: '.' },
    { source: '/tmp/app.war', destination: 'app/dist' },
    { source: '/opt/data', destination: '.' },
  ]);
  for (const [bad, why] of [['rel/x', /absolute/], ['/opt/*.jar', /wildcards/], ['/x:/abs', /relative/], ['/x:../up', /must not start with \.\./]] as const) {
    assert.throws(() => parseArtifactMappings([bad], '--runtime-artifact'), why, bad);
  }
  assert.deepEqual(artifactMappings(undefined, { 'io.openshift.s2i.assemble-input-files': '/tmp/app.war:app; /opt/data' }, 'r'), [
    { source: '/tmp/app.war', destination: 'app' },
    { source: '/opt/data', destination: '.' },
  ]);
  assert.throws(() => artifactMappings([], {}, 'reg/runtime'), /no runtime artifacts.*reg\/runtime/);
});
