/**
 * The referrers API and its fallback tag scheme (distribution spec, "Listing Referrers" and
 * "Pushing Manifests with Subject"), against a scripted registry on 127.0.0.1 that either
 * implements the API (and answers `OCI-Subject` on PUT) or does not. The fallback against a
 * real registry (distribution 2.8) runs in the transport conformance suite.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/oci/mediatypes.ts';
import type { Descriptor, RawManifest } from '../../src/oci/types.ts';
import { sha256 } from '../helpers/data.ts';
import { OcibuildError } from '../../src/errors.ts';

const encoder = new TextEncoder();

function manifest(doc: Record<string, unknown>): RawManifest {
  const bytes = encoder.encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, ...doc }));
  return { mediaType: OCI_MANIFEST, digest: sha256(bytes), bytes };
}

/** A registry of manifests only; `api` says whether it implements the referrers API. */
function scriptedRegistry(api: boolean) {
  const manifests = new Map<string, { type: string; bytes: Buffer }>();
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    log.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/v2/') return void res.writeHead(200).end();
    const referrers = /^\/v2\/app\/referrers\/(.+)$/.exec(url.pathname);
    if (referrers) {
      if (!api) return void res.writeHead(404).end();
      const list: Descriptor[] = [];
      for (const [key, m] of manifests) {
        if (!key.startsWith('sha256:')) continue;
        const doc = JSON.parse(m.bytes.toString()) as { subject?: { digest: string }; artifactType?: string; annotations?: Record<string, string> };
        if (doc.subject?.digest !== referrers[1]) continue;
        list.push({ mediaType: m.type, digest: key, size: m.bytes.length, artifactType: doc.artifactType ?? '', ...(doc.annotations ? { annotations: doc.annotations } : {}) });
      }
      const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: list });
      return void res.writeHead(200, { 'content-type': OCI_INDEX }).end(body);
    }
    const m = /^\/v2\/app\/manifests\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const ref = decodeURIComponent(m[1]!);
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const entry = { type: String(req.headers['content-type']), bytes };
        const digest = sha256(bytes);
        manifests.set(digest, entry);
        manifests.set(ref, entry);
        const subject = (JSON.parse(bytes.toString()) as { subject?: { digest: string } }).subject;
        res.writeHead(201, { 'docker-content-digest': digest, ...(api && subject ? { 'oci-subject': subject.digest } : {}) }).end();
      });
      return;
    }
    const found = manifests.get(ref);
    if (!found) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}');
    res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha256(found.bytes), 'content-length': found.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : found.bytes);
  });
  return { server, manifests, log };
}

for (const api of [true, false]) {
  describe(`referrers ${api ? 'through the referrers API' : 'through the fallback tag'}`, () => {
    const registry = scriptedRegistry(api);
    let client: RegistryClient;
    let repo: { registry: string; repository: string };
    before(async () => {
      await new Promise<void>((resolve) => registry.server.listen(0, '127.0.0.1', resolve));
      repo = { registry: `127.0.0.1:${(registry.server.address() as AddressInfo).port}`, repository: 'app' };
      client = createRegistryClient({ retries: { count: 0 } });
    });
    after(async () => {
      await client.close();
      registry.server.closeAllConnections();
      await new Promise<void>((resolve) => registry.server.close(() => resolve()));
    });

    it('finds what was pushed with a subject, filtered by artifactType', async () => {
      const image = manifest({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(encoder.encode('c')), size: 1 }, layers: [] });
      await client.putManifest(repo, image, 'v1');
      const subject = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.bytes.byteLength };
      const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 };
      const sbom = manifest({ artifactType: 'application/spdx+json', config: empty, layers: [], subject, annotations: { a: '1' } });
      const sig = manifest({ artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', config: empty, layers: [], subject });
      registry.log.length = 0;
      await client.putManifest(repo, sbom, undefined);
      await client.putManifest(repo, sig, undefined);
      const tag = `sha256-${image.digest.slice(7)}`;
      const touchedTag = registry.log.filter((l) => l.endsWith(`/manifests/${tag}`));
      if (api) {
        assert.deepEqual(touchedTag, [], 'a registry that answers OCI-Subject keeps its own index');
      } else {
        // Each push reads the fallback index and writes it back with the new referrer (no HEAD:
        // the client has just read the tag naming another digest, or absent).
        const once = [`GET /v2/app/manifests/${tag}`, `PUT /v2/app/manifests/${tag}`];
        assert.deepEqual(touchedTag, [...once, ...once]);
      }
      const all = await client.listReferrers(repo, image.digest);
      assert.deepEqual(all.map((d) => d.digest).sort(), [sbom.digest, sig.digest].sort());
      const only = await client.listReferrers(repo, image.digest, { artifactType: 'application/spdx+json' });
      assert.equal(only.length, 1);
      assert.equal(only[0]?.digest, sbom.digest);
      assert.equal(only[0]?.size, sbom.bytes.byteLength);
      assert.deepEqual(only[0]?.annotations, { a: '1' });
      // Pushing a referrer again adds nothing to the fallback index.
      await client.putManifest(repo, sbom, undefined);
      assert.equal((await client.listReferrers(repo, image.digest)).length, 2);
      assert.deepEqual(await client.listReferrers(repo, sbom.digest), []);
    });
  });
}

describe('a hostile referrers response', () => {
  let server: http.Server;
  let client: RegistryClient;
  let host: string;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': OCI_INDEX }).end('{"schemaVersion":2,"manifests":[{"mediaType":"application/x","digest":"sha256:nope","size":1}]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = createRegistryClient({ retries: { count: 0 } });
  });
  after(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('is refused with ERR_INVALID_MANIFEST naming the entry', async () => {
    await assert.rejects(client.listReferrers({ registry: host, repository: 'app' }, sha256('x')), (e: unknown) => {
      assert.ok(e instanceof OcibuildError && e.code === 'ERR_INVALID_MANIFEST', String(e));
      assert.match(e.message, /referrers manifests\[0\]/);
      return true;
    });
  });
});
