// A session resolves each source tag once: the parts of a build (and the builds of a session)
// see one base image per tag and ask the registry once; a new session sees where the tag is now.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, createRegistryClient, createSession } from '../../src/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry } from '../helpers/busybox.ts';

let tmp: string;
let registry: TestRegistry;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-session-tags-'));
  registry = await startRegistry();
  await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'), { tag: 'v1', repository: 'busybox' });
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('a session reads a base tag once, keeps it for its builds, and the next session follows the tag', async () => {
  const app = path.join(tmp, 'files');
  await fs.mkdir(app, { recursive: true });
  await fs.writeFile(path.join(app, 'a.txt'), 'a\n');
  const registries = { insecure: [registry.host] };
  const build = (session: ReturnType<typeof createSession>, to: string) =>
    buildImage({ from: `${registry.host}/busybox:v1`, layers: [{ directories: [{ source: app, destination: '/app' }] }], to, cache: false, session });
  const baseOf = (result: Awaited<ReturnType<typeof build>>) => result.manifest.annotations?.['org.opencontainers.image.base.digest'];
  const tagReads = async () => (await registry.requestLog()).filter((r) => r.method === 'GET' && r.path === '/v2/busybox/manifests/v1').length;

  await using first = createSession({ registries });
  const before = await tagReads();
  const one = await build(first, `${registry.host}/busybox:v2`);
  const original = baseOf(one);
  assert.match(original ?? '', /^sha256:/);
  // Move the tag to the image just built (same repository, so its blobs are there).
  const client = createRegistryClient({ insecure: [registry.host] });
  try {
    const moved = await client.getManifest({ registry: registry.host, repository: 'busybox' }, 'v2');
    await client.putManifest({ registry: registry.host, repository: 'busybox' }, moved, 'v1');
  } finally {
    await client.close();
  }
  const two = await build(first, `${registry.host}/app:2`);
  assert.equal(baseOf(two), original, 'the session keeps the base it resolved');
  assert.equal((await tagReads()) - before, 1, 'one read of the tag for both builds');

  await using second = createSession({ registries });
  const three = await build(second, `${registry.host}/app:3`);
  assert.equal(baseOf(three), one.digest, 'a new session follows the moved tag');
});
