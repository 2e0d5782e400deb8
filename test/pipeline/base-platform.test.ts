// A base of another platform than the one built (BuildKit's InvalidBaseImagePlatform): an
// amd64-only base with --platform linux/arm64 is used, as BuildKit uses it, and a base-warning
// event says so, for files builds and Dockerfile builds; a base index that has the platform,
// or a build of the base's own platform, says nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, type BuildEvent } from '../../src/index.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { runCli } from '../helpers/cli.ts';

let tmp: string;
let single: string;
let multi: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-base-platform-'));
  const one = await buildBusyboxLayout(path.join(tmp, 'single'), { platforms: ['linux/amd64'] });
  single = `oci:${one.layoutPath}:${one.tag}`;
  const two = await buildBusyboxLayout(path.join(tmp, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'], tag: 'multi' });
  multi = `oci:${two.layoutPath}:multi`;
});
after(() => fs.rm(tmp, { recursive: true, force: true }));

const layers = [{ entries: [{ type: 'file' as const, path: '/x', source: new TextEncoder().encode('x') }] }];
const warnings = (events: BuildEvent[]) => events.filter((e): e is Extract<BuildEvent, { type: 'base-warning' }> => e.type === 'base-warning');

test('files and Dockerfile builds: an amd64-only base for linux/arm64 is said, once per platform; a matching base is not', async () => {
  const events: BuildEvent[] = [];
  await buildImage({ from: single, layers, platforms: ['linux/arm64', 'linux/amd64'], to: `oci:${path.join(tmp, 'files-out')}`, cache: false, onEvent: (e) => events.push(e) });
  assert.deepEqual(
    warnings(events).map((w) => [w.platform, w.message]),
    [['linux/arm64', `the base ${single} is linux/amd64, not linux/arm64: the linux/arm64 image is built on it, and what it runs may not start there (InvalidBaseImagePlatform)`]],
  );
  const dfEvents: BuildEvent[] = [];
  const ctx = path.join(tmp, 'ctx');
  await fs.mkdir(ctx);
  await buildImage({ dockerfile: { text: `FROM ${single}\nLABEL a=b\n` }, context: ctx, platforms: ['linux/arm64'], to: `oci:${path.join(tmp, 'df-out')}`, cache: false, onEvent: (e) => dfEvents.push(e) });
  assert.deepEqual(warnings(dfEvents).map((w) => [w.from, w.platform]), [[single, 'linux/arm64']]);
  const quiet: BuildEvent[] = [];
  await buildImage({ from: multi, layers, platforms: ['linux/arm64', 'linux/amd64'], to: `oci:${path.join(tmp, 'multi-out')}`, cache: false, onEvent: (e) => quiet.push(e) });
  await buildImage({ from: single, layers, to: `oci:${path.join(tmp, 'own-out')}`, cache: false, onEvent: (e) => quiet.push(e) });
  assert.deepEqual(warnings(quiet), []);
});

test('the CLI prints it, in quiet mode too', async () => {
  const ctx = path.join(tmp, 'cli-ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${single}\n`);
  const run = await runCli(['build', ctx, '--platform', 'linux/arm64', '--to', `oci:${path.join(tmp, 'cli-out')}`, '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /warning: the base oci:.* is linux\/amd64, not linux\/arm64: .*\(InvalidBaseImagePlatform\)/);
});
