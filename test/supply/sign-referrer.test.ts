// Signatures stored as OCI 1.1 referrers (cosign's experimental OCI 1.1 shape) on a registry
// without the referrers API (distribution 2.8): the fallback tag index makes them findable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildBusyboxLayout, pushLayoutToRegistry } from '../helpers/busybox.ts';
import { listSignatures, signImage, verifyImage, SignatureVerificationError } from '../../src/supply/sign.ts';
import { hashBytes } from '../../src/hash/index.ts';
import { encodeManifest } from '../../src/oci/manifest.ts';
import { isNotFound } from '../../src/errors.ts';
import type { ImageIndex, ImageManifest } from '../../src/oci/types.ts';
import { keyPair, signFixture } from './sign-fixture.ts';

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('sign as an OCI 1.1 referrer, verify it, and ignore referrers of another subject', async (t) => {
  const { dir, registry, client } = await signFixture(t, 'sign-ref');
  const image = await buildBusyboxLayout(path.join(dir, 'one'));
  const other = await buildBusyboxLayout(path.join(dir, 'multi'), { platforms: ['linux/amd64', 'linux/arm64'] });
  const repo = { registry: registry.host, repository: 'ref/app' };
  const name = `${registry.host}/ref/app`;
  await pushLayoutToRegistry(image.layoutPath, image.tag, registry.host, 'ref/app');
  await pushLayoutToRegistry(other.layoutPath, other.tag, registry.host, 'ref/app');
  const imageRef = `${name}@${image.manifestDigest}`;
  const otherRef = `${name}@${other.manifestDigest}`;
  const alice = await keyPair('a');
  const bob = await keyPair('b');

  const signed = await signImage(imageRef, { key: alice.key, client, store: 'referrer' });
  assert.equal(signed.added, true);
  assert.equal(signed.signatureManifestDigest, undefined);
  assert.ok(signed.referrerDigest);
  await assert.rejects(client.getManifest(repo, signed.signatureTag), (error: unknown) => isNotFound(error), 'no .sig tag in referrer mode');

  // The referrer: cosign's signature manifest with the artifact type as config media type, and a subject.
  const referrer = await client.getManifest(repo, signed.referrerDigest);
  const doc = JSON.parse(dec(referrer.bytes)) as ImageManifest;
  assert.equal(doc.config.mediaType, 'application/vnd.dev.cosign.artifact.sig.v1+json');
  assert.deepEqual(doc.subject, { mediaType: image.mediaType, digest: image.manifestDigest, size: doc.subject?.size });
  assert.equal(doc.layers.length, 1);
  assert.equal(doc.layers[0]?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
  // distribution 2.8 has no referrers API: the fallback tag sha256-<hex> lists it with that artifact type.
  const fallback = JSON.parse(dec((await client.getManifest(repo, `sha256-${image.manifestDigest.slice(7)}`)).bytes)) as ImageIndex;
  assert.deepEqual(
    fallback.manifests.map((m) => [m.digest, m.artifactType]),
    [[signed.referrerDigest, 'application/vnd.dev.cosign.artifact.sig.v1+json']],
  );

  // openssl verifies the referrer's signature over its payload.
  const layer = doc.layers[0]!;
  const payload = await client.getBlob(repo, layer);
  const chunks: Uint8Array[] = [];
  for await (const c of payload) chunks.push(c);
  await fs.writeFile(path.join(dir, 'payload.json'), Buffer.concat(chunks));
  await fs.writeFile(path.join(dir, 'sig.der'), Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64'));
  await fs.writeFile(path.join(dir, 'cosign.pub'), alice.files.publicKeyPem);
  assert.equal(execFileSync('openssl', ['dgst', '-sha256', '-verify', 'cosign.pub', '-signature', 'sig.der', 'payload.json'], { cwd: dir, encoding: 'utf8' }).trim(), 'Verified OK');

  const verified = await verifyImage(imageRef, { key: alice.pub, client });
  assert.equal(verified.signatures.length, 1);
  assert.equal(verified.signatures[0]?.source, signed.referrerDigest);
  assert.equal((await signImage(imageRef, { key: alice.key, client, store: 'referrer' })).added, false, 'an equal referrer signature is not written twice');

  // Both places at once: bob's signature lands in the .sig tag and in a second referrer.
  const both = await signImage(imageRef, { key: bob.key, client, store: 'both' });
  assert.ok(both.signatureManifestDigest && both.referrerDigest);
  const listed = await listSignatures(imageRef, { client });
  assert.equal(listed.signatures.length, 1);
  assert.equal(listed.referrers.length, 2);
  const bobs = await verifyImage(imageRef, { key: bob.pub, client });
  assert.deepEqual(bobs.signatures.map((s) => s.source).sort(), [both.referrerDigest, both.signatureTag].sort());

  // A referrer of another image, slipped into this image's fallback index, is not accepted.
  const forgedFor = await signImage(otherRef, { key: alice.key, client, store: 'referrer' });
  const carol = await keyPair('c');
  const onlyCarol = await signImage(otherRef, { key: carol.key, client, store: 'referrer' });
  const entry = fallback.manifests[0]!;
  const forged = encodeManifest({ ...fallback, manifests: [...fallback.manifests, { ...entry, digest: onlyCarol.referrerDigest!, size: (await client.getManifest(repo, onlyCarol.referrerDigest!)).bytes.byteLength }] });
  await client.putManifest(repo, forged, `sha256-${image.manifestDigest.slice(7)}`);
  assert.equal(hashBytes(forged.bytes), forged.digest);
  await assert.rejects(verifyImage(imageRef, { key: carol.pub, client }), (error: unknown) => {
    assert.ok(error instanceof SignatureVerificationError);
    assert.ok(!error.failures.some((f) => f.source === onlyCarol.referrerDigest), 'the foreign referrer was not even examined');
    return true;
  });
  assert.ok(forgedFor.referrerDigest);
  assert.equal((await verifyImage(otherRef, { key: carol.pub, client })).signatures.length, 1);
});
