// cosign's key-pair format and payload, checked against upstream vectors and against openssl
// (an implementation that shares nothing with ours).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  COSIGN_PRIVATE_KEY_PEM,
  KeyPasswordError,
  SIGSTORE_PRIVATE_KEY_PEM,
  decodePem,
  decryptEnvelope,
  encodePem,
  encryptPrivateKey,
  generateCosignKeyPair,
  readCosignPrivateKey,
  readCosignPublicKey,
} from '../../src/supply/cosign-key.ts';
import { dockerReferenceOf, parseSimpleSigningPayload, signatureTag, simpleSigningPayload } from '../../src/supply/cosign-payload.ts';
import { signPayload, verifyPayloadSignature } from '../../src/supply/sign.ts';
import { parseReference } from '../../src/reference.ts';
import { generateKeyPairSync } from 'node:crypto';
import { isOcibuildError } from '../../src/errors.ts';

// Envelopes from go-securesystemslib's encrypted/encrypted_test.go (MIT licence, The Update
// Framework / Secure Systems Lab): the library cosign encrypts its keys with. Each holds the
// JSON string of base64("reallyimportant") under the passphrase "supersecret".
const UPSTREAM_ENVELOPES = [
  '{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"WO3mVvyTwJ9vwT5/Tk5OW5WPIBUofMjcpEfrLnfY4uA="},"cipher":{"name":"nacl/secretbox","nonce":"tCy7HcTFr4uxv4Nrg/DWmncuZ148U1MX"},"ciphertext":"08n43p5G5yviPEZpO7tPPF4aZQkWiWjkv4taFdhDBA0tamKH4nw="}',
  '{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"FhzPOt9/bJG4PTq6lQ6ecG6GzaOuOy/ynG5+yRiFlNs="},"cipher":{"name":"nacl/secretbox","nonce":"aw1ng1jHaDz/tQ7V2gR9O2+IGQ8xJEuE"},"ciphertext":"HycvuLZL4sYH0BrYTh4E/H20VtAW6u5zL5Pr+IBjYLYnCPzDkq8="}',
  '{"kdf":{"name":"scrypt","params":{"N":131072,"r":8,"p":1},"salt":"m38E3kouJTtiheLQN22NQ8DTito5hrjpUIskqcd375k="},"cipher":{"name":"nacl/secretbox","nonce":"Y6PM13yA+o44pE/W1ZBwczeGnTV/m9Zc"},"ciphertext":"6H8sqj1K6B6yDjtH5AQ6lbFigg/C2yDDJc4rYJ79w9aVPImFIPI="}',
];
const UNSUPPORTED_PARAMS =
  '{"kdf":{"name":"scrypt","params":{"N":99,"r":99,"p":99},"salt":"cZFcQJdwPhPyhU1R4qkl0qVOIjZd4V/7LYYAavq166k="},"cipher":{"name":"nacl/secretbox","nonce":"7vhRS7j0hEPBWV05skAdgLj81AkGeE7U"},"ciphertext":"6WYU/YSXVbYzl/NzaeAzmjLyfFhOOjLc0d8/GFV0aBFdJvyCcXc="}';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('decrypts go-securesystemslib envelopes (legacy, standard and OWASP scrypt costs)', async () => {
  const expected = JSON.stringify(Buffer.from('reallyimportant').toString('base64'));
  for (const envelope of UPSTREAM_ENVELOPES) assert.equal(dec(await decryptEnvelope(enc(envelope), 'supersecret')), expected);
  await assert.rejects(decryptEnvelope(enc(UPSTREAM_ENVELOPES[1] as string), 'supersecreT', 'vector.key'), (error: unknown) => {
    assert.ok(error instanceof KeyPasswordError);
    assert.equal(error.code, 'ERR_CREDENTIALS');
    assert.match(error.message, /vector\.key: wrong password/);
    assert.doesNotMatch(error.message, /supersecre/);
    return true;
  });
  // A tampered cost must be refused before any work (an N of 2^30 would take gigabytes).
  await assert.rejects(decryptEnvelope(enc(UNSUPPORTED_PARAMS), 'supersecret'), /unsupported scrypt parameters/);
  const tampered = JSON.parse(UPSTREAM_ENVELOPES[0] as string) as { ciphertext: string };
  const bytes = Buffer.from(tampered.ciphertext, 'base64');
  bytes[20] = (bytes[20] as number) ^ 1;
  tampered.ciphertext = bytes.toString('base64');
  await assert.rejects(decryptEnvelope(enc(JSON.stringify(tampered)), 'supersecret'), KeyPasswordError);
  await assert.rejects(decryptEnvelope(enc('{"kdf":{"name":"argon2"},"cipher":{"name":"nacl/secretbox"}}'), 'x'), /unknown kdf "argon2"/);
  await assert.rejects(decryptEnvelope(enc('not json'), 'x', 'k.key'), /k\.key: the encrypted key is not JSON/);
});

test('generated key pair: the format cosign reads, checked with openssl', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cosign-key-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const files = await generateCosignKeyPair('correct horse');
  assert.match(files.privateKeyPem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n$/);
  assert.match(files.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);

  const block = decodePem(files.privateKeyPem, 'cosign.key');
  assert.equal(block.type, SIGSTORE_PRIVATE_KEY_PEM);
  const envelope = JSON.parse(dec(block.der)) as {
    kdf: { name: string; params: Record<string, number>; salt: string };
    cipher: { name: string; nonce: string };
    ciphertext: string;
  };
  assert.deepEqual(Object.keys(envelope), ['kdf', 'cipher', 'ciphertext']);
  assert.equal(envelope.kdf.name, 'scrypt');
  assert.deepEqual(envelope.kdf.params, { N: 65536, r: 8, p: 1 });
  assert.equal(Buffer.from(envelope.kdf.salt, 'base64').length, 32);
  assert.equal(envelope.cipher.name, 'nacl/secretbox');
  assert.equal(Buffer.from(envelope.cipher.nonce, 'base64').length, 24);

  // The plaintext is a PKCS #8 DER EC P-256 key whose public half is cosign.pub: openssl says so.
  const der = await decryptEnvelope(block.der, 'correct horse');
  const derFile = path.join(dir, 'key.der');
  await fs.writeFile(derFile, der);
  const text = execFileSync('openssl', ['pkey', '-inform', 'DER', '-in', derFile, '-noout', '-text'], { encoding: 'utf8' });
  assert.match(text, /Private-Key: \(256 bit/);
  assert.match(text, /prime256v1|P-256/);
  const pub = execFileSync('openssl', ['pkey', '-inform', 'DER', '-in', derFile, '-pubout'], { encoding: 'utf8' });
  assert.equal(pub, files.publicKeyPem);

  const key = await readCosignPrivateKey(files.privateKeyPem, 'correct horse', 'cosign.key');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  await assert.rejects(readCosignPrivateKey(files.privateKeyPem, 'wrong horse', 'cosign.key'), (error: unknown) => isOcibuildError(error, 'ERR_CREDENTIALS') && /cosign\.key/.test((error as Error).message));

  // The older PEM type is read too; anything else is refused by name.
  const legacy = await encryptPrivateKey(key, '', { pemType: COSIGN_PRIVATE_KEY_PEM });
  assert.match(legacy, /^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----/);
  assert.equal((await readCosignPrivateKey(legacy, '')).asymmetricKeyType, 'ec');
  await assert.rejects(readCosignPrivateKey(encodePem('EC PRIVATE KEY', new Uint8Array(8)), '', 'x.key'), /x\.key: PEM type "EC PRIVATE KEY" is not a cosign private key/);
  assert.throws(() => readCosignPublicKey(files.privateKeyPem, 'p.pub'), /p\.pub: PEM type "ENCRYPTED SIGSTORE PRIVATE KEY" is not PUBLIC KEY/);
  assert.throws(() => readCosignPublicKey('hello', 'p.pub'), /p\.pub: no PEM block found/);
});

test('signatures: ECDSA P-256 over SHA-256, DER, checked both ways with openssl', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cosign-sig-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const files = await generateCosignKeyPair('pw');
  const key = await readCosignPrivateKey(files.privateKeyPem, 'pw');
  const pub = readCosignPublicKey(files.publicKeyPem);
  const payload = simpleSigningPayload('127.0.0.1:5000/app', `sha256:${'a'.repeat(64)}`);
  const signature = signPayload(payload, key);
  assert.ok(verifyPayloadSignature(payload, signature, pub));
  await fs.writeFile(path.join(dir, 'payload.json'), payload);
  await fs.writeFile(path.join(dir, 'sig.der'), Buffer.from(signature, 'base64'));
  await fs.writeFile(path.join(dir, 'cosign.pub'), files.publicKeyPem);
  const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', 'cosign.pub', '-signature', 'sig.der', 'payload.json'], { cwd: dir, encoding: 'utf8' });
  assert.equal(out.trim(), 'Verified OK');

  // A signature openssl makes verifies here; one over other bytes does not.
  await fs.writeFile(path.join(dir, 'key.pem'), key.export({ type: 'pkcs8', format: 'pem' }));
  execFileSync('openssl', ['dgst', '-sha256', '-sign', 'key.pem', '-out', 'openssl.der', 'payload.json'], { cwd: dir });
  const theirs = (await fs.readFile(path.join(dir, 'openssl.der'))).toString('base64');
  assert.ok(verifyPayloadSignature(payload, theirs, pub));
  assert.ok(!verifyPayloadSignature(enc(`${dec(payload)} `), theirs, pub));
  assert.ok(!verifyPayloadSignature(payload, 'not base64!', pub));
  const other = readCosignPublicKey((await generateCosignKeyPair('pw')).publicKeyPem);
  assert.ok(!verifyPayloadSignature(payload, signature, other));
});

test('simple-signing payload: the bytes cosign writes (sigstore payload vectors)', () => {
  // Expected strings from sigstore/sigstore pkg/signature/payload/payload_test.go (Apache-2.0).
  const digest = 'sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f';
  assert.equal(
    dec(simpleSigningPayload('example.com/test/image', digest)),
    `{"critical":{"identity":{"docker-reference":"example.com/test/image"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
  );
  const annotated = simpleSigningPayload('example.com/cosign/test/image', digest, {
    creator: 'anyone',
    some_struct: { foo: 'bar', false: true, nothing: null },
    'CamelCase WithSpace': 8.314,
  });
  assert.equal(
    dec(annotated),
    `{"critical":{"identity":{"docker-reference":"example.com/cosign/test/image"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":{"CamelCase WithSpace":8.314,"creator":"anyone","some_struct":{"false":true,"foo":"bar","nothing":null}}}`,
  );
  assert.match(dec(simpleSigningPayload('r/x', digest, { html: '<a&b>' })), /"html":"\\u003ca\\u0026b\\u003e"/);
  const parsed = parseSimpleSigningPayload(annotated, 'p');
  assert.equal(parsed.critical.image['docker-manifest-digest'], digest);
  assert.equal(parsed.optional?.creator, 'anyone');
  assert.throws(
    () => parseSimpleSigningPayload(enc(dec(annotated).replace('cosign container image signature', 'atomic container signature')), 'p'),
    /payload type "atomic container signature"/,
  );
  assert.equal(dockerReferenceOf(parseReference('busybox:1')), 'index.docker.io/library/busybox');
  assert.equal(dockerReferenceOf(parseReference('127.0.0.1:5000/team/app@' + digest)), '127.0.0.1:5000/team/app');
  assert.equal(signatureTag(digest), `sha256-${digest.slice(7)}.sig`);
  assert.throws(() => signatureTag('sha256:xyz'), /invalid digest/);
});

test('other key types: P-384 with SHA-384, RSA with SHA-256 (openssl agrees), Ed25519 refused', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cosign-types-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const payload = simpleSigningPayload('r.example/app', `sha256:${'b'.repeat(64)}`);
  await fs.writeFile(path.join(dir, 'payload.json'), payload);
  const cases = [
    { name: 'p384', pair: generateKeyPairSync('ec', { namedCurve: 'P-384' }), hash: '-sha384' },
    { name: 'rsa', pair: generateKeyPairSync('rsa', { modulusLength: 2048 }), hash: '-sha256' },
  ];
  for (const { name, pair, hash } of cases) {
    const pem = await encryptPrivateKey(pair.privateKey, 'pw');
    const key = await readCosignPrivateKey(pem, 'pw');
    const signature = signPayload(payload, key);
    await fs.writeFile(path.join(dir, `${name}.pub`), pair.publicKey.export({ type: 'spki', format: 'pem' }));
    await fs.writeFile(path.join(dir, `${name}.sig`), Buffer.from(signature, 'base64'));
    const out = execFileSync('openssl', ['dgst', hash, '-verify', `${name}.pub`, '-signature', `${name}.sig`, 'payload.json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(out.trim(), 'Verified OK', name);
    assert.ok(verifyPayloadSignature(payload, signature, readCosignPublicKey(await fs.readFile(path.join(dir, `${name}.pub`), 'utf8'))));
  }
  const ed = generateKeyPairSync('ed25519');
  await assert.rejects(readCosignPrivateKey(await encryptPrivateKey(ed.privateKey, 'pw'), 'pw', 'ed.key'), (error: unknown) => isOcibuildError(error, 'ERR_UNSUPPORTED') && /ed\.key: ed25519 keys are not supported/.test((error as Error).message));
});
