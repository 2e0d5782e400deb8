// The password prompt (shared by `generate-key-pair` and `sign`) on a real terminal (a pty from
// util-linux `script`): no echo, asked twice when creating a key, and the key opens with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliMain, repoRoot } from '../helpers/cli.ts';
import { readCosignPrivateKey } from '../../src/supply/cosign-key.ts';

/** Runs the CLI on a pty, typing each answer when the next prompt appears; resolves the whole transcript. */
function onTerminal(args: string[], answers: string[]): Promise<{ code: number | null; transcript: string }> {
  const env = { ...process.env };
  delete env.COSIGN_PASSWORD;
  const command = [process.execPath, '--import', 'tsx', cliMain, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: repoRoot, env });
  let transcript = '';
  let prompts = 0;
  child.stdout.on('data', (d: Buffer) => {
    transcript += d.toString();
    const seen = transcript.split('Enter password for private key').length - 1;
    while (prompts < seen && prompts < answers.length) child.stdin.write(`${answers[prompts++]}\r`);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, transcript })));
}

test('passwords are read from the terminal without echo', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-sign-tty-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const prefix = path.join(dir, 'tty');
  const made = await onTerminal(['generate-key-pair', '--output-key-prefix', prefix], ['typed-secret-1', 'typed-secret-1']);
  assert.equal(made.code, 0, made.transcript);
  assert.match(made.transcript, /Enter password for private key: [\s\S]*Enter password for private key again: /);
  assert.doesNotMatch(made.transcript, /typed-secret-1/, 'the password is not echoed');
  const key = await readCosignPrivateKey(await fs.readFile(`${prefix}.key`, 'utf8'), 'typed-secret-1');
  assert.equal(key.asymmetricKeyType, 'ec');

  const mismatch = await onTerminal(['generate-key-pair', '--output-key-prefix', path.join(dir, 'other')], ['one-password', 'another-one']);
  assert.equal(mismatch.code, 2);
  assert.match(mismatch.transcript, /the passwords do not match/);
  await assert.rejects(fs.stat(path.join(dir, 'other.key')), /ENOENT/);
});
