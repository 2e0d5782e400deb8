// Registry mirrors (issue 13): registries.conf [[registry]]/[[registry.mirror]] and kaniko's
// --registry-map, tried in order with fallback to the origin. `registry.test` never resolves, so
// a pull of it that succeeds came from the mirror; a mirror serving altered bytes fails the pull.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { parseRegistriesConf, pullSources } from '../../src/registry/registries-conf.ts';
import { runCli as cli } from '../helpers/cli.ts';

let dir: string;
let base: BusyboxLayout;
let mirror: TestRegistry;
let origin: TestRegistry;

async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-mirrors-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
  mirror = await startRegistry();
  origin = await startRegistry();
  for (const ref of [`${mirror.host}/hub/base:1`, `${origin.host}/team/base:1`, `${mirror.host}/altered/base:1`]) {
    const pushed = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, ref, '-q']);
    assert.equal(pushed.code, 0, pushed.stderr);
  }
});
after(async () => {
  await mirror.stop();
  await origin.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('registries.conf: a name that does not resolve is pulled from its mirror, after a dead one', async () => {
  const conf = path.join(dir, 'registries.conf');
  await fs.writeFile(conf, [
    '# containers-registries.conf(5), v2 format',
    'unqualified-search-registries = ["registry.test"]',
    '[[registry]]',
    'prefix = "registry.test"',
    'location = "registry.test"',
    '[[registry.mirror]]',
    `location = "127.0.0.1:${await deadPort()}/hub"  # down: the next one is tried`,
    '[[registry.mirror]]',
    `location = "${mirror.host}/hub"`,
    'insecure = true',
    '',
  ].join('\n'));
  const out = path.join(dir, 'out-conf');
  const run = await cli(['copy', 'registry.test/base:1', `oci:${out}`, '--registries-conf', conf, '-q']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), base.manifestDigest);
  // A registries.conf that cannot be read is an error naming it.
  const without = await cli(['copy', 'registry.test/base:1', `oci:${path.join(dir, 'out-none')}`, '--registries-conf', path.join(dir, 'empty.conf'), '-q']);
  assert.equal(without.code, 1);
  assert.match(without.stderr, /registries\.conf .*empty\.conf/);
});

test('--registry-map falls back to the origin when the mirror lacks the image; a build reads its base that way', async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx, { recursive: true });
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${origin.host}/team/base:1\nCOPY Dockerfile /Dockerfile\n`);
  const before = (await mirror.requestLog()).length;
  const run = await cli(['build', ctx, '--to', `oci:${path.join(dir, 'out-map')}`, '--registry-map', `${origin.host}/team=${mirror.host}/nothing-here`, '--registries-conf', '/dev/null', '-q']);
  assert.equal(run.code, 0, run.stderr);
  const asked = (await mirror.requestLog()).slice(before);
  assert.ok(asked.some((r) => r.path.startsWith('/v2/nothing-here/base/manifests/')), 'the mirror was asked first');
});

test('bytes a mirror alters are refused: the digest is checked whatever the mirror serves', async () => {
  // Overwrite the layer in the mirror's storage with other bytes of the same size.
  const blob = path.join(mirror.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', base.layerDigest.slice(7, 9), base.layerDigest.slice(7), 'data');
  const bytes = await fs.readFile(blob);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
  await fs.writeFile(blob, bytes);
  const run = await cli(['copy', 'registry.test/base:1', `oci:${path.join(dir, 'out-altered')}`, '--registry-map', `registry.test=${mirror.host}/altered`, '--registries-conf', '/dev/null', '-q']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /ERR_DIGEST_MISMATCH|digest/i);
});

test('registries.conf parser: tables, comments, prefixes, refusals', () => {
  const entries = parseRegistriesConf(
    '[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "m1.example/hub"\n[[registry]]\nprefix = "docker.io/library"\nlocation = "docker.io/library"\nblocked = true\n',
    'r.conf',
  );
  assert.deepEqual(pullSources(entries, 'docker.io/team/app'), [
    { name: 'm1.example/hub/team/app', mirror: true, insecure: false },
    { name: 'docker.io/team/app', mirror: false, insecure: false },
  ]);
  assert.throws(() => pullSources(entries, 'docker.io/library/busybox'), /blocks pulls/);
  assert.deepEqual(pullSources(entries, 'docker.iox/app'), [{ name: 'docker.iox/app', mirror: false, insecure: false }]);
  assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "a"\nmirror = [{ location = "b" }]\n', 'r.conf'), /r\.conf:3: inline mirror tables/);
  // Multi-line arrays at the top level (as distributions ship them) are read past.
  assert.equal(parseRegistriesConf('unqualified-search-registries = [\n  "a.example", # one\n  "b.example",\n]\n[[registry]]\nlocation = "x.example"\n', 'r.conf')[0]?.location, 'x.example');
  assert.throws(() => parseRegistriesConf('[[registry.mirror]]\nlocation = "b"\n', 'r.conf'), /r\.conf:1/);
});

test('a mirror that fails is a registry-warning every renderer prints; the pull goes on from the next source', async () => {
  const dead = `127.0.0.1:${await deadPort()}/hub`;
  const ctx = path.join(dir, 'ctx-warn');
  await fs.mkdir(ctx, { recursive: true });
  await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${origin.host}/team/base:1\nCOPY Dockerfile /Dockerfile\n`);
  const map = ['--registry-map', `${origin.host}/team=${dead}`, '--registries-conf', '/dev/null'];
  const warning = new RegExp(`warning: ${origin.host.replace(/\./g, '\\.')}/team/base:1: docker://${dead.replace(/\./g, '\\.')}/base failed \\(.*\\), trying the next source`);
  for (const mode of ['plain', 'tty', 'quiet'] as const) {
    const run = await cli(['build', ctx, '--to', `oci:${path.join(dir, `out-warn-${mode}`)}`, ...map, '--progress', mode]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, warning, `${mode}:\n${run.stderr}`);
    // The same failure is told once, however many reads tried the mirror.
    assert.equal(run.stderr.split('\n').filter((l) => warning.test(l)).length, 1, run.stderr);
  }
  const json = await cli(['copy', `${origin.host}/team/base:1`, `oci:${path.join(dir, 'out-warn-json')}`, ...map, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const events = json.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; image?: string; source?: string });
  const warned = events.find((e) => e.type === 'registry-warning');
  assert.equal(warned?.image, `${origin.host}/team/base:1`, json.stderr);
  assert.equal(warned?.source, `docker://${dead}/base`);
});
