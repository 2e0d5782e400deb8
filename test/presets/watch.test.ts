// Watch mode: a first build, then one rebuild per burst of changes (debounced) that reuses the
// plan and its dependency layer for a source edit (node_modules not read again, only the app
// layer rebuilt) and plans again after a package.json
// edit; outputs written inside the project do not retrigger; a failing build is reported and
// the watch goes on; aborting ends it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { watchNodeApp, type WatchEvent } from '../../src/index.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';

let tmp: string;
let base: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-watch-'));
  const layout = await buildBusyboxLayout(path.join(tmp, 'busybox'));
  base = `oci:${layout.layoutPath}:${layout.tag}`;
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('watch: rebuild per change, plan reused for source edits, replanned for package.json, errors survive', async (t) => {
  const app = path.join(tmp, 'app');
  await fs.mkdir(path.join(app, 'node_modules', 'dep'), { recursive: true });
  await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'w', version: '1.0.0', main: 'index.js', dependencies: { dep: '1' } }));
  await fs.writeFile(path.join(app, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: {} }));
  await fs.writeFile(path.join(app, 'node_modules', 'dep', 'package.json'), JSON.stringify({ name: 'dep', version: '1.0.0' }));
  await fs.writeFile(path.join(app, 'index.js'), 'console.log(1);\n');
  await fs.writeFile(path.join(app, '.dockerignore'), 'out\n');

  const events: WatchEvent[] = [];
  let notify: (() => void) | undefined;
  const next = async (count: number): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (events.length < count) {
      assert.ok(Date.now() < deadline, `timed out waiting for build ${count}`);
      await new Promise<void>((resolve) => {
        notify = resolve;
        setTimeout(resolve, 200);
      });
    }
  };
  const stop = new AbortController();
  let dependencyWrites = 0;
  const watching = watchNodeApp(app, { onDependencyLayerWrite: () => dependencyWrites++, from: base, to: `oci:${path.join(app, 'out')}:dev`, cache: { dir: path.join(tmp, 'cache') }, debounceMs: 50, signal: stop.signal }, (event) => {
    events.push(event);
    notify?.();
  });
  await next(1);
  const first = events[0];
  assert.equal(first?.type, 'built', first?.type === 'failed' ? String(first.error) : '');
  assert.equal(dependencyWrites, 1, 'the first build lists and writes node_modules');

  // A burst of edits: one rebuild, the plan reused, only the app layer built.
  await fs.writeFile(path.join(app, 'index.js'), 'console.log(2);\n');
  await fs.writeFile(path.join(app, 'more.js'), 'module.exports = 2;\n');
  await next(2);
  const second = events[1];
  assert.ok(second?.type === 'built');
  assert.equal(second.replanned, false);
  assert.equal(second.result.stats.layersBuilt, 1, 'only the app layer');
  assert.equal(second.result.stats.layersCached, 1);
  assert.equal(dependencyWrites, 1, 'a source edit reuses the dependency layer: node_modules is not read again');
  assert.deepEqual(second.result.manifest.layers[0], first?.type === 'built' ? first.result.manifest.layers[0] : undefined);
  assert.ok(first?.type === 'built' && second.result.digest !== first.result.digest);
  t.diagnostic(`one-file rebuild: ${second.durationMs.toFixed(0)} ms`);

  // package.json changes plan again; a broken one fails, and the watch continues.
  await fs.writeFile(path.join(app, 'package.json'), '{ broken');
  await next(3);
  assert.equal(events[2]?.type, 'failed');
  await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'w', version: '1.0.1', main: 'index.js', dependencies: { dep: '1' } }));
  await next(4);
  const fourth = events[3];
  assert.ok(fourth?.type === 'built');
  assert.equal(fourth.replanned, true);
  assert.equal(fourth.options.nodeApp.version, '1.0.1');
  assert.equal(dependencyWrites, 2, 'a new plan lists node_modules again');

  // Writing the output (inside the project) did not cause builds of its own.
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(events.length, 4, events.map((e) => (e.type === 'built' ? e.changed.join(',') : 'failed')).join(' | '));
  stop.abort();
  await watching;
});
