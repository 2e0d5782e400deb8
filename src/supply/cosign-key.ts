/**
 * cosign's key-pair files, read and written byte-compatibly: `cosign.pub` is a PEM `PUBLIC KEY`
 * (PKIX), `cosign.key` a PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or the older `ENCRYPTED COSIGN
 * PRIVATE KEY`) whose body is the JSON envelope of go-securesystemslib's `encrypted` package:
 * scrypt (N=65536, r=8, p=1 by default) derives a 32-byte key from the password, NaCl secretbox
 * (XSalsa20-Poly1305) seals the PKCS #8 DER private key.
 *
 * Keys are `node:crypto` `KeyObject`s; nothing here touches the disk or the network.
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa';
import { InvalidArgumentError, OcibuildError, UnsupportedError, type OcibuildErrorOptions } from '../errors.ts';

/**
 * PEM type cosign writes for new private keys.
 * @category Supply chain
 */
export const SIGSTORE_PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
/**
 * PEM type of private keys written by cosign before v2 (still read by cosign and by ocibuild).
 * @category Supply chain
 */
export const COSIGN_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';

/** scrypt cost parameters accepted when decrypting (go-securesystemslib's legacy, standard and OWASP sets). */
const ACCEPTED_SCRYPT = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 131072, r: 8, p: 1 },
] as const;

/** The set cosign uses for new keys, and so does ocibuild. */
const DEFAULT_SCRYPT = { N: 65536, r: 8, p: 1 } as const;

/**
 * A key file larger than this is not a cosign key: the bound keeps hostile files out of memory.
 * @category Supply chain
 */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

const SALT_BYTES = 32;
const NONCE_BYTES = 24;
const BOX_KEY_BYTES = 32;

/**
 * The password of a cosign private key is wrong (secretbox authentication failed). Code
 * `ERR_CREDENTIALS`; the message names the key file, never the password.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { KeyPasswordError, readCosignPrivateKey } from 'ocibuild';
 *
 * try {
 *   await readCosignPrivateKey(await readFile('cosign.key', 'utf8'), 'guess', 'cosign.key');
 * } catch (error) {
 *   if (error instanceof KeyPasswordError) console.error(`wrong password for ${error.file}`);
 *   else throw error;
 * }
 * ```
 * @category Supply chain
 */
export class KeyPasswordError extends OcibuildError {
  /** The key file (or `the private key` when read from memory). */
  readonly file: string;
  constructor(file: string, options: OcibuildErrorOptions = {}) {
    super('ERR_CREDENTIALS', `cannot decrypt ${file}: wrong password (or the key file is corrupt)`, options);
    this.file = file;
  }
}

/**
 * A cosign key pair as the two files cosign writes.
 * @category Supply chain
 */
export interface CosignKeyPairFiles {
  /** `cosign.key`: the PEM-wrapped encrypted private key. */
  privateKeyPem: string;
  /** `cosign.pub`: the PEM PKIX public key. */
  publicKeyPem: string;
}

/**
 * Options of {@link encryptPrivateKey} and {@link generateCosignKeyPair}.
 * @category Supply chain
 */
export interface EncryptKeyOptions {
  /** PEM type to write (default {@link SIGSTORE_PRIVATE_KEY_PEM}, as cosign 2 does). */
  pemType?: typeof SIGSTORE_PRIVATE_KEY_PEM | typeof COSIGN_PRIVATE_KEY_PEM;
}

/**
 * Encodes DER bytes as PEM the way Go's `encoding/pem` does: 64-column base64, trailing newline.
 * @example
 * ```ts
 * import { encodePem } from 'ocibuild';
 *
 * const pem = encodePem('PUBLIC KEY', new Uint8Array([0x30, 0x00]));
 * ```
 * @category Supply chain
 */
export function encodePem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${type}-----\n`;
}

/**
 * Decodes the first PEM block of `text`; `what` names the input in errors. Throws
 * `InvalidArgumentError` when there is no well-formed block.
 * @example
 * ```ts
 * import { decodePem } from 'ocibuild';
 *
 * const { type, der } = decodePem('-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n', 'key.pub');
 * ```
 * @category Supply chain
 */
export function decodePem(text: string, what: string): { type: string; der: Uint8Array } {
  const match = /-----BEGIN ([A-Z0-9 #]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!match) throw new InvalidArgumentError(`${what}: no PEM block found`);
  const body = (match[2] as string).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new InvalidArgumentError(`${what}: the PEM body is not base64`);
  return { type: match[1] as string, der: new Uint8Array(Buffer.from(body, 'base64')) };
}

function deriveKey(password: Uint8Array, salt: Uint8Array, params: { N: number; r: number; p: number }): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // Node's default maxmem (32 MiB) is below what N=65536, r=8 needs (128·N·r = 64 MiB).
    const maxmem = 128 * params.N * params.r * params.p * 2 + 1024 * 1024;
    scrypt(password, salt, BOX_KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem }, (error, key) => {
      if (error) reject(new OcibuildError('ERR_IO', `scrypt failed: ${error.message}`, { cause: error }));
      else resolve(new Uint8Array(key));
    });
  });
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? new TextEncoder().encode(password) : password;
}

/**
 * Encrypts `plaintext` under `password` into go-securesystemslib's JSON envelope (the bytes
 * inside cosign's private-key PEM): `{"kdf":{...},"cipher":{...},"ciphertext":"..."}`.
 * @example
 * ```ts
 * import { decryptEnvelope, encryptEnvelope } from 'ocibuild';
 *
 * const sealed = await encryptEnvelope(new TextEncoder().encode('secret'), 'password');
 * const opened = await decryptEnvelope(sealed, 'password');
 * ```
 * @category Supply chain
 */
export async function encryptEnvelope(plaintext: Uint8Array, password: string | Uint8Array): Promise<Uint8Array> {
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const key = await deriveKey(passwordBytes(password), salt, DEFAULT_SCRYPT);
  const sealed = xsalsa20poly1305(key, nonce).encrypt(plaintext);
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  // Field order as Go's encoding/json writes the envelope's structs.
  const envelope = {
    kdf: { name: 'scrypt', params: { N: DEFAULT_SCRYPT.N, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p }, salt: b64(salt) },
    cipher: { name: 'nacl/secretbox', nonce: b64(nonce) },
    ciphertext: b64(sealed),
  };
  return new TextEncoder().encode(JSON.stringify(envelope));
}

function envelopeField(value: unknown, field: string, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`${what}: ${field} is not an object`);
  return value as Record<string, unknown>;
}

function base64Field(value: unknown, field: string, what: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new InvalidArgumentError(`${what}: ${field} is not base64`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/**
 * Opens a go-securesystemslib envelope. Only scrypt with the three parameter sets
 * go-securesystemslib accepts is honoured (a tampered N cannot make us spend unbounded memory).
 * Throws {@link KeyPasswordError} when the password is wrong, `InvalidArgumentError` when the
 * envelope is malformed.
 * @example
 * ```ts
 * import { decryptEnvelope, encryptEnvelope } from 'ocibuild';
 *
 * const sealed = await encryptEnvelope(new TextEncoder().encode('secret'), 'password');
 * const opened = await decryptEnvelope(sealed, 'password', 'my.key');
 * ```
 * @category Supply chain
 */
export async function decryptEnvelope(envelope: Uint8Array, password: string | Uint8Array, what = 'the private key'): Promise<Uint8Array> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(envelope));
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: the encrypted key is not JSON`, { cause });
  }
  const top = envelopeField(doc, 'the envelope', what);
  const kdf = envelopeField(top.kdf, 'kdf', what);
  const cipher = envelopeField(top.cipher, 'cipher', what);
  if (kdf.name !== 'scrypt') throw new UnsupportedError(`${what}: unknown kdf ${JSON.stringify(kdf.name)} (only scrypt)`);
  if (cipher.name !== 'nacl/secretbox') throw new UnsupportedError(`${what}: unknown cipher ${JSON.stringify(cipher.name)} (only nacl/secretbox)`);
  const params = envelopeField(kdf.params, 'kdf.params', what);
  const accepted = ACCEPTED_SCRYPT.find((p) => p.N === params.N && p.r === params.r && p.p === params.p);
  if (!accepted) throw new InvalidArgumentError(`${what}: unsupported scrypt parameters ${JSON.stringify(params)}`);
  const salt = base64Field(kdf.salt, 'kdf.salt', what);
  const nonce = base64Field(cipher.nonce, 'cipher.nonce', what);
  const sealed = base64Field(top.ciphertext, 'ciphertext', what);
  if (nonce.length !== NONCE_BYTES) throw new InvalidArgumentError(`${what}: the nonce is ${nonce.length} bytes, not ${NONCE_BYTES}`);
  const key = await deriveKey(passwordBytes(password), salt, accepted);
  try {
    return xsalsa20poly1305(key, nonce).decrypt(sealed);
  } catch (cause) {
    throw new KeyPasswordError(what, { cause });
  }
}

/**
 * Reads cosign's encrypted private key (`cosign.key` text) with `password` and returns the
 * private key. `what` names the file in errors. Throws {@link KeyPasswordError} on a wrong
 * password, `InvalidArgumentError` on anything that is not a cosign private key.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { readCosignPrivateKey } from 'ocibuild';
 *
 * const key = await readCosignPrivateKey(await readFile('cosign.key', 'utf8'), process.env.COSIGN_PASSWORD ?? '', 'cosign.key');
 * ```
 * @category Supply chain
 */
export async function readCosignPrivateKey(pem: string, password: string | Uint8Array, what = 'the private key'): Promise<KeyObject> {
  if (pem.length > MAX_KEY_FILE_BYTES) throw new InvalidArgumentError(`${what}: larger than ${MAX_KEY_FILE_BYTES} bytes, not a cosign key`);
  const block = decodePem(pem, what);
  if (block.type !== SIGSTORE_PRIVATE_KEY_PEM && block.type !== COSIGN_PRIVATE_KEY_PEM) {
    throw new InvalidArgumentError(`${what}: PEM type ${JSON.stringify(block.type)} is not a cosign private key (${SIGSTORE_PRIVATE_KEY_PEM})`);
  }
  const der = await decryptEnvelope(block.der, password, what);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: the decrypted key is not PKCS #8`, { cause });
  }
  signatureHash(key, what);
  return key;
}

/**
 * Reads a PEM `PUBLIC KEY` (cosign.pub). `what` names the file in errors.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { readCosignPublicKey } from 'ocibuild';
 *
 * const pub = readCosignPublicKey(await readFile('cosign.pub', 'utf8'), 'cosign.pub');
 * ```
 * @category Supply chain
 */
export function readCosignPublicKey(pem: string, what = 'the public key'): KeyObject {
  if (pem.length > MAX_KEY_FILE_BYTES) throw new InvalidArgumentError(`${what}: larger than ${MAX_KEY_FILE_BYTES} bytes, not a public key`);
  const block = decodePem(pem, what);
  if (block.type !== 'PUBLIC KEY') throw new InvalidArgumentError(`${what}: PEM type ${JSON.stringify(block.type)} is not PUBLIC KEY`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(block.der), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new InvalidArgumentError(`${what}: not a PKIX public key`, { cause });
  }
  signatureHash(key, what);
  return key;
}

/**
 * The digest algorithm sigstore pairs with a key: SHA-256 for ECDSA P-256 and RSA, SHA-384 for
 * P-384, SHA-512 for P-521. Other key types (Ed25519, whose cosign mode is pre-hashed) throw
 * `UnsupportedError`.
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { signatureHash } from 'ocibuild';
 *
 * const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
 * signatureHash(publicKey); // 'sha384'
 * ```
 * @category Supply chain
 */
export function signatureHash(key: KeyObject, what = 'the key'): 'sha256' | 'sha384' | 'sha512' {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'sha256';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'sha256';
    if (curve === 'secp384r1') return 'sha384';
    if (curve === 'secp521r1') return 'sha512';
    throw new UnsupportedError(`${what}: ECDSA curve ${String(curve)} is not supported (P-256, P-384, P-521)`);
  }
  throw new UnsupportedError(`${what}: ${String(type)} keys are not supported (ECDSA or RSA)`);
}

/**
 * Encrypts a private key into cosign's `cosign.key` PEM text.
 * @example
 * ```ts
 * import { readFile, writeFile } from 'node:fs/promises';
 * import { createPrivateKey } from 'node:crypto';
 * import { encryptPrivateKey } from 'ocibuild';
 *
 * // Import an existing PKCS #8 key (openssl genpkey ...) into cosign's format.
 * const key = createPrivateKey(await readFile('key.pem', 'utf8'));
 * await writeFile('cosign.key', await encryptPrivateKey(key, 'password'), { mode: 0o600 });
 * ```
 * @category Supply chain
 */
export async function encryptPrivateKey(key: KeyObject, password: string | Uint8Array, options: EncryptKeyOptions = {}): Promise<string> {
  const der = new Uint8Array(key.export({ type: 'pkcs8', format: 'der' }));
  const envelope = await encryptEnvelope(der, password);
  return encodePem(options.pemType ?? SIGSTORE_PRIVATE_KEY_PEM, envelope);
}

/**
 * The PEM `PUBLIC KEY` text (cosign.pub) of a public or private key.
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { publicKeyPem } from 'ocibuild';
 *
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const pem = publicKeyPem(privateKey); // -----BEGIN PUBLIC KEY-----...
 * ```
 * @category Supply chain
 */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Generates an ECDSA P-256 key pair, as `cosign generate-key-pair` does, and returns the two
 * files' contents. An empty password is allowed, as in cosign.
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { generateCosignKeyPair } from 'ocibuild';
 *
 * const { privateKeyPem, publicKeyPem } = await generateCosignKeyPair('password');
 * await writeFile('cosign.key', privateKeyPem, { mode: 0o600 });
 * await writeFile('cosign.pub', publicKeyPem);
 * ```
 * @category Supply chain
 */
export async function generateCosignKeyPair(password: string | Uint8Array, options: EncryptKeyOptions = {}): Promise<CosignKeyPairFiles> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKeyPem: await encryptPrivateKey(privateKey, password, options), publicKeyPem: publicKeyPem(privateKey) };
}
