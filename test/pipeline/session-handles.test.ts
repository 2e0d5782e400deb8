// A session closes what it opened: after a build against a real registry (base and target
// there), after the Node preset's base lookups and after baseUsers, no socket of ocibuild's is
// left open; a session given to buildImage stays open until its owner closes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, createSession, nodeApp, OcibuildError } from '../../src/index.ts';
import { baseUsers } from '../../src/presets/base-user.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { socketsTo } from '../helpers/sockets.ts';
import { busyboxInRegistry, type BusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let registry: TestRegistry;
let layout: BusyboxLayout;
let baseline: number;

/** This process's TCP connections to the test registry. */
function sockets(): number {
  return socketsTo(Number(registry.host.split(':')[1]));
}

/** The connection count once closing sockets are gone (a destroyed socket's fd closes on a later tick). */
async function settledSockets(): Promise<number> {
  for (let i = 0; i < 50 && sockets() > baseline; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return sockets();
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-session-'));
  registry = await startRegistry();
  layout = (await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'), { tag: 'v1', repository: 'busybox' })).layout;
  baseline = await settledSockets();
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const registries = () => ({ insecure: [registry.host] });

test('buildImage with a registry base and target leaves no socket open', async () => {
  const app = path.join(tmp, 'files');
  await fs.mkdir(app, { recursive: true });
  await fs.writeFile(path.join(app, 'a.txt'), 'a\n');
  const result = await buildImage({
    from: `${registry.host}/busybox:v1`,
    layers: [{ directories: [{ source: app, destination: '/app' }] }],
    to: `${registry.host}/app:1`,
    cache: false,
    registries: registries(),
  });
  assert.match(result.digest, /^sha256:/);
  assert.equal(await settledSockets(), baseline);
  // Nothing that keeps the event loop alive either.
  assert.deepEqual(process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap'), []);
});

test('a failed build closes its session too', async () => {
  await assert.rejects(
    buildImage({ from: `${registry.host}/busybox:missing`, to: `${registry.host}/app:2`, cache: false, registries: registries() }),
    (e: unknown) => e instanceof OcibuildError,
  );
  assert.equal(await settledSockets(), baseline);
});

test('baseUsers and nodeApp close the session they made', async () => {
  const found = await baseUsers(`${registry.host}/busybox:v1`, { cache: false, registries: registries() });
  assert.ok(found.users?.some((u) => u.name === 'app'));
  assert.equal(await settledSockets(), baseline);

  const dir = path.join(tmp, 'node-app');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', main: 'index.js' }));
  await fs.writeFile(path.join(dir, 'index.js'), 'console.log(1)\n');
  const options = await nodeApp(dir, { from: `${registry.host}/busybox:v1`, to: `oci:${path.join(tmp, 'node-out')}`, cache: false, registries: registries() });
  assert.equal(options.session, undefined, 'its own session is not handed on');
  assert.equal(await settledSockets(), baseline);
});

test('a given session stays open across builds and closes once, idempotently', async () => {
  const session = createSession({ registries: registries() });
  const spec = { from: `${registry.host}/busybox:v1`, to: `${registry.host}/app:3`, cache: false as const, session };
  const first = await buildImage(spec);
  assert.equal(session.closed, false);
  const second = await buildImage(spec);
  assert.equal(second.digest, first.digest);
  const tags = await session.registryClient().listTags({ registry: registry.host, repository: 'app' });
  assert.ok(tags.includes('3'));
  assert.ok(sockets() > baseline, 'the open session keeps its connections for reuse');
  const work = await session.tempDir();
  await session.close();
  await session.close();
  assert.equal(session.closed, true);
  await assert.rejects(fs.stat(work), { code: 'ENOENT' });
  assert.throws(() => session.openSource(`${registry.host}/busybox:v1`), OcibuildError);
  assert.equal(await settledSockets(), baseline);
});

test('await using closes a session at the end of its scope', async () => {
  let kept: ReturnType<typeof createSession> | undefined;
  {
    await using session = createSession({ registries: registries() });
    kept = session;
    await session.registryClient().listTags({ registry: registry.host, repository: 'busybox' });
    assert.ok(sockets() > baseline);
  }
  assert.equal(kept.closed, true);
  assert.equal(await settledSockets(), baseline);
});
