import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../../src/errors.ts';
import { createRegistryClient } from '../../src/registry/index.ts';
import type { Credential } from '../../src/registry/types.ts';
import { registryTransport } from '../../src/transports/registry.ts';
import { startRegistry, stopAll } from '../helpers/registry.ts';
import { bodyOf, collect, isCode, makeImage } from './fixtures.ts';

const alice = { username: 'alice', password: 'wonderland-secret' };
const credentials = (credential: Credential | undefined) => async () => credential;

after(() => stopAll());

describe('registry auth: htpasswd Basic', () => {
  it('pushes and pulls with the right password', async () => {
    const registry = await startRegistry({ auth: 'htpasswd', users: [alice] });
    const client = createRegistryClient({ credentials: credentials(alice) });
    try {
      const image = makeImage('basic');
      const t = registryTransport(`${registry.host}/basic/app:v1`, client);
      await t.putBlob(image.configDescriptor, bodyOf(image.config));
      await t.putBlob(image.layerDescriptor, bodyOf(image.layer));
      await t.putManifest(image.manifest, 'v1');
      assert.deepEqual((await t.getManifest('v1')).bytes, image.manifest.bytes);
      assert.deepEqual(await collect(await t.getBlob(image.layerDescriptor)), image.layer);
    } finally {
      await client.close();
      await registry.stop();
    }
  });

  it('reports a wrong password as ERR_REGISTRY_UNAUTHORIZED without the password in the message', async () => {
    const registry = await startRegistry({ auth: 'htpasswd', users: [alice] });
    const wrong = 'not-the-Secret-42';
    const client = createRegistryClient({ credentials: credentials({ username: 'alice', password: wrong }) });
    try {
      const error = await client.getManifest({ registry: registry.host, repository: 'basic/app' }, 'v1').then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, 'ERR_REGISTRY_UNAUTHORIZED');
      assert.equal(error.status, 401);
      assert.ok(!error.message.includes(wrong), error.message);
      assert.ok(!JSON.stringify(error).includes(wrong));
      assert.ok(!error.message.includes(Buffer.from(`alice:${wrong}`).toString('base64')));
      // Anonymous is refused the same way.
      const anonymous = createRegistryClient();
      await assert.rejects(anonymous.hasBlob({ registry: registry.host, repository: 'basic/app' }, makeImage('x').layerDescriptor.digest), isCode('ERR_REGISTRY_UNAUTHORIZED'));
      await anonymous.close();
    } finally {
      await client.close();
      await registry.stop();
    }
  });
});

describe('registry auth: Bearer tokens from a token server', () => {
  it('asks the realm for pull, then pull,push scopes, and caches tokens', async () => {
    const registry = await startRegistry({ auth: 'token', users: [alice] });
    const client = createRegistryClient({ credentials: credentials(alice) });
    try {
      const image = makeImage('token');
      const t = registryTransport(`${registry.host}/token/app`, client);
      assert.equal(await t.hasBlob(image.layerDescriptor), false);
      await t.putBlob(image.configDescriptor, bodyOf(image.config));
      await t.putBlob(image.layerDescriptor, bodyOf(image.layer));
      await t.putManifest(image.manifest, 'v1');
      assert.deepEqual(await collect(await t.getBlob(image.layerDescriptor)), image.layer);
      const requests = registry.token!.requests();
      assert.ok(requests.every((r) => r.method === 'GET' && r.account === 'alice' && r.service === 'ocibuild-test-registry' && r.status === 200));
      assert.deepEqual(requests[0]!.scopes, ['repository:token/app:pull']);
      assert.deepEqual(requests[1]!.scopes, ['repository:token/app:pull,push']);
      // Cached: the pull,push token covers the later pulls; no third token.
      assert.equal(requests.length, 2);
    } finally {
      await client.close();
      await registry.stop();
    }
  });

  it('adds the source repository pull scope for a mount', async () => {
    const registry = await startRegistry({ auth: 'token', users: [alice] });
    const client = createRegistryClient({ credentials: credentials(alice) });
    try {
      const image = makeImage('token-mount');
      const src = registryTransport(`${registry.host}/token/src`, client);
      const dst = registryTransport(`${registry.host}/token/dst`, client);
      await src.putBlob(image.layerDescriptor, bodyOf(image.layer));
      assert.equal(await dst.mountBlob!(image.layerDescriptor, src.origin!), true);
      const scopes = registry.token!.requests().map((r) => r.scopes);
      assert.deepEqual(scopes.at(-1), ['repository:token/dst:pull,push', 'repository:token/src:pull']);
    } finally {
      await client.close();
      await registry.stop();
    }
  });

  it('gives anonymous pull only where the token server allows it, and refuses a wrong password', async () => {
    const registry = await startRegistry({ auth: 'token', users: [alice], anonymousPull: true });
    const pusher = createRegistryClient({ credentials: credentials(alice) });
    const anonymous = createRegistryClient();
    const wrong = createRegistryClient({ credentials: credentials({ username: 'alice', password: 'Wrong-Password-1' }) });
    try {
      const image = makeImage('anon-pull');
      const repo = { registry: registry.host, repository: 'token/public' };
      await pusher.putBlob(repo, image.configDescriptor, image.config);
      await pusher.putBlob(repo, image.layerDescriptor, image.layer);
      await pusher.putManifest(repo, image.manifest, 'v1');
      assert.deepEqual((await anonymous.getManifest(repo, 'v1')).bytes, image.manifest.bytes);
      const other = makeImage('anon-push');
      await assert.rejects(anonymous.putBlob(repo, other.layerDescriptor, other.layer), isCode('ERR_REGISTRY_UNAUTHORIZED'));
      const error = await wrong.getManifest(repo, 'v1').catch((e: unknown) => e);
      assert.ok(error instanceof RegistryError && error.code === 'ERR_REGISTRY_UNAUTHORIZED', String(error));
      assert.ok(!error.message.includes('Wrong-Password-1'));
      const anonymousRequests = registry.token!.requests().filter((r) => !r.hadAuthorization);
      assert.ok(anonymousRequests.length >= 2);
    } finally {
      await Promise.all([pusher.close(), anonymous.close(), wrong.close()]);
      await registry.stop();
    }
  });

  it('exchanges an identity token with the OAuth2 refresh_token POST', async () => {
    const registry = await startRegistry({ auth: 'token', users: [alice], refreshTokens: { 'identity-token-abc': 'alice' } });
    const client = createRegistryClient({ credentials: credentials({ identityToken: 'identity-token-abc' }) });
    try {
      const image = makeImage('identity');
      const repo = { registry: registry.host, repository: 'token/identity' };
      await client.putBlob(repo, image.layerDescriptor, image.layer);
      assert.equal(await client.hasBlob(repo, image.layerDescriptor.digest), true);
      const requests = registry.token!.requests();
      assert.ok(requests.length >= 1);
      assert.ok(requests.every((r) => r.method === 'POST' && r.grantType === 'refresh_token' && r.account === 'alice'));
    } finally {
      await client.close();
      await registry.stop();
    }
  });
});
