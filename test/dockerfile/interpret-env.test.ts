/**
 * The expansion environment kept per stage (interpret-state.ts) stays coherent with the config:
 * ENV over ARG whatever their order, pairs of one ENV expanded with the values from before it,
 * replaced keys, and a child stage starting from its parent's config.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cleanupBusybox, interpret } from './interpret-harness.ts';

after(cleanupBusybox);

describe('expansion environment', () => {
  it('follows ENV and ARG changes in order, ENV winning, into a child stage', async () => {
    const result = await interpret(
      [
        'FROM scratch AS a',
        'ARG X=arg',
        'ENV Y=$X',
        'ENV X=env',
        'ARG X=arg2',
        'ENV Z=$X A=1 B=$A',
        'ENV Y=again-$Y',
        'LABEL l=$Y',
        'FROM a',
        'ENV W=$Y-$Z',
        'ARG N=$W',
        'ENV N2=$N',
      ].join('\n'),
    );
    const env = (result.config.config?.Env ?? []).filter((e) => !e.startsWith('PATH='));
    assert.deepEqual(env, ['Y=again-arg', 'X=env', 'Z=env', 'A=1', 'B=', 'W=again-arg-env', 'N2=again-arg-env']);
    assert.equal(result.config.config?.Labels?.['l'], 'again-arg');
  });
});
