// Unwritable targets of every kind: buildImage and copyImage reject with a typed error that names
// the target as written, no rejection goes unhandled, the process lives on, and nothing is left
// in the temp dir. Run as an unprivileged user (root ignores mode bits) and with a parent that is a file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, OcibuildError } from '../../src/index.ts';
import { startRegistry } from '../helpers/registry.ts';
import { ensureUnprivilegedUser, isRoot, runAs, tsxArgv } from '../helpers/users.ts';

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/index.ts');

/** The child: each case's outcome as one JSON line, unhandled rejections counted, `alive` at the end. */
const childScript = `
import { buildImage, copyImage, ociLayout, dockerArchive, OcibuildError } from ${JSON.stringify(index)};
const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(String(e)));
const [cases, registryHost] = [JSON.parse(process.argv[2]), process.argv[3]];
const layers = [{ entries: [{ type: 'file', path: 'hello.txt', source: new TextEncoder().encode('hello') }] }];
const source = process.argv[4];
for (const c of cases) {
  const started = Date.now();
  try {
    if (c.copy) {
      const dst = c.copy.startsWith('oci:') ? ociLayout(c.copy.slice(4)) : dockerArchive(c.copy.slice('docker-archive:'.length));
      await copyImage(ociLayout(source), 'v1', dst, ['v1']);
    } else {
      await buildImage({ to: c.to, layers, credentials: async () => undefined });
    }
    console.log(JSON.stringify({ case: c, outcome: 'resolved' }));
  } catch (e) {
    console.log(JSON.stringify({ case: c, outcome: 'rejected', typed: e instanceof OcibuildError, code: e.code, message: e.message, ms: Date.now() - started }));
  }
}
await new Promise((r) => setTimeout(r, 200));
console.log(JSON.stringify({ unhandled, alive: true }));
`;

interface Outcome {
  case: { to?: string[]; copy?: string };
  outcome: string;
  typed?: boolean;
  code?: string;
  message?: string;
}

test('every target kind in an unwritable folder: typed rejection naming the target, no unhandled rejection, no debris', { skip: !isRoot() && 'needs root to switch users' }, async (t) => {
  const user = ensureUnprivilegedUser();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-robust-targets-'));
  const registry = await startRegistry({ auth: 'htpasswd' });
  t.after(async () => {
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  await fs.chmod(dir, 0o755);
  const locked = path.join(dir, 'locked'); // root's, 0755: the user may not write in it
  await fs.mkdir(locked, { mode: 0o755 });
  const tmp = path.join(dir, 'tmp'); // the child's TMPDIR, checked for debris
  await fs.mkdir(tmp);
  await fs.chown(tmp, user.uid, user.gid);
  const source = path.join(dir, 'src');
  await buildImage({ to: `oci:${source}:v1`, layers: [{ entries: [{ type: 'file', path: 'a', source: new TextEncoder().encode('a') }] }] });
  await fs.chmod(source, 0o755);
  for (const entry of await fs.readdir(source, { recursive: true })) await fs.chmod(path.join(source, entry), 0o755).catch(() => {});
  const script = path.join(dir, 'child.mts');
  await fs.writeFile(script, childScript, { mode: 0o644 });

  const cases = [
    { to: [`docker-archive:${locked}/out.tar`] },
    { to: [`oci:${locked}/layout:v1`] },
    { to: [`oci:${locked}`] },
    { to: [`${registry.host}/app/x:v1`] },
    // A registry that is not there (nothing listens on port 1).
    { to: ['127.0.0.1:1/app/x:v1'] },
    // Two targets, the second unwritable: refused before the first is written.
    { to: [`oci:${tmp}/first`, `docker-archive:${locked}/second.tar`] },
    // copyImage has no pre-check: the write itself fails.
    { copy: `docker-archive:${locked}/copy.tar` },
    { copy: `oci:${locked}/copy` },
  ];
  const result = await runAs(user, tsxArgv(script, JSON.stringify(cases), registry.host, source), { cwd: dir, env: { TMPDIR: tmp } });
  const lines = result.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Outcome & { unhandled?: string[]; alive?: boolean });
  const last = lines.at(-1);
  assert.deepEqual(last, { unhandled: [], alive: true }, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.equal(result.exitCode, 0, result.stderr);
  const outcomes = lines.slice(0, -1);
  assert.equal(outcomes.length, cases.length);
  for (const o of outcomes) {
    const label = JSON.stringify(o.case);
    assert.equal(o.outcome, 'rejected', label);
    assert.equal(o.typed, true, `${label}: ${o.message}`);
    const written = o.case.copy ?? (o.case.to as string[]).at(-1) as string;
    if (o.case.to) {
      // The message names the target as the user wrote it, never a temp or staging path.
      assert.ok(o.message?.includes(written), `${label}: ${o.message}`);
      assert.doesNotMatch(o.message ?? '', /\.tmp-|ocibuild-blob|\.out\.tar-/, label);
    }
    if (o.case.to?.[0]?.includes(registry.host)) assert.equal(o.code, 'ERR_REGISTRY_UNAUTHORIZED', label);
    else if (o.case.to?.[0]?.startsWith('127.0.0.1:1/')) assert.equal(o.code, 'ERR_REGISTRY', label);
    else if (o.case.to) assert.equal(o.code, 'ERR_TRANSPORT', label);
  }
  assert.deepEqual((await fs.readdir(tmp)).filter((n) => !n.startsWith('tsx-')), [], 'temp dir left with debris');
  assert.deepEqual(await fs.readdir(locked), [], 'nothing written in the locked folder');
});

test('a target whose parent is a regular file: rejected before any work, naming the target', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-robust-targets-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'file');
  await fs.writeFile(file, 'x');
  for (const to of [`docker-archive:${file}/out.tar`, `oci:${file}/layout`, `oci:${file}`, `docker-archive:${dir}`]) {
    let steps = 0;
    await assert.rejects(
      buildImage({ to, layers: [{ entries: [{ type: 'file', path: 'a', source: new TextEncoder().encode('a') }] }], onEvent: () => steps++ }),
      (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_TRANSPORT' && error.message.includes(to),
      to,
    );
    assert.equal(steps, 0, `${to}: work started before the target was checked`);
  }
  // The digest file too: checked before work, named as given.
  let events = 0;
  await assert.rejects(
    buildImage({ to: `oci:${dir}/layout`, digestFile: `${file}/digest`, layers: [], onEvent: () => events++ }),
    (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_IO' && error.message.includes(`digestFile ${file}/digest`),
  );
  assert.equal(events, 0);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['file']);
});
