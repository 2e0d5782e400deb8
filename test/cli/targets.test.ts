// Several targets and one fails part-way (the registry refuses the manifest): the CLI exits 1,
// says which targets were written before the failure, and prints the error in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry } from '../helpers/registry.ts';
import { startProxy } from '../helpers/proxy.ts';
import { runCli as cli } from '../helpers/cli.ts';

test('a target that fails after others were written: the CLI names the written ones', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-targets-'));
  const registry = await startRegistry();
  const proxy = await startProxy(registry.url, [{ method: 'PUT', path: /\/manifests\//, times: 100, fault: { kind: 'status', status: 403 } }]);
  t.after(async () => {
    await proxy.stop();
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /Dockerfile\n');
  const first = `oci:${dir}/first`;
  const refused = `${proxy.host}/app/x:1`;
  const last = `docker-archive:${dir}/last.tar`;
  const result = await cli(['build', ctx, '--to', first, '--to', refused, '--to', last, '-q']);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trim().split('\n');
  assert.deepEqual(lines.slice(0, 1), [`written before the failure: ${first}`]);
  assert.equal(lines.length, 2, result.stderr);
  assert.match(lines[1] as string, /^error \[ERR_REGISTRY_DENIED\]/);
  // The first target holds the image; the one after the failure was not touched.
  assert.ok((await fs.stat(path.join(dir, 'first/index.json'))).isFile());
  assert.deepEqual((await fs.readdir(dir)).sort(), ['ctx', 'first']);
});

test('an unwritable target: one line naming it, exit 1, nothing written', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-targets-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /Dockerfile\n');
  await fs.writeFile(path.join(dir, 'file'), 'x');
  for (const target of [`docker-archive:${dir}/file/x.tar`, `oci:${dir}/file/layout`, `oci:${dir}/file`]) {
    const result = await cli(['build', ctx, '--to', target]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `error [ERR_TRANSPORT]: cannot write ${target}: ${target.endsWith('/file') ? 'the path is a file; an OCI layout is a folder' : 'a parent of the path is not a folder (ENOTDIR)'}\n`);
  }
  assert.deepEqual((await fs.readdir(dir)).sort(), ['ctx', 'file']);
});
