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
