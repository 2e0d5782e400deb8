/**
 * s2i builds against a real registry: the builder pulled from it, the result pushed to it, and
 * an incremental build finding the previous image under the same tag there.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage } from '../../src/pipeline/index.ts';
import { removeRootfs } from '../../src/run/owners.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { buildTestBuilders } from './builder.ts';
import { runImage } from './runner.ts';

let registry: TestRegistry;
let dir: string;

before(async () => {
  registry = await startRegistry();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-s2i-registry-'));
});

after(async () => {
  await registry.stop();
  await removeRootfs(dir).catch(() => {});
  await fs.rm(dir, { recursive: true, force: true });
});

test('incremental s2i builds through a registry', { skip: process.platform !== 'linux' }, async () => {
  const builders = await buildTestBuilders(dir);
  const builder = `${registry.host}/s2i/builder:1`;
  await buildImage({ from: builders.user, to: builder, cache: false });
  const app = path.join(dir, 'app');
  await fs.mkdir(app);
  await fs.writeFile(path.join(app, 'message.txt'), 'hello through the registry');
  const target = `${registry.host}/s2i/app:latest`;
  const build = async (): Promise<{ notes: string[]; out: string; digest: string }> => {
    const notes: string[] = [];
    let out = '';
    const result = await buildImage({
      s2i: { builder, source: app, incremental: true, onNote: (m) => notes.push(m), stdout: (c) => (out += Buffer.from(c).toString()) },
      to: target,
      cache: false,
    });
    return { notes, out, digest: result.digest };
  };
  const first = await build();
  assert.match(first.notes.join('\n'), /clean build: previous image .*s2i\/app:latest not found/);
  assert.equal((await runImage(target)).stdout, 'app says: hello through the registry (build 1, )\n');
  const second = await build();
  assert.deepEqual(second.notes, []);
  assert.match(second.out, /restored artifacts: count 1/);
  assert.notEqual(second.digest, first.digest);
  assert.equal((await runImage(target)).stdout, 'app says: hello through the registry (build 2, )\n');
  const log = await registry.requestLog();
  assert.ok(log.some((r) => r.method === 'GET' && r.path.includes('/s2i/builder/manifests/1')), 'the builder came from the registry');
});
