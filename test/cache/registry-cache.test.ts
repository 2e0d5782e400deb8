// The registry cache repo against a real registry: step artifacts (tag = key, artifactType,
// config = record, one layer), lookups that turn every bad entry into a miss with a reason
// (unknown key, record for another key, layer deleted behind the manifest, corrupt record or
// layer bytes), TTL, push: false, and a build that rebuilds instead of using a corrupt layer.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, createRegistryClient, type BuildOptions, type BuildResult } from '../../src/index.ts';
import { registryStepCache, STEP_ARTIFACT_TYPE } from '../../src/cache/registry-cache.ts';
import { STEP_RECORD_SCHEMA, type StepRecord } from '../../src/cache/steps-record.ts';
import type { RegistryClient } from '../../src/registry/client.ts';
import { hashBytes } from '../../src/hash/index.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { busyboxInRegistry } from '../helpers/busybox.ts';

let tmp: string;
let registry: TestRegistry;
let client: RegistryClient;
let baseRef: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-regcache-'));
  registry = await startRegistry();
  client = createRegistryClient();
  await busyboxInRegistry(registry.host, path.join(tmp, 'busybox'));
  baseRef = `${registry.host}/base/busybox:latest`;
});

after(async () => {
  await client?.close();
  await registry?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

function record(key: string, layerBytes?: Uint8Array): StepRecord {
  const r: StepRecord = { schema: STEP_RECORD_SCHEMA, key, created: new Date().toISOString(), createdBy: 'RUN x # buildkit', platform: 'linux/amd64', config: { Env: ['A=1'] } };
  if (layerBytes) {
    r.layer = {
      descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: hashBytes(layerBytes), size: layerBytes.byteLength },
      diffId: `sha256:${'0'.repeat(64)}`,
      uncompressedSize: 1024,
      entryCount: 1,
    };
  }
  return r;
}

const body = (bytes: Uint8Array) => async function* () {
  yield bytes;
};

function blobFile(digest: string): string {
  const hex = digest.slice(7);
  return path.join(registry.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

describe('registry step artifacts', () => {
  it('round-trip: tagged by key, artifactType, record as config, one layer', async () => {
    const cache = registryStepCache(`${registry.host}/cache/roundtrip`, client);
    const key = '1'.repeat(64);
    const layer = new TextEncoder().encode('layer bytes 1');
    await cache.push(record(key, layer), body(layer));
    const raw = await client.getManifest(cache.origin, key);
    const manifest = JSON.parse(new TextDecoder().decode(raw.bytes)) as { artifactType: string; config: { mediaType: string }; layers: { digest: string }[] };
    assert.equal(manifest.artifactType, STEP_ARTIFACT_TYPE);
    assert.equal(manifest.config.mediaType, STEP_ARTIFACT_TYPE);
    assert.deepEqual(manifest.layers.map((l) => l.digest), [hashBytes(layer)]);
    const found = await cache.lookup(key);
    assert.ok('record' in found, JSON.stringify(found));
    assert.equal(found.record.layer?.descriptor.digest, hashBytes(layer));
    // No layer: the empty descriptor stands in.
    const empty = '2'.repeat(64);
    await cache.push(record(empty), undefined);
    const none = await cache.lookup(empty);
    assert.ok('record' in none && none.record.layer === undefined);
  });

  it('every bad entry is a miss with a reason', async () => {
    const cache = registryStepCache(`${registry.host}/cache/bad`, client);
    assert.deepEqual(await cache.lookup('3'.repeat(64)), { miss: 'no record for key' });

    // A record pushed under another key's tag.
    const layer = new TextEncoder().encode('layer bytes 4');
    await cache.push(record('4'.repeat(64), layer), body(layer));
    const manifest = await client.getManifest(cache.origin, '4'.repeat(64));
    await client.putManifest(cache.origin, manifest, '5'.repeat(64));
    const wrongKey = await cache.lookup('5'.repeat(64));
    assert.ok('miss' in wrongKey && /field key/.test(wrongKey.miss), JSON.stringify(wrongKey));

    // The layer blob deleted behind the manifest.
    const gone = new TextEncoder().encode('layer bytes 6');
    await cache.push(record('6'.repeat(64), gone), body(gone));
    const response = await fetch(`${registry.url}/v2/cache/bad/blobs/${hashBytes(gone)}`, { method: 'DELETE' });
    assert.equal(response.status, 202);
    const missing = await cache.lookup('6'.repeat(64));
    assert.ok('miss' in missing && /missing/.test(missing.miss), JSON.stringify(missing));

    // Record bytes changed in the registry's storage: the digest check refuses them.
    const torn = new TextEncoder().encode('layer bytes 7');
    await cache.push(record('7'.repeat(64), torn), body(torn));
    const tornManifest = JSON.parse(new TextDecoder().decode((await client.getManifest(cache.origin, '7'.repeat(64))).bytes)) as { config: { digest: string } };
    const file = blobFile(tornManifest.config.digest);
    const bytes = await fs.readFile(file);
    bytes[5] = 0x7a;
    await fs.writeFile(file, bytes);
    const corrupt = await cache.lookup('7'.repeat(64));
    assert.ok('miss' in corrupt && /unusable/.test(corrupt.miss), JSON.stringify(corrupt));
  });
});

describe('builds with a cache repo', () => {
  async function context(name: string): Promise<string> {
    const dir = path.join(tmp, name);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'a.txt'), `${name}\n`);
    await fs.writeFile(path.join(dir, 'Dockerfile'), `FROM ${baseRef}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n`);
    return dir;
  }
  const build = (dir: string, cacheDir: string, extra: Partial<BuildOptions> & { to: string }): Promise<BuildResult> =>
    buildImage({ context: dir, dockerfile: 'Dockerfile', sourceDateEpoch: 0, ...extra, cache: { dir: cacheDir, ...(extra.cache || {}) } });

  it('ttl: older records are misses; push: false writes nothing to the repo', async () => {
    const dir = await context('ttl');
    const repo = `${registry.host}/cache/ttl`;
    await build(dir, path.join(tmp, 'ttl-a'), { to: `${registry.host}/out/ttl:a`, cache: { repo } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const mark = (await registry.requestLog()).length;
    const r = await build(dir, path.join(tmp, 'ttl-b'), { to: `${registry.host}/out/ttl:b`, cache: { repo, ttl: '10ms', push: false } });
    assert.deepEqual(r.stats.steps.map((s) => `${s.status} ${s.reason}`), ['miss record older than the cache ttl', 'miss record older than the cache ttl']);
    const writes = (await registry.requestLog()).slice(mark).filter((l) => l.path.startsWith('/v2/cache/ttl/') && l.method !== 'GET' && l.method !== 'HEAD');
    assert.deepEqual(writes, []);
  });

  it('a corrupt layer in the repo is never used: the step is rebuilt', async () => {
    const dir = await context('corrupt');
    const repo = `${registry.host}/cache/corrupt`;
    const first = await build(dir, path.join(tmp, 'corrupt-a'), { to: `oci:${path.join(tmp, 'out-corrupt')}:a`, cache: { repo } });
    const copyLayer = first.manifest.layers.at(-2);
    assert.ok(copyLayer);
    const file = blobFile(copyLayer.digest);
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0xff;
    await fs.writeFile(file, bytes);
    // A fresh machine writing to an OCI layout must read the bytes: the COPY is rebuilt, the RUN hits.
    const r = await build(dir, path.join(tmp, 'corrupt-b'), { to: `oci:${path.join(tmp, 'out-corrupt')}:b`, cache: { repo, push: false } });
    assert.equal(r.digest, first.digest);
    assert.equal(r.stats.steps[0]?.status, 'miss');
    assert.match(r.stats.steps[0]?.reason ?? '', /unusable/);
    assert.deepEqual([r.stats.steps[1]?.status, r.stats.steps[1]?.source], ['hit', 'registry']);
    assert.equal(r.stats.runsExecuted, 0);
  });
});
