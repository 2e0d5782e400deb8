// A registry with the OCI 1.1 referrers API: a scripted 127.0.0.1 front for the real
// distribution registry that answers GET /v2/NAME/referrers/DIGEST from the manifests with a
// subject pushed through it (and sends OCI-Subject). Attaching then writes no fallback tag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildImage } from '../../src/pipeline/index.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { attachArtifact } from '../../src/supply/attach.ts';
import { fallbackTag } from '../../src/supply/attach-manifest.ts';
import { listReferrers } from '../../src/supply/referrers.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

let registry: TestRegistry;
let front: http.Server;
let host: string;
let client: RegistryClient;
const referrers = new Map<string, Descriptor[]>();
const referrerRequests: string[] = [];

before(async () => {
  registry = await startRegistry();
  const upstream = new URL(registry.url);
  front = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const api = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})(\?.*)?$/.exec(url);
    if (req.method === 'GET' && api) {
      referrerRequests.push(url);
      const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: referrers.get(api[2] as string) ?? [] });
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let subject: string | undefined;
      if (req.method === 'PUT' && /\/manifests\//.test(url)) {
        const doc = JSON.parse(body.toString()) as { subject?: Descriptor; artifactType?: string; config?: Descriptor; annotations?: Record<string, string> };
        if (doc.subject !== undefined) {
          subject = doc.subject.digest;
          const entry: Descriptor = {
            mediaType: String(req.headers['content-type']),
            digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
            size: body.length,
            ...(doc.artifactType ?? doc.config?.mediaType ? { artifactType: (doc.artifactType ?? doc.config?.mediaType) as string } : {}),
            ...(doc.annotations ? { annotations: doc.annotations } : {}),
          };
          referrers.set(subject, [...(referrers.get(subject) ?? []).filter((d) => d.digest !== entry.digest), entry]);
        }
      }
      const headers = { ...req.headers, host: upstream.host };
      const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: url, headers }, (up) => {
        const out = { ...up.headers, ...(subject !== undefined ? { 'oci-subject': subject } : {}) };
        // Locations point at the upstream: rewrite them to this front.
        if (typeof out.location === 'string') out.location = out.location.replace(registry.url, `http://${host}`);
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      });
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(front.address() as AddressInfo).port}`;
  client = createRegistryClient();
});

after(async () => {
  await client?.close();
  await new Promise<void>((resolve) => front?.close(() => resolve()));
  await registry?.stop();
});

test('with the referrers API the artifact is listed by the registry and no fallback tag is written', async () => {
  const result = await buildImage({
    layers: [{ entries: [{ type: 'file', path: '/api.txt', source: new TextEncoder().encode('api\n') }] }],
    to: `${host}/app/api:1`,
    cache: false,
    sourceDateEpoch: 0,
  });
  const repo = registryTransport(`${host}/app/api`, client);
  const subject = { mediaType: result.mediaType, digest: result.digest, size: result.size };
  const attached = await attachArtifact(repo, subject, { artifactType: 'application/vnd.cyclonedx+json', mediaType: 'application/vnd.cyclonedx+json', bytes: new TextEncoder().encode('{"bomFormat":"CycloneDX"}') });
  assert.equal(attached.fallbackTag, undefined);
  assert.ok(referrerRequests.length > 0, 'the referrers API was asked');
  await assert.rejects(repo.getManifest(fallbackTag(subject.digest)), { code: 'ERR_NOT_FOUND' });
  const listed = await listReferrers(repo, subject.digest);
  assert.deepEqual(listed.map((d) => d.digest), [attached.descriptor.digest]);
  assert.equal(listed[0]?.artifactType, 'application/vnd.cyclonedx+json');

  // 'always' still writes the fallback index, for readers that only know the tag scheme.
  const always = await attachArtifact(repo, subject, { artifactType: 'application/spdx+json', mediaType: 'application/spdx+json', bytes: new TextEncoder().encode('{}') }, { fallback: 'always' });
  assert.equal(always.fallbackTag, fallbackTag(subject.digest));
  const tagged = JSON.parse(Buffer.from((await repo.getManifest(fallbackTag(subject.digest))).bytes).toString()) as { manifests: Descriptor[] };
  assert.deepEqual(tagged.manifests.map((d) => d.digest), [always.descriptor.digest]);
});
