import { after, before } from 'node:test';
import { createRegistryClient, type RegistryClient } from '../../src/registry/index.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';
import { runTransportConformance } from './conformance.ts';

let registry: TestRegistry;
let client: RegistryClient;
let counter = 0;
before(async () => {
  registry = await startRegistry();
  client = createRegistryClient();
});
after(async () => {
  await client.close();
  await stopAll();
});

// One registry for the file; every fixture gets a fresh repository (distribution links blobs
// per repository, so a new repository starts empty).
runTransportConformance('registry', async () => {
  const repository = `conformance/repo${++counter}`;
  const open = () => registryTransport(`${registry.host}/${repository}`, client);
  return { transport: open(), reopen: open, cleanup: async () => {} };
});
