// `ocibuild generate-key-pair`, `sign` and `verify` end to end against a real registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry } from '../helpers/registry.ts';
import { buildBusyboxLayout } from '../helpers/busybox.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const base = { ...process.env };
  delete base.COSIGN_PASSWORD;
  return runCli(args, { ...base, ...env });
}

test('generate-key-pair, sign and verify from the command line (registry with Basic auth)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-cli-sign-'));
  const registry = await startRegistry({ auth: 'htpasswd' });
  const user = registry.users[0] as { username: string; password: string };
  const creds = ['--creds', `${user.username}:${user.password}`];
  t.after(async () => {
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const prefix = path.join(dir, 'cosign');
  const pw = { COSIGN_PASSWORD: 'hunter2-but-longer' };

  const generated = await cli(['generate-key-pair', '--output-key-prefix', prefix], pw);
  assert.equal(generated.code, 0, generated.stderr);
  assert.equal((await fs.stat(`${prefix}.key`)).mode & 0o777, 0o600);
  assert.match(await fs.readFile(`${prefix}.key`, 'utf8'), /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
  assert.match(await fs.readFile(`${prefix}.pub`, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
  const keyBefore = await fs.readFile(`${prefix}.key`, 'utf8');
  // Refused before the password is asked for (none is given here).
  const again = await cli(['generate-key-pair', '--output-key-prefix', prefix]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /cosign\.key already exists \(use --force to overwrite\)/);
  assert.equal(await fs.readFile(`${prefix}.key`, 'utf8'), keyBefore, 'the existing key is untouched');
  assert.deepEqual((await fs.readdir(dir)).sort(), ['cosign.key', 'cosign.pub'], 'no temporary files left');
  const forced = await cli(['generate-key-pair', '--output-key-prefix', prefix, '--force'], pw);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(await fs.readFile(`${prefix}.key`, 'utf8'), keyBefore, '--force writes a new key');
  assert.equal((await fs.stat(`${prefix}.key`)).mode & 0o777, 0o600);
  const noPassword = await cli(['generate-key-pair', '--output-key-prefix', path.join(dir, 'other')]);
  assert.equal(noPassword.code, 2);
  assert.match(noPassword.stderr, /set COSIGN_PASSWORD/);

  const base = await buildBusyboxLayout(path.join(dir, 'base'));
  const ref = `${registry.host}/cli/app:v1`;
  const pushed = await cli(['copy', `oci:${base.layoutPath}:${base.tag}`, ref, ...creds]);
  assert.equal(pushed.code, 0, pushed.stderr);

  const wrongPassword = await cli(['sign', '--key', `${prefix}.key`, ref, ...creds], { COSIGN_PASSWORD: 'nope' });
  assert.equal(wrongPassword.code, 1);
  assert.match(wrongPassword.stderr, /error \[ERR_CREDENTIALS\]: cannot decrypt .*cosign\.key: wrong password/);
  const unsigned = await cli(['verify', '--key', `${prefix}.pub`, ref, ...creds]);
  assert.equal(unsigned.code, 1);
  assert.match(unsigned.stderr, /error \[ERR_SIGNATURE\]: no signatures found/);

  const signed = await cli(['sign', '-y', '--key', `${prefix}.key`, '-a', 'team=build', ref, ...creds], pw);
  assert.equal(signed.code, 0, signed.stderr);
  assert.equal(signed.stdout.trim(), `${registry.host}/cli/app@${base.manifestDigest}`);
  assert.match(signed.stderr, new RegExp(`Pushing signature to: ${registry.host}/cli/app:sha256-${base.manifestDigest.slice(7)}\\.sig`));

  const verified = await cli(['verify', '--key', `${prefix}.pub`, '--insecure-ignore-tlog', '-a', 'team=build', ref, ...creds]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stderr, /The signatures were verified against the specified public key/);
  const payloads = JSON.parse(verified.stdout) as { critical: { image: Record<string, string>; identity: Record<string, string> }; optional: Record<string, string> }[];
  assert.equal(payloads.length, 1);
  assert.equal(payloads[0]?.critical.image['docker-manifest-digest'], base.manifestDigest);
  assert.equal(payloads[0]?.critical.identity['docker-reference'], `${registry.host}/cli/app`);
  assert.deepEqual(payloads[0]?.optional, { team: 'build' });

  // --output text prints the payload bytes as signed: openssl verifies them with the stored signature.
  const text = await cli(['verify', '--key', `${prefix}.pub`, '--output', 'text', ref, ...creds]);
  assert.equal(text.code, 0, text.stderr);
  const raw = await cli(['inspect', '--raw', `${registry.host}/cli/app:sha256-${base.manifestDigest.slice(7)}.sig`, ...creds]);
  const sigManifest = JSON.parse(raw.stdout) as { layers: { annotations: Record<string, string> }[] };
  await fs.writeFile(path.join(dir, 'payload.json'), text.stdout.replace(/\n$/, ''));
  await fs.writeFile(path.join(dir, 'sig.der'), Buffer.from(sigManifest.layers[0]?.annotations['dev.cosignproject.cosign/signature'] ?? '', 'base64'));
  const openssl = execFileSync('openssl', ['dgst', '-sha256', '-verify', `${prefix}.pub`, '-signature', 'sig.der', 'payload.json'], { cwd: dir, encoding: 'utf8' });
  assert.equal(openssl.trim(), 'Verified OK');

  const wrongClaim = await cli(['verify', '--key', `${prefix}.pub`, '-a', 'team=ops', ref, ...creds]);
  assert.equal(wrongClaim.code, 1);
  assert.match(wrongClaim.stderr, /ERR_SIGNATURE.*annotation team=ops is missing/);

  const otherKey = path.join(dir, 'other');
  assert.equal((await cli(['generate-key-pair', '--output-key-prefix', otherKey], pw)).code, 0);
  const wrongKey = await cli(['verify', '--key', `${otherKey}.pub`, ref, ...creds]);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /error \[ERR_SIGNATURE\]: no valid signature for .*does not verify against the public key/);

  // A referrer signature (OCI 1.1) from bob is found by verify too.
  const noCreds = await cli(['sign', '--key', `${otherKey}.key`, ref], pw);
  assert.equal(noCreds.code, 1);
  assert.match(noCreds.stderr, /ERR_REGISTRY_UNAUTHORIZED/);
  const bobSigned = await cli(['sign', '--key', `${otherKey}.key`, '--store', 'referrer', ref, ...creds], pw);
  assert.equal(bobSigned.code, 0, bobSigned.stderr);
  assert.match(bobSigned.stderr, /Pushing signature referrer to: .*@sha256:[0-9a-f]{64}/);
  assert.equal((await cli(['verify', '--key', `${otherKey}.pub`, ref, ...creds])).code, 0);
  const badStore = await cli(['sign', '--key', `${otherKey}.key`, '--store', 'tags', ref, ...creds], pw);
  assert.equal(badStore.code, 2);
  assert.match(badStore.stderr, /--store must be tag, referrer or both/);

  const usage = await cli(['verify', ref, ...creds]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--key is required/);
  const endless = await cli(['sign', '--key', '/dev/zero', ref, ...creds], pw);
  assert.equal(endless.code, 2);
  assert.match(endless.stderr, /--key \/dev\/zero: larger than 65536 bytes, not a key file/);
  const missing = await cli(['verify', '--key', path.join(dir, 'nope.pub'), ref, ...creds]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.pub: cannot read the file \(ENOENT\)/);
  const badKey = await cli(['verify', '--key', `${prefix}.key`, ref, ...creds]);
  assert.equal(badKey.code, 1);
  assert.match(badKey.stderr, /PEM type "ENCRYPTED SIGSTORE PRIVATE KEY" is not PUBLIC KEY/);
});
