import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OcibuildError } from '../../src/errors.ts';
import { encodeConfig, formatCreated, getEnv, mergeEnv, parseConfig, validateConfig } from '../../src/oci/config.ts';
import type { ImageConfig } from '../../src/oci/types.ts';
import { validateOci } from '../helpers/schema.ts';

const enc = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const diffId = (c: string) => `sha256:${c.repeat(64)}`;
const base: ImageConfig = {
  created: '1970-01-01T00:00:00Z',
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'], Entrypoint: null, Labels: { a: 'b' }, WorkingDir: '/' },
  rootfs: { type: 'layers', diff_ids: [diffId('a'), diffId('b')] },
  history: [{ created_by: 'ADD rootfs' }, { created_by: 'ENV x', empty_layer: true }],
};

function assertInvalid(doc: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseConfig(enc(doc)),
    (error: unknown) => error instanceof OcibuildError && error.code === 'ERR_INVALID_CONFIG' && pattern.test(error.message),
  );
}

describe('parseConfig', () => {
  it('parses a config and keeps fields it does not know', () => {
    const doc = { ...base, container_config: { Hostname: 'abc' }, docker_version: '24.0', config: { ...base.config, Future: 1 } };
    const parsed = parseConfig(enc(doc));
    assert.deepEqual(parsed, doc);
    assert.deepEqual(parsed['container_config'], { Hostname: 'abc' });
  });

  it('reads an empty os and architecture as unknown (crane append onto scratch writes them)', () => {
    const parsed = parseConfig(enc({ ...base, os: '', architecture: '' }));
    assert.equal(parsed.os, '');
    assert.equal(parsed.architecture, '');
  });

  const broken: [name: string, doc: unknown, pattern: RegExp][] = [
    ['not JSON', '{', /JSON/],
    ['an array', '[]', /not a JSON object/],
    ['no os', { ...base, os: undefined }, /field os must be a string/],
    ['numeric architecture', { ...base, architecture: 64 }, /field architecture/],
    ['no rootfs', { ...base, rootfs: undefined }, /field rootfs must be an object/],
    ['rootfs of another type', { ...base, rootfs: { type: 'x', diff_ids: [] } }, /field rootfs\.type must be "layers"/],
    ['diff_ids missing', { ...base, rootfs: { type: 'layers' } }, /rootfs\.diff_ids must be an array/],
    ['a bad diff_id', { ...base, rootfs: { type: 'layers', diff_ids: [diffId('a'), 'sha256:abc'] } }, /rootfs\.diff_ids\[1\]/],
    ['a numeric diff_id', { ...base, rootfs: { type: 'layers', diff_ids: [1] } }, /rootfs\.diff_ids\[0\]/],
    ['Env not a list', { ...base, config: { Env: 'A=1' } }, /config\.Env/],
    ['Cmd with a number', { ...base, config: { Cmd: ['a', 1] } }, /config\.Cmd/],
    ['Labels with a number', { ...base, config: { Labels: { a: 1 } } }, /config\.Labels/],
    ['User a number', { ...base, config: { User: 0 } }, /config\.User/],
    ['history not a list', { ...base, history: {} }, /field history/],
    ['empty_layer a string', { ...base, history: [{ empty_layer: 'yes' }] }, /history\[0\]\.empty_layer/],
    ['created a number', { ...base, created: 0 }, /field created/],
  ];
  for (const [name, doc, pattern] of broken) it(`rejects ${name}`, () => assertInvalid(doc, pattern));

  it('accepts null config, Cmd and Entrypoint as Docker writes them', () => {
    parseConfig(enc({ ...base, config: null }));
    parseConfig(enc({ ...base, config: { Cmd: null, Entrypoint: null, Volumes: null, OnBuild: null } }));
  });
});

describe('encodeConfig', () => {
  it('writes canonical, schema-valid bytes that parse back', () => {
    const bytes = encodeConfig(base);
    const text = new TextDecoder().decode(bytes);
    assert.equal(text, JSON.stringify(JSON.parse(text)), 'no insignificant whitespace');
    assert.ok(text.startsWith('{"architecture":"amd64","config":{"Cmd":["sh"],"Entrypoint":null,"Env"'), text);
    validateOci('config', JSON.parse(text));
    assert.deepEqual(parseConfig(bytes), base);
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as ImageConfig;
    assert.deepEqual(encodeConfig(reordered), bytes);
  });

  it('refuses an invalid config', () => {
    assert.throws(() => encodeConfig({ ...base, rootfs: { type: 'layers', diff_ids: ['nope'] } }), /rootfs\.diff_ids\[0\]/);
    assert.throws(() => validateConfig({ os: 'linux' }), /architecture/);
  });
});

describe('mergeEnv', () => {
  it('replaces existing keys in place and appends new ones in order', () => {
    const env = ['PATH=/bin', 'HOME=/root', 'LANG=C'];
    assert.deepEqual(mergeEnv(env, { HOME: '/home/app', NODE_ENV: 'production', A: '1' }), [
      'PATH=/bin',
      'HOME=/home/app',
      'LANG=C',
      'NODE_ENV=production',
      'A=1',
    ]);
    assert.deepEqual(env, ['PATH=/bin', 'HOME=/root', 'LANG=C'], 'input is not modified');
  });

  it('accepts KEY=value lists, values with "=", empty values and an undefined base', () => {
    assert.deepEqual(mergeEnv(undefined, ['A=1', 'B=x=y', 'C=']), ['A=1', 'B=x=y', 'C=']);
    assert.deepEqual(mergeEnv(['A=0'], ['A=1', 'A=2']), ['A=2']);
  });

  it('does not confuse keys that share a prefix', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'PATHEXT=x'], { PATH: '/usr/bin' }), ['PATH=/usr/bin', 'PATHEXT=x']);
  });

  it('replaces every duplicate of a key in the base', () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2', 'A=3'], { A: '9' }), ['A=9', 'B=2', 'A=9']);
  });

  it('rejects entries without a key', () => {
    for (const bad of [['NOVALUE'], ['=x']]) {
      assert.throws(() => mergeEnv([], bad), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT');
    }
    assert.throws(() => mergeEnv([], { '': 'x' }), OcibuildError);
  });

  it('getEnv reads the last value of a key', () => {
    assert.equal(getEnv(['A=1', 'AB=2', 'A=3'], 'A'), '3');
    assert.equal(getEnv(['A=x=y'], 'A'), 'x=y');
    assert.equal(getEnv(undefined, 'A'), undefined);
  });
});

describe('formatCreated', () => {
  const table: [number, string][] = [
    [0, '1970-01-01T00:00:00Z'],
    [1, '1970-01-01T00:00:01Z'],
    [1.5, '1970-01-01T00:00:01.5Z'],
    [1.25, '1970-01-01T00:00:01.25Z'],
    [1700000000, '2023-11-14T22:13:20Z'],
    [253402300799, '9999-12-31T23:59:59Z'],
  ];
  for (const [seconds, expected] of table) it(`${seconds} → ${expected}`, () => assert.equal(formatCreated(seconds), expected));

  it('rejects negative, non-finite and five-digit-year times', () => {
    for (const bad of [-1, Number.NaN, Infinity, 253402300800]) {
      assert.throws(() => formatCreated(bad), (e: unknown) => e instanceof OcibuildError && e.code === 'ERR_INVALID_ARGUMENT');
    }
  });

  it('produces times the OCI schema accepts', () => {
    validateOci('config', { ...base, created: formatCreated(1.5), history: [{ created: formatCreated(0) }] });
  });
});
