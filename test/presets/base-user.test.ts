// The Node preset's base-user lookup: it reads /etc/passwd and the config user through the
// image model, and closes the session it made (checked by test/pipeline/session-handles.test.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseUsers } from '../../src/presets/base-user.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { buildBusyboxLayout, pushLayoutToRegistry, type BusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let registry: TestRegistry;
let layout: BusyboxLayout;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-base-user-'));
  registry = await startRegistry();
  layout = await buildBusyboxLayout(path.join(tmp, 'busybox'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
  await pushLayoutToRegistry(layout.layoutPath, layout.tag, registry.host, 'busybox');
});

after(async () => {
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('reads the users of an oci: base', async () => {
  const found = await baseUsers(`oci:${layout.layoutPath}:${layout.tag}`, { cache: false, platforms: ['linux/arm64'] });
  assert.ok(found.users?.some((u) => u.name === 'app' && u.uid === 1000));
  assert.equal(found.configUser, undefined);
});

test('reads a registry base, choosing the host platform from an index', async () => {
  const found = await baseUsers(`${registry.host}/busybox:multi`, { cache: false, registries: { insecure: [registry.host] } });
  assert.ok(found.users?.some((u) => u.name === 'nobody' && u.uid === 65534));
});

test('with a cache, /etc/passwd is read from the layers once per set of layers', async () => {
  const copy = path.join(tmp, 'busybox-copy');
  await fs.cp(layout.layoutPath, copy, { recursive: true });
  const cache = { dir: path.join(tmp, 'users-cache') };
  const ref = `oci:${copy}:${layout.tag}`;
  const first = await baseUsers(ref, { cache, platforms: ['linux/arm64'] });
  assert.ok(first.users?.some((u) => u.name === 'app' && u.uid === 1000));
  // Corrupt every layer blob, in the layout and in the cache: the answer now comes from the
  // record kept by the layers' digests, without decompressing anything.
  const blobDirs = [path.join(copy, 'blobs', 'sha256'), path.join(cache.dir, 'blobs', 'sha256')];
  const layerSizes = new Set<number>();
  for (const dir of blobDirs) {
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name);
      const bytes = await fs.readFile(file);
      // gzip layers start 1f 8b; manifests and configs are JSON and stay intact.
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
        layerSizes.add(bytes.length);
        await fs.chmod(file, 0o644).catch(() => undefined);
        await fs.writeFile(file, Buffer.alloc(bytes.length));
      }
    }
  }
  assert.ok(layerSizes.size > 0, 'the layers were found and corrupted');
  const again = await baseUsers(ref, { cache, platforms: ['linux/arm64'] });
  assert.deepEqual(again, first);
  // Without the cache the corrupted layers are read, and refused.
  await assert.rejects(baseUsers(ref, { cache: false, platforms: ['linux/arm64'] }));
});
