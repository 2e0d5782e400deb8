// signImage / verifyImage / listSignatures against a real registry: what is stored is what
// cosign stores, an independent openssl check verifies it, and every tampering fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBusyboxLayout, pushLayoutToRegistry } from '../helpers/busybox.ts';
import { listSignatures, signImage, verifyImage, SignatureVerificationError } from '../../src/supply/sign.ts';
import { signatureConfig } from '../../src/supply/sign-store.ts';
import { hashBytes } from '../../src/hash/index.ts';
import { isOcibuildError } from '../../src/errors.ts';
import type { ImageManifest, RawManifest } from '../../src/oci/types.ts';
import { keyPair, signFixture } from './sign-fixture.ts';

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('sign, list, fetch back, verify and refuse every tampering (local registry)', async (t) => {
  const { dir, registry, client } = await signFixture(t, 'sign');
  const image = await buildBusyboxLayout(path.join(dir, 'oci'));
  const other = await buildBusyboxLayout(path.join(dir, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'] });
  assert.notEqual(image.manifestDigest, other.manifestDigest);
  const repoName = `${registry.host}/signed/app`;
  const repo = { registry: registry.host, repository: 'signed/app' };
  assert.equal(await pushLayoutToRegistry(image.layoutPath, image.tag, registry.host, 'signed/app'), image.manifestDigest);
  const alice = await keyPair('alice-pw');
  const bob = await keyPair('bob-pw');

  // Sign: one layer under sha256-<hex>.sig, as cosign stores it.
  const signed = await signImage(`${repoName}:latest`, { key: alice.key, client });
  assert.equal(signed.digest, image.manifestDigest);
  assert.equal(signed.signatureTag, `sha256-${image.manifestDigest.slice(7)}.sig`);
  assert.equal(signed.added, true);
  assert.equal(
    dec(signed.payload),
    `{"critical":{"identity":{"docker-reference":"${repoName}"},"image":{"docker-manifest-digest":"${image.manifestDigest}"},"type":"cosign container image signature"},"optional":null}`,
  );

  // Fetch back over plain HTTP (not through our client): manifest, config, payload.
  const get = async (p: string, accept = 'application/vnd.oci.image.manifest.v1+json') => {
    const response = await fetch(`${registry.url}/v2/signed/app/${p}`, { headers: { accept } });
    assert.equal(response.status, 200, p);
    return new Uint8Array(await response.arrayBuffer());
  };
  const sigManifestBytes = await get(`manifests/${signed.signatureTag}`);
  assert.equal(hashBytes(sigManifestBytes), signed.signatureManifestDigest);
  const sigManifest = JSON.parse(dec(sigManifestBytes)) as ImageManifest;
  assert.equal(sigManifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(sigManifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
  assert.equal(sigManifest.layers.length, 1);
  const layer = sigManifest.layers[0]!;
  assert.equal(layer.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
  assert.deepEqual(Object.keys(layer.annotations ?? {}), ['dev.cosignproject.cosign/signature']);
  assert.equal(layer.annotations?.['dev.cosignproject.cosign/signature'], signed.signature);
  const config = await get(`blobs/${sigManifest.config.digest}`);
  assert.equal(
    dec(config),
    `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${layer.digest}"]},"config":{}}`,
  );
  const payload = await get(`blobs/${layer.digest}`);
  assert.deepEqual(payload, signed.payload);

  // The independent check: openssl verifies the stored signature over the stored payload bytes.
  await fs.writeFile(path.join(dir, 'payload.json'), payload);
  await fs.writeFile(path.join(dir, 'sig.der'), Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64'));
  await fs.writeFile(path.join(dir, 'cosign.pub'), alice.files.publicKeyPem);
  const openssl = execFileSync('openssl', ['dgst', '-sha256', '-verify', 'cosign.pub', '-signature', 'sig.der', 'payload.json'], { cwd: dir, encoding: 'utf8' });
  assert.equal(openssl.trim(), 'Verified OK');

  // Verify by tag and by digest.
  const verified = await verifyImage(`${repoName}:latest`, { key: alice.pub, client });
  assert.equal(verified.digest, image.manifestDigest);
  assert.equal(verified.signatures.length, 1);
  assert.equal(verified.signatures[0]?.claims.critical.image['docker-manifest-digest'], image.manifestDigest);
  assert.equal((await verifyImage(`${repoName}@${image.manifestDigest}`, { key: alice.pub, client })).signatures.length, 1);

  // Signing again with the same key adds nothing; another key appends a layer, keeping the first.
  const again = await signImage(`${repoName}:latest`, { key: alice.key, client });
  assert.equal(again.added, false);
  assert.equal(again.signature, signed.signature, 'the stored signature is reported');
  assert.equal(hashBytes(await get(`manifests/${signed.signatureTag}`)), signed.signatureManifestDigest);
  const second = await signImage(`${repoName}:latest`, { key: bob.key, client, annotations: { env: 'prod' } });
  assert.equal(second.added, true);
  const listed = await listSignatures(`${repoName}:latest`, { client });
  assert.equal(listed.signatures.length, 2);
  assert.equal(listed.signatures[0]?.signature, signed.signature);
  assert.equal(listed.signatures[1]?.signature, second.signature);
  const afterBob = JSON.parse(dec(await get(`manifests/${signed.signatureTag}`))) as ImageManifest;
  assert.deepEqual(dec(await get(`blobs/${afterBob.config.digest}`)), dec(signatureConfig(afterBob.layers)));
  assert.equal((await verifyImage(`${repoName}:latest`, { key: alice.pub, client })).signatures.length, 1);
  const bobs = await verifyImage(`${repoName}:latest`, { key: bob.pub, client, annotations: { env: 'prod' } });
  assert.deepEqual(bobs.signatures[0]?.claims.optional, { env: 'prod' });
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: bob.pub, client, annotations: { env: 'dev' } }), /annotation env=dev is missing/);

  // A key that signed nothing: every layer fails, and the error says why.
  const carol = await keyPair('carol-pw');
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: carol.pub, client }), (error: unknown) => {
    assert.ok(error instanceof SignatureVerificationError);
    assert.equal(error.code, 'ERR_SIGNATURE');
    assert.equal(error.failures.length, 2);
    assert.match(error.message, /does not verify against the public key/);
    return true;
  });

  // Tampering: rewrite the .sig manifest with an altered payload, then an altered signature.
  const original = await client.getManifest(repo, signed.signatureTag);
  const putSig = async (layers: ImageManifest['layers']) => {
    const doc = { ...sigManifest, layers };
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    const raw: RawManifest = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: hashBytes(bytes), bytes };
    await client.putManifest(repo, raw, signed.signatureTag);
  };
  const forged = new TextEncoder().encode(dec(payload).replace('"optional":null', '"optional":{"approved":"yes"}'));
  const forgedLayer = { ...layer, digest: hashBytes(forged), size: forged.byteLength };
  await client.putBlob(repo, forgedLayer, forged);
  await putSig([forgedLayer]);
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: alice.pub, client }), (error: unknown) => {
    assert.ok(error instanceof SignatureVerificationError);
    assert.match(error.message, /signature 1 \(sha256:[0-9a-f]{64}\): the signature does not verify against the public key/);
    return true;
  });
  const sigBytes = Buffer.from(signed.signature, 'base64');
  sigBytes[sigBytes.length - 1] = (sigBytes[sigBytes.length - 1] as number) ^ 0x01;
  await putSig([{ ...layer, annotations: { 'dev.cosignproject.cosign/signature': sigBytes.toString('base64') } }]);
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: alice.pub, client }), /does not verify against the public key/);
  await putSig([{ ...layer, annotations: {} }]);
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: alice.pub, client }), /has no dev\.cosignproject\.cosign\/signature annotation/);
  await client.putManifest(repo, original, signed.signatureTag);
  assert.equal((await verifyImage(`${repoName}:latest`, { key: alice.pub, client })).signatures.length, 1);

  // The tag moves to another image: no signatures for the digest it names now.
  assert.equal(await pushLayoutToRegistry(other.layoutPath, other.tag, registry.host, 'signed/app'), other.manifestDigest);
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: alice.pub, client }), (error: unknown) => {
    assert.ok(error instanceof SignatureVerificationError);
    assert.equal(error.digest, other.manifestDigest);
    assert.match(error.message, new RegExp(`no signatures found for .*: it names ${other.manifestDigest}`));
    return true;
  });
  // ...and a signature copied to the new image's tag (a replay) names both digests.
  const otherTag = `sha256-${other.manifestDigest.slice(7)}.sig`;
  await client.putManifest(repo, original, otherTag);
  await assert.rejects(verifyImage(`${repoName}:latest`, { key: alice.pub, client }), (error: unknown) => {
    assert.ok(error instanceof SignatureVerificationError);
    assert.equal(error.failures[0]?.signedDigest, image.manifestDigest);
    assert.ok(error.message.includes(`signed for ${image.manifestDigest}, not for this image (${other.manifestDigest})`), error.message);
    return true;
  });
  // The signed digest itself still verifies.
  assert.equal((await verifyImage(`${repoName}@${image.manifestDigest}`, { key: alice.pub, client })).digest, image.manifestDigest);

  // Missing images and malformed references are errors of their own kind.
  await assert.rejects(verifyImage(`${registry.host}/signed/none:1`, { key: alice.pub, client }), (error: unknown) => isOcibuildError(error, 'ERR_REGISTRY_NOT_FOUND'));
  await assert.rejects(signImage(`${registry.host}/signed/none:1`, { key: alice.key, client }), (error: unknown) => isOcibuildError(error, 'ERR_REGISTRY_NOT_FOUND'));
  await assert.rejects(signImage(`${registry.host}/signed/app:latest`, { key: alice.pub, client }), /signing needs a private key/);
  // Nothing was written for the failed signing attempts.
  const tags = await client.listTags(repo);
  assert.deepEqual(tags.sort(), ['latest', otherTag, signed.signatureTag].sort());
});
