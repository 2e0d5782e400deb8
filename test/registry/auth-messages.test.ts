/**
 * Authentication failures say what happened (issue #12): "no credentials found for REGISTRY"
 * with the places looked in, versus "credentials for REGISTRY from SOURCE were rejected by …"
 * naming the file, helper or flag that supplied them; never the secret. Against the real
 * htpasswd and token registries, with credential files and a helper written by the test.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from '../../src/errors.ts';
import { chainCredentials, defaultCredentials, dockerConfigCredentials, fixedCredentials } from '../../src/registry/credentials/index.ts';
import { createRegistryClient, type RegistryClientOptions } from '../../src/registry/index.ts';
import { startRegistry, stopAll, type TestRegistry } from '../helpers/registry.ts';

const WRONG = 'not-the-password-77';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('auth error messages: missing versus rejected credentials', () => {
  let basic: TestRegistry;
  let token: TestRegistry;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    [basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
    dir = await mkdtemp(join(tmpdir(), 'ocibuild-auth-messages-'));
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'docker-credential-wrong'), `#!/bin/sh\ncat >/dev/null\nprintf '{"Username":"alice","Secret":"${WRONG}"}'\n`);
    await chmod(join(bin, 'docker-credential-wrong'), 0o755);
    // Nothing exists under these paths unless a test writes it.
    env = {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: join(dir, 'home'),
      DOCKER_CONFIG: join(dir, 'docker'),
      REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
      XDG_RUNTIME_DIR: join(dir, 'run'),
    };
  });
  after(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  async function failure(registry: TestRegistry, options: RegistryClientOptions): Promise<RegistryError> {
    const client = createRegistryClient({ retries: { count: 0 }, ...options });
    try {
      const error = await client.getManifest({ registry: registry.host, repository: 'msg/app' }, 'v1').then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, 'ERR_REGISTRY_UNAUTHORIZED');
      const text = `${error.message} ${JSON.stringify(error)}`;
      assert.ok(!text.includes(WRONG) && !text.includes(b64(`alice:${WRONG}`)) && !text.includes('wonderland-secret'), text);
      return error;
    } finally {
      await client.close();
    }
  }

  it('names every place looked in when no credentials are found (Basic)', async () => {
    const error = await failure(basic, { credentials: chainCredentials(defaultCredentials({ env })) });
    assert.match(error.message, new RegExp(`^no credentials found for ${basic.host.replace('.', '\\.')} \\(looked in: `));
    assert.ok(error.message.includes(`${join(dir, 'docker', 'config.json')} ($DOCKER_CONFIG)`), error.message);
    assert.ok(error.message.includes(`${join(dir, 'auth.json')} ($REGISTRY_AUTH_FILE)`), error.message);
    assert.ok(error.message.includes(join(dir, 'home', '.config', 'containers', 'auth.json')), error.message);
    assert.match(error.message, /credential helpers/);
    assert.match(error.message, /HTTP 401/);
  });

  it('names --creds when the flag supplied rejected credentials', async () => {
    const creds = fixedCredentials({ username: 'alice', password: WRONG }, { source: '--creds' });
    const error = await failure(basic, { credentials: chainCredentials(creds, defaultCredentials({ env })) });
    assert.match(error.message, new RegExp(`^credentials for ${basic.host.replace('.', '\\.')} from --creds were rejected by `));
  });

  it('names the auth file and entry that supplied rejected credentials', async () => {
    await writeFile(join(dir, 'auth.json'), JSON.stringify({ auths: { [basic.host]: { auth: b64(`alice:${WRONG}`) } } }));
    try {
      const error = await failure(basic, { credentials: defaultCredentials({ env }) });
      assert.ok(error.message.startsWith(`credentials for ${basic.host} from ${join(dir, 'auth.json')} (auths["${basic.host}"]) were rejected by ${basic.host}`), error.message);
    } finally {
      await rm(join(dir, 'auth.json'));
    }
  });

  it('names the credential helper (and the config naming it) that supplied rejected credentials', async () => {
    await mkdir(join(dir, 'docker'), { recursive: true });
    await writeFile(join(dir, 'docker', 'config.json'), JSON.stringify({ credHelpers: { [basic.host]: 'wrong' } }));
    try {
      const error = await failure(basic, { credentials: dockerConfigCredentials({ env }) });
      assert.ok(
        error.message.startsWith(`credentials for ${basic.host} from credential helper docker-credential-wrong (named in ${join(dir, 'docker', 'config.json')}) were rejected`),
        error.message,
      );
    } finally {
      await rm(join(dir, 'docker', 'config.json'));
    }
  });

  it('tells a token service refusal of given credentials from anonymous access being refused', async () => {
    const rejected = await failure(token, { credentials: fixedCredentials({ username: 'alice', password: WRONG }, { source: '--creds' }) });
    assert.match(rejected.message, /^credentials for \S+ from --creds were rejected by its token service http:\/\/127\.0\.0\.1:\d+\/token/);
    const missing = await failure(token, { credentials: defaultCredentials({ env }) });
    assert.match(missing.message, /^no credentials found for /);
  });
});
