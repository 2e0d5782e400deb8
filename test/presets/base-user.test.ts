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
