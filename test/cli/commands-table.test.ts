/**
 * The lazy command table (issue 15): what `ocibuild --help` lists without loading a command
 * agrees with the command each entry loads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commands } from '../../src/cli/commands/index.ts';

test('each table entry loads the command it names, with the same summary', async () => {
  assert.equal(new Set(commands.map((c) => c.name)).size, commands.length, 'names are unique');
  for (const entry of commands) {
    const command = await entry.load();
    assert.equal(command.name, entry.name);
    assert.equal(command.summary, entry.summary, `the summary of ${entry.name}`);
    assert.ok(command.help.length > 0, `${entry.name} has help`);
  }
});

test('an unknown command names the one meant when a typo is that close (two edits, a swap counts once), and only then', async () => {
  const { closestName } = await import('../../src/index.ts');
  const names = ['build', 'append', 'node', 's2i', 'warm', 'copy', 'inspect', 'tags', 'sbom', 'sign', 'verify', 'generate-key-pair'];
  assert.equal(closestName('biuld', names), 'build');
  assert.equal(closestName('inpsect', names), 'inspect');
  assert.equal(closestName('COPY', names), 'copy');
  assert.equal(closestName('verfy', names), 'verify');
  assert.equal(closestName('sig', names), undefined, 'sign and s2i are both close: no guess');
  assert.equal(closestName('deploy', names), undefined);
  const { runCli } = await import('../helpers/cli.ts');
  const run = await runCli(['biuld', '.']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^ocibuild: unknown command "biuld" \(did you mean build\?\)/);
});

test('an unknown option is named, with the option meant when a typo is that close', async () => {
  const { parseFlags, UsageError } = await import('../../src/cli/util.ts');
  const options = { 'cache-dir': { type: 'string' }, 'no-push': { type: 'boolean' }, push: { type: 'boolean' } } as const;
  const usage = (message: string) => (e: unknown) => e instanceof UsageError && e.message === message;
  assert.throws(() => parseFlags(['--cahce-dir', 'x'], options), usage('unknown option --cahce-dir (did you mean --cache-dir?)'));
  assert.throws(() => parseFlags(['--cach-dir=x'], options), usage('unknown option --cach-dir (did you mean --cache-dir?)'));
  assert.throws(() => parseFlags(['--frobnicate'], options), usage('unknown option --frobnicate'));
  assert.deepEqual(parseFlags(['--push', 'ctx'], options).positionals, ['ctx']);
});
