// `--load-platform` names the platform a daemon target loads from a multi-platform build, and
// each command that writes images documents it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outputOptions } from '../../src/cli/commands/shared.ts';
import { commands } from '../../src/cli/commands/index.ts';

test('--load-platform becomes loadPlatform, and build/append/node/s2i document it', async () => {
  assert.equal(outputOptions({ to: ['podman:app'], 'load-platform': 'linux/arm64' }).loadPlatform, 'linux/arm64');
  assert.equal(outputOptions({ to: ['podman:app'] }).loadPlatform, undefined);
  for (const name of ['build', 'append', 'node', 's2i']) {
    const command = await commands.find((c) => c.name === name)?.load();
    assert.match(command?.help ?? '', /--load-platform OS\/ARCH/, name);
  }
});
