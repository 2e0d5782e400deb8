import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ociSchemaErrors, validateOci } from '../helpers/schema.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest('a'), size: 32 };
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest('b'), size: 400 };
const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config,
  layers: [layer],
  annotations: { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' },
};
const index = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digest('c'),
      size: 500,
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      annotations: { 'org.opencontainers.image.ref.name': 'latest' },
    },
  ],
};
const imageConfig = {
  created: '1970-01-01T00:00:00Z',
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} } },
  rootfs: { type: 'layers', diff_ids: [digest('d')] },
  history: [{ created: '1970-01-01T00:00:00Z', created_by: 'x' }],
};

describe('validateOci', () => {
  it('accepts valid documents of every kind', () => {
    validateOci('manifest', manifest);
    validateOci('index', index);
    validateOci('config', imageConfig);
    validateOci('layout', { imageLayoutVersion: '1.0.0' });
  });

  it('rejects a manifest without config, naming the field', () => {
    const { config: _omit, ...broken } = manifest;
    assert.throws(() => validateOci('manifest', broken), (error: Error) => {
      assert.equal(error.name, 'AssertionError');
      assert.match(error.message, /config/);
      return true;
    });
  });

  it('rejects a bad digest, a negative size and a non-string annotation', () => {
    const broken = {
      ...manifest,
      config: { ...config, digest: 'sha256:NOT HEX!' },
      layers: [{ ...layer, size: -1 }],
      annotations: { a: 1 },
    };
    const errors = ociSchemaErrors('manifest', broken);
    assert.ok(errors.some((e) => e.startsWith('/config/digest')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('/layers/0/size')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('/annotations/a')), errors.join('\n'));
  });

  it('rejects schemaVersion 1, a bad media type and a bad platform in an index', () => {
    const broken = {
      ...index,
      schemaVersion: 1,
      manifests: [{ ...index.manifests[0], mediaType: 'not a media type', platform: { os: 'linux' } }],
    };
    const errors = ociSchemaErrors('index', broken);
    assert.ok(errors.some((e) => e.startsWith('/schemaVersion')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('/manifests/0/mediaType')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('/manifests/0/platform') && e.includes('architecture')), errors.join('\n'));
  });

  it('checks the date-time and uri formats', () => {
    assert.deepEqual(ociSchemaErrors('config', { ...imageConfig, created: '1970-01-01 00:00' }).length, 1);
    const withUrls = { ...manifest, layers: [{ ...layer, urls: ['not a uri'] }] };
    assert.ok(ociSchemaErrors('manifest', withUrls).some((e) => e.startsWith('/layers/0/urls/0')));
    validateOci('manifest', { ...manifest, layers: [{ ...layer, urls: ['https://example.com/blob'] }] });
  });

  it('rejects configs without rootfs and layouts of another version', () => {
    const { rootfs: _omit, ...noRootfs } = imageConfig;
    assert.throws(() => validateOci('config', noRootfs), /rootfs/);
    assert.throws(() => validateOci('config', { ...imageConfig, rootfs: { type: 'other', diff_ids: [] } }), /rootfs\/type/);
    assert.throws(() => validateOci('layout', { imageLayoutVersion: '2.0.0' }), /imageLayoutVersion/);
  });

  it('is quick after the first call (compiled once)', () => {
    const start = performance.now();
    for (let i = 0; i < 200; i++) validateOci('manifest', manifest);
    assert.ok(performance.now() - start < 500);
  });
});
