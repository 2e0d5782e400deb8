import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chainCredentials,
  containersAuthCredentials,
  defaultCredentials,
  dockerConfigCredentials,
  staticCredentials,
} from '../../../src/registry/credentials/index.ts';
import { OcibuildError } from '../../../src/errors.ts';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
let dir: string;
let bin: string;
let env: NodeJS.ProcessEnv;

// A helper speaking the docker-credential-helpers protocol; it records what it was asked.
const TEST_HELPER = `#!/bin/sh
[ "$1" = get ] || exit 3
server=$(cat)
printf '%s\\n' "$server" >> "$HELPER_LOG"
case "$server" in
  helped.example:5000) printf '{"ServerURL":"%s","Username":"helperuser","Secret":"helper:secret"}' "$server" ;;
  tokened.example) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-token"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubuser","Secret":"hubpass"}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;

async function writeScript(name: string, body: string): Promise<void> {
  const file = join(bin, name);
  await writeFile(file, body);
  await chmod(file, 0o755);
}

async function dockerConfig(name: string, config: unknown): Promise<string> {
  const configDir = join(dir, name);
  await mkdir(configDir, { recursive: true });
  await writeFile(join(configDir, 'config.json'), JSON.stringify(config));
  return configDir;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocibuild-creds-'));
  bin = join(dir, 'bin');
  await mkdir(bin);
  await writeScript('docker-credential-testhelper', TEST_HELPER);
  await writeScript('docker-credential-broken', '#!/bin/sh\ncat >/dev/null\necho "keychain is locked" >&2\nexit 2\n');
  await writeScript('docker-credential-slow', '#!/bin/sh\nexec sleep 20\n');
  await writeScript('docker-credential-garbage', '#!/bin/sh\ncat >/dev/null\necho "{not json hunter2"\n');
  env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: join(dir, 'home'), HELPER_LOG: join(dir, 'helper.log') };
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('auths entries match by host under every key spelling', async () => {
  const configDir = await dockerConfig('spellings', {
    auths: {
      'https://a.example:5000/v1/': { auth: b64('alice:pw:with:colons') },
      'http://b.example': { username: 'bob', password: 'bobpw' },
      'c.example': { auth: b64('carol:cpw') },
      'https://index.docker.io/v1/': { auth: b64('hub:hubpw') },
      'd.example': { auth: b64('<token>:'), identitytoken: 'id-token' },
      'e.example': { registrytoken: 'bearer-token' },
      'f.example': {},
    },
  });
  const provider = dockerConfigCredentials({ configDir, env });
  assert.deepEqual(await provider('a.example:5000'), { username: 'alice', password: 'pw:with:colons' });
  assert.deepEqual(await provider('b.example'), { username: 'bob', password: 'bobpw' });
  assert.deepEqual(await provider('C.Example'), { username: 'carol', password: 'cpw' });
  assert.deepEqual(await provider('docker.io'), { username: 'hub', password: 'hubpw' });
  assert.deepEqual(await provider('index.docker.io'), { username: 'hub', password: 'hubpw' });
  assert.deepEqual(await provider('d.example'), { identityToken: 'id-token' });
  assert.deepEqual(await provider('e.example'), { registryToken: 'bearer-token' });
  assert.equal(await provider('f.example'), undefined);
  assert.equal(await provider('a.example'), undefined, 'a host without its port is another registry');
  assert.equal(await provider('nowhere.example'), undefined);
});

test('DOCKER_CONFIG locates config.json; a missing file means no credentials', async () => {
  const configDir = await dockerConfig('env', { auths: { 'h.example': { auth: b64('u:p') } } });
  assert.deepEqual(await dockerConfigCredentials({ env: { ...env, DOCKER_CONFIG: configDir } })('h.example'), {
    username: 'u',
    password: 'p',
  });
  // HOME has no .docker directory.
  assert.equal(await dockerConfigCredentials({ env })('h.example'), undefined);
});

test('the file is read once, lazily', async () => {
  const configDir = await dockerConfig('lazy', { auths: { 'h.example': { auth: b64('u:first') } } });
  const provider = dockerConfigCredentials({ configDir, env });
  await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { 'h.example': { auth: b64('u:second') } } }));
  assert.deepEqual(await provider('h.example'), { username: 'u', password: 'second' }, 'not read before first use');
  await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: {} }));
  assert.deepEqual(await provider('h.example'), { username: 'u', password: 'second' }, 'not read again');
});

test('a malformed config names the file and never its content', async () => {
  const configDir = join(dir, 'malformed');
  await mkdir(configDir);
  await writeFile(join(configDir, 'config.json'), '{"auths": {"h": {"auth": "c2VjcmV0"}');
  await assert.rejects(dockerConfigCredentials({ configDir, env })('h'), (error: unknown) => {
    assert.ok(error instanceof OcibuildError);
    assert.equal(error.code, 'ERR_CREDENTIALS');
    assert.match(error.message, /malformed\/config\.json/);
    assert.doesNotMatch(error.message, /c2VjcmV0/);
    assert.equal(error.cause, undefined);
    return true;
  });
});

test('credHelpers run docker-credential-NAME get with the server URL on stdin', async () => {
  const configDir = await dockerConfig('helpers', {
    auths: { 'helped.example:5000': { auth: b64('inline:ignored') }, 'inline.example': { auth: b64('in:line') } },
    credHelpers: { 'helped.example:5000': 'testhelper', 'tokened.example': 'testhelper', 'docker.io': 'testhelper', 'miss.example': 'testhelper' },
    credsStore: 'broken',
  });
  await rm(env.HELPER_LOG!, { force: true });
  const provider = dockerConfigCredentials({ configDir, env });
  assert.deepEqual(await provider('helped.example:5000'), { username: 'helperuser', password: 'helper:secret' });
  assert.deepEqual(await provider('tokened.example'), { identityToken: 'refresh-token' });
  assert.deepEqual(await provider('docker.io'), { username: 'hubuser', password: 'hubpass' });
  assert.equal(await provider('miss.example'), undefined, '"credentials not found" is not an error');
  assert.deepEqual(await provider('inline.example'), { username: 'in', password: 'line' }, 'inline auths before credsStore');
  const log = (await readFile(env.HELPER_LOG!, 'utf8')).trim().split('\n');
  assert.deepEqual(log, ['helped.example:5000', 'tokened.example', 'https://index.docker.io/v1/', 'miss.example']);
});

test('credsStore is used for hosts without a helper or inline entry', async () => {
  const configDir = await dockerConfig('store', { auths: { 'helped.example:5000': {} }, credsStore: 'testhelper' });
  const provider = dockerConfigCredentials({ configDir, env });
  assert.deepEqual(await provider('helped.example:5000'), { username: 'helperuser', password: 'helper:secret' });
  assert.equal(await provider('other.example'), undefined);
});

function credentialsError(...mustMatch: RegExp[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof OcibuildError, String(error));
    assert.equal(error.code, 'ERR_CREDENTIALS');
    for (const re of mustMatch) assert.match(error.message, re);
    assert.doesNotMatch(error.message, /hunter2|secret/);
    return true;
  };
}

test('a failing, missing, slow or garbled helper gives ERR_CREDENTIALS naming it', async () => {
  const configDir = await dockerConfig('bad-helpers', {
    credHelpers: { broken: 'broken', missing: 'doesnotexist', slow: 'slow', garbage: 'garbage', evil: '../../bin/sh' },
  });
  const provider = dockerConfigCredentials({ configDir, env, helperTimeoutMs: 500 });
  await assert.rejects(provider('broken'), credentialsError(/docker-credential-broken/, /exit code 2/, /bad-helpers/));
  // The helper's output is never quoted (it may hold a secret).
  await assert.rejects(provider('broken'), (error: unknown) => !String((error as Error).message).includes('keychain is locked'));
  await assert.rejects(provider('missing'), credentialsError(/docker-credential-doesnotexist/, /not found on PATH/));
  const started = Date.now();
  await assert.rejects(provider('slow'), credentialsError(/docker-credential-slow/, /500 ms/));
  assert.ok(Date.now() - started < 5000, 'the timeout kills the helper');
  await assert.rejects(provider('garbage'), credentialsError(/docker-credential-garbage/, /invalid JSON/));
  await assert.rejects(provider('evil'), credentialsError(/invalid credential helper name/));
});

test('auth.json: REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR, then ~/.config; most specific namespace wins', async () => {
  const home = join(dir, 'podhome');
  const xdg = join(dir, 'xdg');
  await mkdir(join(home, '.config', 'containers'), { recursive: true });
  await mkdir(join(xdg, 'containers'), { recursive: true });
  await writeFile(
    join(home, '.config', 'containers', 'auth.json'),
    JSON.stringify({ auths: { 'q.example': { auth: b64('home:h') }, 'only-home.example': { auth: b64('oh:oh') } } }),
  );
  await writeFile(
    join(xdg, 'containers', 'auth.json'),
    JSON.stringify({
      auths: {
        'q.example': { auth: b64('xdg:x') },
        'q.example/org': { auth: b64('org:o') },
        'q.example/org/repo': { auth: b64('repo:r') },
        'docker.io': { auth: b64('hub:x') },
      },
    }),
  );
  const explicit = join(dir, 'explicit-auth.json');
  await writeFile(explicit, JSON.stringify({ auths: { 'q.example': { auth: b64('explicit:e') } } }));

  const podEnv = { ...env, HOME: home, XDG_RUNTIME_DIR: xdg };
  const provider = containersAuthCredentials({ env: podEnv });
  assert.deepEqual(await provider('q.example'), { username: 'xdg', password: 'x' });
  assert.deepEqual(await provider('q.example/org/repo'), { username: 'repo', password: 'r' });
  assert.deepEqual(await provider('q.example/org/other'), { username: 'org', password: 'o' });
  assert.deepEqual(await provider('q.example/else/x'), { username: 'xdg', password: 'x' });
  assert.deepEqual(await provider('only-home.example'), { username: 'oh', password: 'oh' });
  assert.deepEqual(await provider('index.docker.io'), { username: 'hub', password: 'x' });

  const withExplicit = containersAuthCredentials({ env: { ...podEnv, REGISTRY_AUTH_FILE: explicit } });
  assert.deepEqual(await withExplicit('q.example'), { username: 'explicit', password: 'e' });
  assert.deepEqual(await withExplicit('q.example/org'), { username: 'explicit', password: 'e' }, 'XDG file is replaced');
  assert.deepEqual(await withExplicit('only-home.example'), { username: 'oh', password: 'oh' });

  // defaultCredentials: REGISTRY_AUTH_FILE beats Docker's config, which beats auth.json.
  const docker = await dockerConfig('default', { auths: { 'q.example': { auth: b64('docker:d') } } });
  const defaults = defaultCredentials({ env: { ...podEnv, DOCKER_CONFIG: docker, REGISTRY_AUTH_FILE: explicit } });
  assert.deepEqual(await defaults('q.example'), { username: 'explicit', password: 'e' });
  const noExplicit = defaultCredentials({ env: { ...podEnv, DOCKER_CONFIG: docker } });
  assert.deepEqual(await noExplicit('q.example'), { username: 'docker', password: 'd' });
  assert.deepEqual(await noExplicit('only-home.example'), { username: 'oh', password: 'oh' });
  assert.equal(await noExplicit('unknown.example'), undefined);
});

test('staticCredentials and chainCredentials', async () => {
  const first = staticCredentials({ 'https://index.docker.io/v1/': { username: 'a', password: 'b' }, 'h/ns': { registryToken: 't' } });
  const second = staticCredentials({ h: { username: 'c', password: 'd' }, 'docker.io': { username: 'x', password: 'y' } });
  assert.deepEqual(await first('docker.io'), { username: 'a', password: 'b' });
  assert.deepEqual(await first('h/ns/repo'), { registryToken: 't' });
  assert.equal(await first('h'), undefined);
  const chain = chainCredentials(first, second);
  assert.deepEqual(await chain('docker.io'), { username: 'a', password: 'b' }, 'first defined wins');
  assert.deepEqual(await chain('h'), { username: 'c', password: 'd' });
  assert.equal(await chain('none'), undefined);
  const failing = chainCredentials(async () => {
    throw new OcibuildError('ERR_CREDENTIALS', 'boom');
  }, second);
  await assert.rejects(failing('h'), /boom/);
});
