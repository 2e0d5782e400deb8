// A signature written the way cosign writes it, by other hands (openssl signs, raw HTTP pushes
// the manifest in Go's field order), verifies with ocibuild; ocibuild's own signing appends to
// it and keeps the foreign layer byte for byte (keyless annotations included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBusyboxLayout, pushLayoutToRegistry } from '../helpers/busybox.ts';
import { encryptPrivateKey, readCosignPrivateKey, readCosignPublicKey } from '../../src/supply/cosign-key.ts';
import { signImage, verifyImage } from '../../src/supply/sign.ts';
import { createPrivateKey } from 'node:crypto';
import type { ImageManifest } from '../../src/oci/types.ts';
import { signFixture } from './sign-fixture.ts';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a blob with the two-step monolithic upload of the distribution API. */
async function pushBlob(url: string, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location') ?? '', url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201);
  return digest;
}

test('verifies a signature stored as cosign stores it, and appends without disturbing it', async (t) => {
  const { dir, registry, client } = await signFixture(t, 'sign-interop');
  const image = await buildBusyboxLayout(path.join(dir, 'oci'));
  await pushLayoutToRegistry(image.layoutPath, image.tag, registry.host, 'interop/app');
  const repoName = `${registry.host}/interop/app`;

  // openssl makes the key pair and the signature.
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.pem'], { cwd: dir });
  execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', 'ec.pem', '-out', 'key.pem'], { cwd: dir });
  execFileSync('openssl', ['pkey', '-in', 'key.pem', '-pubout', '-out', 'cosign.pub'], { cwd: dir });
  const payload = `{"critical":{"identity":{"docker-reference":"${repoName}"},"image":{"docker-manifest-digest":"${image.manifestDigest}"},"type":"cosign container image signature"},"optional":{"sig":"openssl"}}`;
  await fs.writeFile(path.join(dir, 'payload.json'), payload);
  execFileSync('openssl', ['dgst', '-sha256', '-sign', 'key.pem', '-out', 'sig.der', 'payload.json'], { cwd: dir });
  const signature = (await fs.readFile(path.join(dir, 'sig.der'))).toString('base64');

  // The .sig manifest as cosign pushes it (Go field order), plus a keyless-style certificate annotation.
  const payloadDigest = await pushBlob(registry.url, 'interop/app', new TextEncoder().encode(payload));
  const config = `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${payloadDigest}"]},"config":{}}`;
  const configDigest = await pushBlob(registry.url, 'interop/app', new TextEncoder().encode(config));
  const cert = '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n';
  const manifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":${config.length},"digest":"${configDigest}"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":${payload.length},"digest":"${payloadDigest}","annotations":{"dev.cosignproject.cosign/signature":"${signature}","dev.sigstore.cosign/certificate":${JSON.stringify(cert)}}}]}`;
  const sigTag = `sha256-${image.manifestDigest.slice(7)}.sig`;
  const put = await fetch(`${registry.url}/v2/interop/app/manifests/${sigTag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(put.status, 201);

  const pub = readCosignPublicKey(await fs.readFile(path.join(dir, 'cosign.pub'), 'utf8'));
  const verified = await verifyImage(`${repoName}:latest`, { key: pub, client, annotations: { sig: 'openssl' } });
  assert.equal(verified.signatures.length, 1);
  assert.equal(new TextDecoder().decode(verified.signatures[0]?.payload), payload);

  // ocibuild signs with the openssl-made key (wrapped in cosign's format): a second layer, the first kept as it was.
  const wrapped = await encryptPrivateKey(createPrivateKey(await fs.readFile(path.join(dir, 'key.pem'), 'utf8')), 'pw');
  const key = await readCosignPrivateKey(wrapped, 'pw');
  const signed = await signImage(`${repoName}:latest`, { key, client });
  assert.equal(signed.added, true, 'a payload with other claims is a new signature');
  const after = JSON.parse(new TextDecoder().decode((await client.getManifest({ registry: registry.host, repository: 'interop/app' }, sigTag)).bytes)) as ImageManifest;
  assert.equal(after.layers.length, 2);
  assert.deepEqual(after.layers[0], (JSON.parse(manifest) as ImageManifest).layers[0]);
  assert.equal((await verifyImage(`${repoName}:latest`, { key: pub, client })).signatures.length, 2);
});
