// Credentials end to end: a temporary DOCKER_CONFIG (auths, identity tokens) and a credential
// helper script on PATH, against registries with htpasswd Basic and Bearer token auth.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryError } from '../../src/errors.ts';
import { dockerConfigCredentials } from '../../src/registry/credentials/index.ts';
import { buildRandomLayout, type RandomLayout } from '../helpers/fixtures.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ocibuildCopy } from './ocibuild.ts';

const PASSWORD = 'wonderland-secret';
let basic: TestRegistry;
let token: TestRegistry;
let dir: string;
let image: RandomLayout;
let env: NodeJS.ProcessEnv;

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function dockerConfig(name: string, config: unknown): Promise<string> {
  const configDir = path.join(dir, name);
  await mkdir(configDir, { recursive: true });
  await writeFile(path.join(configDir, 'config.json'), JSON.stringify(config));
  return configDir;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-interop-auth-'));
  [basic, token] = await Promise.all([
    startRegistry({ auth: 'htpasswd' }),
    startRegistry({ auth: 'token', refreshTokens: { 'refresh-token-for-alice': 'alice' } }),
  ]);
  image = await buildRandomLayout(dir, { layers: 2, layerSize: 100_000 });
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  // A credential helper that knows the Basic registry only.
  await writeFile(
    path.join(bin, 'docker-credential-interop'),
    `#!/bin/sh\nserver=$(cat)\nif [ "$server" = "${basic.host}" ]; then\n` +
      `  printf '{"ServerURL":"%s","Username":"alice","Secret":"${PASSWORD}"}' "$server"\n` +
      `else\n  echo "credentials not found in native keychain"; exit 1\nfi\n`,
  );
  await chmod(path.join(bin, 'docker-credential-interop'), 0o755);
  env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: path.join(dir, 'home') };
});
after(async () => {
  await Promise.all([basic?.stop(), token?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

test('DOCKER_CONFIG auths (http:// key spelling) push and pull through htpasswd Basic auth', async () => {
  const configDir = await dockerConfig('basic', { auths: { [`http://${basic.host}`]: { auth: b64(`alice:${PASSWORD}`) } } });
  const credentials = dockerConfigCredentials({ env: { ...env, DOCKER_CONFIG: configDir } });
  const ref = `${basic.host}/auth/basic:v1`;
  const pushed = await ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${ref}`, { credentials });
  assert.equal(pushed.digest, image.manifestDigest);
  const out = path.join(dir, 'basic-out');
  const pulled = await ocibuildCopy(`docker://${ref}`, `oci:${out}:v1`, { credentials });
  assert.equal(pulled.digest, image.manifestDigest);
  // Anonymous reads are refused, so the credentials really were used.
  await assert.rejects(ocibuildCopy(`docker://${ref}`, `oci:${path.join(dir, 'anon-out')}:v1`), (error: unknown) => {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, 'ERR_REGISTRY_UNAUTHORIZED');
    return true;
  });
});

test('a credHelpers script on PATH supplies the password', async () => {
  const configDir = await dockerConfig('helper', { credHelpers: { [basic.host]: 'interop' } });
  const credentials = dockerConfigCredentials({ configDir, env });
  const ref = `${basic.host}/auth/helper:v1`;
  const pushed = await ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${ref}`, { credentials });
  assert.equal(pushed.digest, image.manifestDigest);
});

test('a wrong password gives ERR_REGISTRY_UNAUTHORIZED without the secret in the message', async () => {
  const wrong = 'not-the-password-7f3a';
  const configDir = await dockerConfig('wrong', { auths: { [basic.host]: { auth: b64(`alice:${wrong}`) } } });
  const credentials = dockerConfigCredentials({ configDir, env });
  await assert.rejects(
    ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${basic.host}/auth/wrong:v1`, { credentials }),
    (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, 'ERR_REGISTRY_UNAUTHORIZED');
      const text = `${error.message} ${String(error.url)} ${JSON.stringify(error)}`;
      assert.ok(!text.includes(wrong) && !text.includes(b64(`alice:${wrong}`)), 'no secret in the error');
      return true;
    },
  );
});

test('an identity token from config.json is exchanged at the token realm (Bearer auth)', async () => {
  const configDir = await dockerConfig('token', {
    auths: { [token.host]: { auth: b64('<token>:'), identitytoken: 'refresh-token-for-alice' } },
  });
  const credentials = dockerConfigCredentials({ configDir, env });
  const ref = `${token.host}/auth/token:v1`;
  const pushed = await ocibuildCopy(`oci:${image.layoutPath}:${image.tag}`, `docker://${ref}`, { credentials });
  assert.equal(pushed.digest, image.manifestDigest);
  const requests = token.token!.requests();
  assert.ok(
    requests.some((r) => r.grantType === 'refresh_token' && r.account === 'alice' && r.status === 200),
    'the refresh token was exchanged',
  );
});
