// Step cache keys and records, pure parts: the length-prefixed encoding cannot be fooled by
// joined strings, every input changes the key, a miss names the input that changed, records
// are validated, TTLs parse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explainMiss, rootKey, stepKey, type StepInputs } from '../../src/cache/steps-key.ts';
import { checkStepRecord, isExpired, parseTtl, STEP_RECORD_SCHEMA } from '../../src/cache/steps-record.ts';
import { stepTag } from '../../src/cache/registry-cache.ts';

const base: StepInputs = {
  parent: 'a'.repeat(64),
  instruction: '{"kind":"copy","words":["app/"]}',
  variables: { VERSION: '1' },
  platform: 'linux/amd64',
  sources: [
    ['app/index.js', 'd1'],
    ['app/util.js', 'd2'],
  ],
  extra: {},
};

describe('step keys', () => {
  it('are 64 hex digits and stable', () => {
    assert.match(stepKey(base), /^[0-9a-f]{64}$/);
    assert.equal(stepKey(base), stepKey(structuredClone(base)));
  });

  it('change with every input', () => {
    const variants: StepInputs[] = [
      { ...base, parent: 'b'.repeat(64) },
      { ...base, instruction: `${base.instruction} ` },
      { ...base, variables: { VERSION: '2' } },
      { ...base, variables: { VERSION: '1', OTHER: '' } },
      { ...base, platform: 'linux/arm64' },
      { ...base, sources: [['app/index.js', 'd1']] },
      { ...base, sources: [['app/index.js', 'dX'], ['app/util.js', 'd2']] },
      { ...base, sources: [['app/util.js', 'd2'], ['app/index.js', 'd1']] },
      { ...base, extra: { 'stage build': 'k' } },
    ];
    const keys = new Set([stepKey(base), ...variants.map(stepKey)]);
    assert.equal(keys.size, variants.length + 1);
  });

  it('cannot be fooled by moving text between fields', () => {
    // A joined-string key would make these equal.
    assert.notEqual(stepKey({ ...base, variables: { AB: 'C' } }), stepKey({ ...base, variables: { A: 'BC' } }));
    assert.notEqual(stepKey({ ...base, sources: [['a', 'bc']] }), stepKey({ ...base, sources: [['ab', 'c']] }));
    assert.notEqual(
      stepKey({ ...base, instruction: 'x', platform: 'ylinux/amd64' }),
      stepKey({ ...base, instruction: 'xy', platform: 'linux/amd64' }),
    );
  });

  it('root keys depend on the base, platform, creation time and encoder', () => {
    const r = { baseDigest: `sha256:${'1'.repeat(64)}`, platform: 'linux/amd64', created: 0, encoder: 'fflate/6' };
    const keys = new Set([
      rootKey(r),
      rootKey({ ...r, baseDigest: undefined }),
      rootKey({ ...r, platform: 'linux/arm64' }),
      rootKey({ ...r, created: 1 }),
      rootKey({ ...r, encoder: 'node:zlib/6' }),
    ]);
    assert.equal(keys.size, 5);
  });
});

describe('miss explanations', () => {
  it('name the input that changed, own inputs before the parent', () => {
    assert.equal(explainMiss(undefined, base), 'no record for key');
    assert.equal(explainMiss({ ...base, sources: [['app/index.js', 'old'], ['app/util.js', 'd2']] }, base), 'source app/index.js changed');
    assert.equal(explainMiss({ ...base, sources: [['app/index.js', 'd1']] }, base), 'source app/util.js added');
    assert.equal(explainMiss({ ...base, variables: { VERSION: '0' } }, base), 'build arg VERSION changed');
    assert.equal(explainMiss({ ...base, instruction: 'other' }, base), 'instruction changed');
    assert.equal(explainMiss({ ...base, platform: 'linux/arm64' }, base), 'platform changed (linux/arm64 to linux/amd64)');
    assert.equal(explainMiss({ ...base, extra: { 'stage build': 'k0' } }, { ...base, extra: { 'stage build': 'k1' } }), 'stage build changed');
    assert.equal(explainMiss({ ...base, parent: 'c'.repeat(64), variables: {} }, base), 'build arg VERSION changed');
    assert.equal(explainMiss({ ...base, parent: 'c'.repeat(64) }, base), 'previous step changed');
  });

  it('shorten long lists', () => {
    const many = Array.from({ length: 6 }, (_, i) => [`f${i}`, 'x'] as [string, string]);
    assert.equal(explainMiss({ ...base, sources: many }, { ...base, sources: many.map(([p]) => [p, 'y']) }), 'source f0 changed, f1 changed, f2 changed and 3 more');
  });
});

describe('step records', () => {
  const key = 'e'.repeat(64);
  const good = {
    schema: STEP_RECORD_SCHEMA,
    key,
    created: '2024-01-01T00:00:00.000Z',
    createdBy: 'RUN x',
    platform: 'linux/amd64',
    config: { Env: ['A=1'] },
    layer: { descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'f'.repeat(64)}`, size: 10 }, diffId: `sha256:${'0'.repeat(64)}`, uncompressedSize: 20, entryCount: 1 },
  };

  it('accept a valid record and reject foreign or torn ones, naming the field', () => {
    checkStepRecord(good, key, 'test');
    checkStepRecord({ ...good, layer: undefined }, key, 'test');
    assert.throws(() => checkStepRecord(good, 'd'.repeat(64), 'here'), /here: step record field key/);
    assert.throws(() => checkStepRecord({ ...good, schema: 'other' }, key, 'x'), /field schema/);
    assert.throws(() => checkStepRecord({ ...good, created: 'yesterday' }, key, 'x'), /field created/);
    assert.throws(() => checkStepRecord({ ...good, layer: { ...good.layer, diffId: 'nope' } }, key, 'x'), /layer\.diffId/);
    assert.throws(() => checkStepRecord({ ...good, layer: { ...good.layer, descriptor: { ...good.layer.descriptor, size: -1 } } }, key, 'x'), /layer\.descriptor/);
    assert.throws(() => checkStepRecord([], key, 'x'), { code: 'ERR_INVALID_CONFIG' });
  });

  it('expire after the TTL', () => {
    const now = Date.parse('2024-01-02T00:00:00Z');
    assert.equal(isExpired(good.created, undefined, now), false);
    assert.equal(isExpired(good.created, parseTtl('25h'), now), false);
    assert.equal(isExpired(good.created, parseTtl('23h'), now), true);
  });

  it('parse TTLs as seconds or durations', () => {
    assert.equal(parseTtl(90), 90_000);
    assert.equal(parseTtl('90'), 90_000);
    assert.equal(parseTtl('1h30m'), 5_400_000);
    assert.equal(parseTtl('7d'), 604_800_000);
    assert.equal(parseTtl('250ms'), 250);
    assert.throws(() => parseTtl('soon'), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => parseTtl(-1), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('are tagged by their key', () => {
    assert.equal(stepTag(key), key);
    assert.throws(() => stepTag('latest'), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
