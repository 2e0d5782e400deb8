// The `ocibuild node` and `ocibuild warm` commands as a user runs them (a child process), with
// plain and JSON progress, flags over package.json, and offline builds from a warmed cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { describeEvent, createProgress } from '../../src/cli/progress.ts';

const run = promisify(execFile);
const CLI = path.resolve('src/cli/main.ts');
let tmp: string;
let layout: BusyboxLayout;
let app: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-node-cli-'));
  layout = await buildBusyboxLayout(path.join(tmp, 'busybox'));
  app = path.join(tmp, 'app');
  await fs.mkdir(path.join(app, 'node_modules', 'dep'), { recursive: true });
  await fs.writeFile(path.join(app, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
  await fs.writeFile(path.join(app, 'index.js'), 'console.log(require("dep"));\n');
  await fs.writeFile(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'cli-app', version: '1.0.0', ocibuild: { from: 'scratch-should-be-overridden', labels: { from: 'package.json' } } }),
  );
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const ocibuild = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } });

test('ocibuild node: plain progress, then a cached rebuild in JSON lines', async () => {
  const from = `oci:${layout.layoutPath}:${layout.tag}`;
  const cacheDir = path.join(tmp, 'cache');
  const out = `oci:${path.join(tmp, 'out')}:v1`;
  const args = ['node', app, '--from', from, '--to', out, '--cache-dir', cacheDir, '--user', 'app', '--expose', '3000'];
  const first = await ocibuild(args);
  const digest = first.stdout.trim();
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  assert.match(first.stderr, /note: no lockfile/);
  assert.match(first.stderr, /layer [0-9a-f]{12} .* built {2}ocibuild node: production dependencies/);
  assert.match(first.stderr, /wrote oci:/);

  const second = await ocibuild([...args, '--json']);
  assert.equal(second.stdout.trim(), digest, 'same digest');
  const events = second.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; cached?: boolean; layersBuilt?: number });
  const layers = events.filter((e) => e.type === 'layer-built');
  assert.equal(layers.length, 2);
  assert.ok(layers.every((e) => e.cached === true));
  assert.equal(events.find((e) => e.type === 'stats')?.layersBuilt, 0);

  const index = JSON.parse(await fs.readFile(path.join(tmp, 'out', 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  // The SBOM and provenance are listed untagged next to the image (docs/supply-chain.md).
  const tagged = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v1');
  const manifest = JSON.parse(await fs.readFile(path.join(tmp, 'out', 'blobs', 'sha256', (tagged?.digest ?? '').slice(7)), 'utf8')) as { config: { digest: string } };
  const config = JSON.parse(await fs.readFile(path.join(tmp, 'out', 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')) as { config: Record<string, unknown> };
  assert.deepEqual(config.config.Entrypoint, ['node', '/app/index.js'], 'npm default main');
  assert.equal(config.config.User, 'app');
  assert.deepEqual(config.config.Labels, {
    from: 'package.json',
    'org.opencontainers.image.created': '1970-01-01T00:00:00Z',
    'org.opencontainers.image.title': 'cli-app',
    'org.opencontainers.image.version': '1.0.0',
  });
  assert.deepEqual(config.config.ExposedPorts, { '3000/tcp': {} });
});

test('ocibuild warm fills the cache; --offline builds from it', async () => {
  const from = `oci:${layout.layoutPath}:${layout.tag}`;
  const cacheDir = path.join(tmp, 'warm-cache');
  const warmed = await ocibuild(['warm', from, '--cache-dir', cacheDir]);
  assert.equal(warmed.stdout.trim(), `${from} ${layout.manifestDigest}`);
  assert.match(warmed.stderr, /fetched sha256:/);
  const blobs = await fs.readdir(path.join(cacheDir, 'blobs', 'sha256'));
  assert.ok(blobs.includes(layout.layerDigest.slice(7)));
  // The layout is moved away: only the cache can serve the base now.
  const moved = `${layout.layoutPath}-moved`;
  await fs.rename(layout.layoutPath, moved);
  try {
    const built = await ocibuild(['node', app, '--from', from, '--to', `oci:${path.join(tmp, 'off')}`, '--cache-dir', cacheDir, '--offline', '-q']);
    assert.match(built.stdout.trim(), /^sha256:/);
    await assert.rejects(ocibuild(['node', app, '--from', from, '--to', 'localhost:5999/x:1', '--cache-dir', cacheDir, '--offline', '-q']), /offline builds write to oci/);
  } finally {
    await fs.rename(moved, layout.layoutPath);
  }
  await assert.rejects(ocibuild(['warm']), (e: { code?: number }) => e.code === 2);
});

test('progress: plain descriptions and TTY bars', () => {
  assert.equal(describeEvent({ type: 'layer-built', platform: 'linux/amd64', digest: 'sha256:' + 'ab'.repeat(32), size: 2048, cached: true, createdBy: 'x' }), 'layer abababababab 2.0 KiB cached  x');
  assert.equal(describeEvent({ type: 'copy', target: 't', event: { type: 'blob-progress', digest: 'sha256:' + '0'.repeat(64), bytes: 1 } }), undefined);
  const written: string[] = [];
  const stream = { write: (s: string) => (written.push(s), true), isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, on: () => stream, removeListener: () => stream } as unknown as NodeJS.WritableStream;
  const reporter = createProgress('tty', { out: () => {}, err: () => {}, isTTY: true }, stream);
  const digest = 'sha256:' + 'cd'.repeat(32);
  reporter.onEvent({ type: 'copy', target: 't', event: { type: 'blob-progress', digest, bytes: 512, total: 1024 } });
  reporter.onEvent({ type: 'copy', target: 't', event: { type: 'blob-done', digest, bytes: 1024, total: 1024 } });
  reporter.onEvent({ type: 'done', digest, durationMs: 1500 });
  reporter.done();
  const text = written.join('');
  assert.match(text, /cdcdcdcdcdcd/);
  assert.match(text, /done in 1\.50 s/);
});

test('ocibuild node flags: --deps-dir for every platform or per platform, --no-project-metadata, --stop-signal', async () => {
  const { nodeOptionsFromFlags } = await import('../../src/cli/commands/node.ts');
  assert.deepEqual(nodeOptionsFromFlags({ 'deps-dir': ['prod'] }).depsDir, 'prod');
  assert.deepEqual(nodeOptionsFromFlags({ 'deps-dir': ['linux/arm64=a', 'linux/arm/v7=b'] }).depsDir, { 'linux/arm64': 'a', 'linux/arm/v7': 'b' });
  assert.throws(() => nodeOptionsFromFlags({ 'deps-dir': ['x', 'linux/arm64=a'] }), /PLATFORM=PATH/);
  const o = nodeOptionsFromFlags({ 'no-project-metadata': true, 'stop-signal': 'SIGINT' });
  assert.equal(o.projectMetadata, false);
  assert.equal(o.stopSignal, 'SIGINT');
});
