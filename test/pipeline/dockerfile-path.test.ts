// A build context cannot make ocibuild read a file of the user through its Dockerfile: a
// Dockerfile that is a symlink leaving the context is refused before it is read, and nothing of
// the target's content reaches the error. Symlinks inside the context and an explicit path
// outside it still work.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildImage, OcibuildError } from '../../src/index.ts';

const SECRET = 'ghp_THIS_IS_A_SECRET_TOKEN_1234567890';

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string; context: string; secret: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-dfpath-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const context = path.join(dir, 'context');
  await fs.mkdir(path.join(context, 'docker'), { recursive: true });
  const secret = path.join(dir, 'home', 'token');
  await fs.mkdir(path.dirname(secret));
  // Parse errors quote the offending line: read, this file would leak through the message.
  await fs.writeFile(secret, `FROM scratch\n${SECRET}\n`, { mode: 0o600 });
  return { dir, context, secret };
}

test('a Dockerfile symlinked out of the context is refused before it is read', async (t) => {
  const { dir, context, secret } = await setup(t);
  for (const [name, target] of [
    ['Dockerfile', secret],
    ['docker/Dockerfile.rel', '../../home/token'],
    // A chain: an inside link to an inside link that leaves.
    ['Dockerfile.chain', 'docker/Dockerfile.rel'],
  ] as const) {
    await fs.symlink(target, path.join(context, name));
    await assert.rejects(
      buildImage({ context, dockerfile: name, to: `oci:${path.join(dir, 'out')}:x`, cache: false }),
      (e: unknown) => {
        assert.ok(e instanceof OcibuildError, String(e));
        assert.equal(e.code, 'ERR_PATH_ESCAPE', e.message);
        assert.ok(!e.message.includes(SECRET) && !e.message.includes(secret), e.message);
        return true;
      },
      name,
    );
  }
  // The same file read through a context that is itself reached by a symlink is still inside.
  await fs.writeFile(path.join(context, 'docker', 'Dockerfile.real'), 'FROM scratch\nLABEL a=b\n');
  await fs.symlink('docker/Dockerfile.real', path.join(context, 'Dockerfile.inside'));
  const linkedContext = path.join(dir, 'linked-context');
  await fs.symlink(context, linkedContext);
  const result = await buildImage({ context: linkedContext, dockerfile: 'Dockerfile.inside', to: `oci:${path.join(dir, 'out')}:inside`, cache: false });
  assert.equal(result.config.config?.Labels?.['a'], 'b');
});

test('a Dockerfile the caller names outside the context is read as given', async (t) => {
  const { dir, context } = await setup(t);
  const elsewhere = path.join(dir, 'elsewhere.Dockerfile');
  await fs.writeFile(elsewhere, 'FROM scratch\nLABEL from=outside\n');
  const result = await buildImage({ context, dockerfile: elsewhere, to: `oci:${path.join(dir, 'out')}:x`, cache: false });
  assert.equal(result.config.config?.Labels?.['from'], 'outside');
  // Missing files keep their own error.
  await assert.rejects(buildImage({ context, dockerfile: 'nope', to: `oci:${path.join(dir, 'out')}:y`, cache: false }), { code: 'ERR_SOURCE_NOT_FOUND' });
});

test('without a Dockerfile, a lowercase dockerfile is read (BuildKit testDockerfileLowercase); its links are checked the same', async (t) => {
  const { dir, context, secret } = await setup(t);
  await assert.rejects(buildImage({ context, dockerfile: 'Dockerfile', to: `oci:${path.join(dir, 'out')}:x`, cache: false }), { code: 'ERR_SOURCE_NOT_FOUND' });
  await fs.writeFile(path.join(context, 'dockerfile'), 'FROM scratch\nLABEL name=lower\n');
  const result = await buildImage({ context, dockerfile: 'Dockerfile', to: `oci:${path.join(dir, 'out')}:x`, cache: false });
  assert.equal(result.config.config?.Labels?.['name'], 'lower');
  await fs.rm(path.join(context, 'dockerfile'));
  await fs.symlink(secret, path.join(context, 'dockerfile'));
  await assert.rejects(buildImage({ context, dockerfile: 'Dockerfile', to: `oci:${path.join(dir, 'out')}:x`, cache: false }), { code: 'ERR_PATH_ESCAPE' });
});
