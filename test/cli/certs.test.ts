// CA certificates for registries (issue 13): --ca, SSL_CERT_FILE and the certs.d layout Docker
// and podman read (DIR/HOST:PORT/ca.crt), against a TLS registry with its own CA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBusyboxLayout, type BusyboxLayout } from '../helpers/busybox.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

let dir: string;
let base: BusyboxLayout;
let registry: TestRegistry;

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SSL_CERT_FILE' && k !== 'OCIBUILD_CERTS_D'));
  return runCli(args, { ...clean, OCIBUILD_CERTS_D: path.join(dir, 'no-certs-d'), ...env });
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-certs-'));
  base = await buildBusyboxLayout(path.join(dir, 'base'));
  registry = await startRegistry({ tls: true });
});
after(async () => {
  await registry.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('an unknown CA is refused; --ca, SSL_CERT_FILE and certs.d/HOST:PORT/ca.crt each make it trusted', async () => {
  const src = `oci:${base.layoutPath}:${base.tag}`;
  const refused = await cli(['copy', src, `${registry.host}/app:0`, '-q']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /ERR_REGISTRY_TLS/);

  const withCa = await cli(['copy', src, `${registry.host}/app:1`, '--ca', registry.ca as string, '-q']);
  assert.equal(withCa.code, 0, withCa.stderr);

  const withEnv = await cli(['copy', src, `${registry.host}/app:2`, '-q'], { SSL_CERT_FILE: registry.ca as string });
  assert.equal(withEnv.code, 0, withEnv.stderr);

  const certsD = path.join(dir, 'certs.d');
  await fs.mkdir(path.join(certsD, registry.host), { recursive: true });
  await fs.copyFile(registry.ca as string, path.join(certsD, registry.host, 'ca.crt'));
  const withDir = await cli(['copy', src, `${registry.host}/app:3`, '--cert-dir', certsD, '-q']);
  assert.equal(withDir.code, 0, withDir.stderr);
  const withDirEnv = await cli(['copy', src, `${registry.host}/app:4`, '-q'], { OCIBUILD_CERTS_D: certsD });
  assert.equal(withDirEnv.code, 0, withDirEnv.stderr);

  // A CA under another host's folder does not apply to this one.
  const other = path.join(dir, 'certs-other');
  await fs.mkdir(path.join(other, 'registry.example:5000'), { recursive: true });
  await fs.copyFile(registry.ca as string, path.join(other, 'registry.example:5000', 'ca.crt'));
  const wrongHost = await cli(['copy', src, `${registry.host}/app:5`, '--cert-dir', other, '-q']);
  assert.equal(wrongHost.code, 1, wrongHost.stderr);

  const missing = await cli(['copy', src, `${registry.host}/app:6`, '-q'], { SSL_CERT_FILE: path.join(dir, 'nope.pem') });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /SSL_CERT_FILE .*nope\.pem/);
});
