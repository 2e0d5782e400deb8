import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  authFileKeyToScope,
  decodeAuthEntry,
  dockerKeyToHost,
  findDockerAuthKey,
  lookupScopes,
} from '../../../src/registry/credentials/auth-entries.ts';
import { OcibuildError } from '../../../src/errors.ts';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

test('dockerKeyToHost reduces every Docker key spelling to the host', () => {
  assert.equal(dockerKeyToHost('https://reg.example:5000/v1/'), 'reg.example:5000');
  assert.equal(dockerKeyToHost('http://reg.example:5000'), 'reg.example:5000');
  assert.equal(dockerKeyToHost('reg.example:5000'), 'reg.example:5000');
  assert.equal(dockerKeyToHost('Reg.Example'), 'reg.example');
  assert.equal(dockerKeyToHost('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(dockerKeyToHost('registry-1.docker.io'), 'docker.io');
});

test('authFileKeyToScope keeps namespaces but drops legacy URL paths', () => {
  assert.equal(authFileKeyToScope('quay.io/org/repo'), 'quay.io/org/repo');
  assert.equal(authFileKeyToScope('quay.io/org/'), 'quay.io/org');
  assert.equal(authFileKeyToScope('https://quay.io/v1/'), 'quay.io');
  assert.equal(authFileKeyToScope('index.docker.io/library'), 'docker.io/library');
  assert.deepEqual(lookupScopes('quay.io/a/b'), ['quay.io/a/b', 'quay.io/a', 'quay.io']);
  assert.deepEqual(lookupScopes('localhost:5000'), ['localhost:5000']);
});

test('findDockerAuthKey prefers the exact key, then a normalised one', () => {
  const auths = { 'http://h:1': {}, 'h:1': {}, 'https://index.docker.io/v1/': {} };
  assert.equal(findDockerAuthKey(auths, 'h:1'), 'h:1');
  assert.equal(findDockerAuthKey({ 'https://h:1/v2/': {} }, 'h:1'), 'https://h:1/v2/');
  assert.equal(findDockerAuthKey(auths, 'docker.io'), 'https://index.docker.io/v1/');
  assert.equal(findDockerAuthKey({ 'docker.io': {} }, 'docker.io'), 'docker.io');
  assert.equal(findDockerAuthKey(auths, 'other'), undefined);
});

test('decodeAuthEntry splits base64 auth at the first colon only', () => {
  assert.deepEqual(decodeAuthEntry({ auth: b64('user:pa:ss:') }, 'f'), { username: 'user', password: 'pa:ss:' });
  assert.deepEqual(decodeAuthEntry({ username: 'u', password: 'p' }, 'f'), { username: 'u', password: 'p' });
  assert.deepEqual(decodeAuthEntry({ auth: b64('<token>:'), identitytoken: 'idt' }, 'f'), { identityToken: 'idt' });
  assert.deepEqual(decodeAuthEntry({ auth: b64('bob:'), identitytoken: 'idt' }, 'f'), { identityToken: 'idt', username: 'bob' });
  assert.deepEqual(decodeAuthEntry({ registrytoken: 'rt', auth: b64('a:b') }, 'f'), { registryToken: 'rt' });
  assert.equal(decodeAuthEntry({}, 'f'), undefined);
  assert.equal(decodeAuthEntry({ auth: '' }, 'f'), undefined);
});

test('decodeAuthEntry rejects malformed entries without quoting them', () => {
  const secret = 'nocolonsecret';
  assert.throws(
    () => decodeAuthEntry({ auth: b64(secret) }, 'config.json: auths["h"]'),
    (error: unknown) =>
      error instanceof OcibuildError &&
      error.code === 'ERR_CREDENTIALS' &&
      error.message.includes('auths["h"]') &&
      !error.message.includes(secret) &&
      !error.message.includes(b64(secret)),
  );
  assert.throws(() => decodeAuthEntry({ password: 42 }, 'f'), /password/);
  assert.throws(() => decodeAuthEntry('x', 'f'), /object/);
});
