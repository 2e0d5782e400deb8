/**
 * What the signing tests share: a temp folder, a local registry and a client, all removed when
 * the test ends, and a cosign key pair as objects and files.
 * @module
 */
import type { TestContext } from 'node:test';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry } from '../helpers/registry.ts';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.ts';
import { generateCosignKeyPair, readCosignPrivateKey, readCosignPublicKey } from '../../src/supply/cosign-key.ts';

/** The folder, registry and client of one test. */
export interface SignFixture {
  dir: string;
  registry: Awaited<ReturnType<typeof startRegistry>>;
  client: RegistryClient;
}

/** Starts the fixture; `t.after` stops the registry, closes the client and removes the folder. */
export async function signFixture(t: TestContext, prefix: string): Promise<SignFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `ocibuild-${prefix}-`));
  const registry = await startRegistry();
  const client = createRegistryClient();
  t.after(async () => {
    await client.close();
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { dir, registry, client };
}

/** A key pair as the tests use it: the files, the private key object and the public key object. */
export async function keyPair(password: string) {
  const files = await generateCosignKeyPair(password);
  return { files, key: await readCosignPrivateKey(files.privateKeyPem, password), pub: readCosignPublicKey(files.publicKeyPem) };
}
