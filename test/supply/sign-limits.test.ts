// Hostile signature manifests meet documented bounds: an oversized payload is not downloaded,
// too many signature layers are refused, and a .sig tag holding an index is named as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildBusyboxLayout, pushLayoutToRegistry } from '../helpers/busybox.ts';
import { generateCosignKeyPair, readCosignPrivateKey, readCosignPublicKey } from '../../src/supply/cosign-key.ts';
import { signImage, verifyImage, SignatureVerificationError } from '../../src/supply/sign.ts';
import { MAX_SIGNATURE_PAYLOAD_BYTES, MAX_SIGNATURES } from '../../src/supply/sign-store.ts';
import { hashBytes } from '../../src/hash/index.ts';
import { isOcibuildError, LimitExceededError } from '../../src/errors.ts';
import type { Descriptor, ImageManifest, RawManifest } from '../../src/oci/types.ts';
import { signFixture } from './sign-fixture.ts';

test('oversized payloads, too many layers and an index at the .sig tag are refused by name', async (t) => {
  const { dir, registry, client } = await signFixture(t, 'sign-limits');
  const image = await buildBusyboxLayout(path.join(dir, 'oci'));
  await pushLayoutToRegistry(image.layoutPath, image.tag, registry.host, 'limits/app');
  const ref = `${registry.host}/limits/app:latest`;
  const repo = { registry: registry.host, repository: 'limits/app' };
  const files = await generateCosignKeyPair('pw');
  const key = await readCosignPrivateKey(files.privateKeyPem, 'pw');
  const pub = readCosignPublicKey(files.publicKeyPem);
  const signed = await signImage(ref, { key, client });
  const original = JSON.parse(new TextDecoder().decode((await client.getManifest(repo, signed.signatureTag)).bytes)) as ImageManifest;
  const putSig = async (doc: unknown, mediaType = 'application/vnd.oci.image.manifest.v1+json') => {
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    const raw: RawManifest = { mediaType, digest: hashBytes(bytes), bytes };
    await client.putManifest(repo, raw, signed.signatureTag);
  };

  // A payload layer larger than the bound: reported as that signature's failure, never downloaded.
  const big = new Uint8Array(MAX_SIGNATURE_PAYLOAD_BYTES + 1).fill(0x20);
  const bigLayer: Descriptor = { ...original.layers[0]!, digest: hashBytes(big), size: big.byteLength };
  await client.putBlob(repo, bigLayer, big);
  await putSig({ ...original, layers: [bigLayer] });
  await assert.rejects(verifyImage(ref, { key: pub, client }), (error: unknown) => {
    assert.ok(error instanceof SignatureVerificationError);
    assert.match(error.failures[0]?.reason ?? '', /cannot read the payload: signature payload sha256:[0-9a-f]{64} is 1048577 bytes, more than 1048576/);
    return true;
  });

  // More signature layers than the bound: the whole manifest is refused.
  await putSig({ ...original, layers: Array.from({ length: MAX_SIGNATURES + 1 }, () => original.layers[0]) });
  await assert.rejects(verifyImage(ref, { key: pub, client }), (error: unknown) => {
    assert.ok(error instanceof LimitExceededError);
    assert.equal(error.limit, 'maxSignatures');
    assert.match(error.message, /has 1001 signature layers, more than 1000/);
    return true;
  });
  // Signing refuses to extend it too, and leaves it as it was.
  await assert.rejects(signImage(ref, { key, client }), LimitExceededError);

  // An index at the .sig tag is not a signature manifest: named, and not overwritten by sign.
  await putSig({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }, 'application/vnd.oci.image.index.v1+json');
  await assert.rejects(verifyImage(ref, { key: pub, client }), (error: unknown) => isOcibuildError(error, 'ERR_INVALID_MANIFEST') && /limits\/app:sha256-[0-9a-f]{64}\.sig is an index/.test((error as Error).message));
  await assert.rejects(signImage(ref, { key, client }), (error: unknown) => isOcibuildError(error, 'ERR_INVALID_MANIFEST'));
  assert.equal((await client.getManifest(repo, signed.signatureTag)).mediaType, 'application/vnd.oci.image.index.v1+json');
});
