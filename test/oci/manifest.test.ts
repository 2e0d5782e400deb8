import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OcibuildError, UnsupportedError } from '../../src/errors.ts';
import { parseConfig } from '../../src/oci/config.ts';
import { descriptorFor, encodeManifest, parseManifest, selectManifest } from '../../src/oci/manifest.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
} from '../../src/oci/mediatypes.ts';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../../src/oci/types.ts';
import { validateOci } from '../helpers/schema.ts';
import { sha256 } from '../helpers/data.ts';

const enc = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const config: Descriptor = { mediaType: OCI_CONFIG, digest: digest('b'), size: 300 };
const layer: Descriptor = { mediaType: OCI_LAYER_GZIP, digest: digest('a'), size: 1000 };
const manifest: ImageManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
const child = (c: string, platform?: Platform): Descriptor => ({ mediaType: OCI_MANIFEST, digest: digest(c), size: 500, ...(platform && { platform }) });
const index: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child('c', { os: 'linux', architecture: 'amd64' })] };

function assertInvalid(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof OcibuildError, String(error));
    assert.equal(error.code, 'ERR_INVALID_MANIFEST', error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

describe('parseManifest', () => {
  it('parses bytes, keeps them, and digests them as they are', () => {
    // Deliberately non-canonical bytes: whitespace and key order must survive.
    const bytes = enc(`{ "schemaVersion": 2, "mediaType": "${OCI_MANIFEST}",\n "layers": ${JSON.stringify([layer])}, "config": ${JSON.stringify(config)} }`);
    const parsed = parseManifest(bytes);
    assert.equal(parsed.kind, 'manifest');
    assert.equal(parsed.raw.bytes, bytes);
    assert.equal(parsed.raw.digest, sha256(bytes));
    assert.equal(parsed.raw.mediaType, OCI_MANIFEST);
    if (parsed.kind !== 'manifest') return;
    assert.deepEqual(parsed.manifest.config, config);
    assert.deepEqual(parsed.manifest.layers, [layer]);
  });

  it('trusts the digest of a RawManifest and resolves a generic Content-Type', () => {
    const bytes = enc(index);
    const parsed = parseManifest({ mediaType: 'application/json; charset=utf-8', digest: digest('e'), bytes });
    assert.equal(parsed.kind, 'index');
    assert.equal(parsed.raw.digest, digest('e'));
    assert.equal(parsed.raw.mediaType, OCI_INDEX);
  });

  it('infers the kind of OCI documents without mediaType', () => {
    const { mediaType: _m, ...bareManifest } = manifest;
    const { mediaType: _i, ...bareIndex } = index;
    assert.equal(parseManifest(enc(bareManifest)).raw.mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(enc(bareIndex)).raw.mediaType, OCI_INDEX);
    assert.equal(parseManifest(enc(bareIndex), `${OCI_INDEX}; charset=utf-8`).kind, 'index');
    assert.equal(parseManifest(enc({ ...bareManifest, layers: [] })).kind, 'manifest');
  });

  it('reads Docker v2.2 manifests and manifest lists', () => {
    const docker = { ...manifest, mediaType: DOCKER_MANIFEST };
    assert.equal(parseManifest(enc(docker), DOCKER_MANIFEST).raw.mediaType, DOCKER_MANIFEST);
    const list = parseManifest(enc({ ...index, mediaType: DOCKER_MANIFEST_LIST }));
    assert.equal(list.kind, 'index');
    assert.equal(list.raw.mediaType, DOCKER_MANIFEST_LIST);
  });

  it('rejects Docker schema 1 as unsupported', () => {
    const schema1 = { schemaVersion: 1, name: 'library/busybox', tag: 'latest', architecture: 'amd64', fsLayers: [] };
    assert.throws(() => parseManifest(enc(schema1)), UnsupportedError);
    assert.throws(() => parseManifest(enc(manifest), 'application/vnd.docker.distribution.manifest.v1+prettyjws'), UnsupportedError);
    assert.throws(
      () => parseManifest(enc({ ...manifest, mediaType: 'application/vnd.docker.distribution.manifest.v1+json' })),
      (e: unknown) => e instanceof UnsupportedError && e.code === 'ERR_UNSUPPORTED' && /schema 1/.test(e.message),
    );
  });

  it('rejects unknown and conflicting media types', () => {
    assert.throws(() => parseManifest(enc({ ...manifest, mediaType: 'application/vnd.example+json' })), UnsupportedError);
    assert.throws(() => parseManifest(enc({ ...manifest, mediaType: undefined }), 'application/vnd.example+json'), UnsupportedError);
    assertInvalid(() => parseManifest(enc(index), OCI_MANIFEST), /differs/);
    assertInvalid(() => parseManifest(enc({ ...manifest, mediaType: undefined }), DOCKER_MANIFEST), /mediaType is required/);
  });

  it('rejects documents that could be read as both kinds', () => {
    assertInvalid(() => parseManifest(enc({ ...index, layers: [layer] })), /index but has "config" or "layers"/);
    assertInvalid(() => parseManifest(enc({ ...manifest, manifests: [] })), /manifest but has "manifests"/);
  });

  const broken: [name: string, doc: unknown, ...patterns: RegExp[]][] = [
    ['not JSON', '{"schemaVersion": 2,', /JSON/],
    ['not an object', '[1]', /not a JSON object/],
    ['schemaVersion 3', { ...manifest, schemaVersion: 3 }, /schemaVersion must be 2/],
    ['no schemaVersion', { ...manifest, schemaVersion: undefined }, /schemaVersion/],
    ['no shape and no mediaType', { schemaVersion: 2 }, /neither/],
    ['config missing', { ...manifest, config: undefined }, /config/, /descriptor/],
    ['config digest invalid', { ...manifest, config: { ...config, digest: 'sha256:xyz' } }, /config/, /digest "sha256:xyz"/],
    ['layer size negative', { ...manifest, layers: [layer, { ...layer, size: -1 }] }, /layers\[1\]/, /size/],
    ['layer size fractional', { ...manifest, layers: [{ ...layer, size: 1.5 }] }, /layers\[0\]/, /size/],
    ['layer size a string', { ...manifest, layers: [{ ...layer, size: '1' }] }, /size must be a non-negative integer, got "1"/],
    ['layer mediaType missing', { ...manifest, layers: [{ ...layer, mediaType: undefined }] }, /layers\[0\]/, /mediaType/],
    ['layers not an array', { ...manifest, layers: {} }, /layers must be an array/],
    ['annotations not strings', { ...manifest, annotations: { a: 1 } }, /annotations/],
    ['mediaType not a string', { ...manifest, mediaType: 7 }, /mediaType/],
    ['urls not strings', { ...manifest, layers: [{ ...layer, urls: [1] }] }, /urls/],
    ['platform without architecture', { ...index, manifests: [child('c', { os: 'linux' } as Platform)] }, /manifests\[0\]\.platform/, /architecture/],
    ['index child digest invalid', { ...index, manifests: [{ ...child('c'), digest: 'md5:00' }] }, /manifests\[0\]/, /digest/],
    ['subject invalid', { ...manifest, subject: { mediaType: OCI_MANIFEST } }, /subject/],
  ];
  for (const [name, doc, ...patterns] of broken) {
    it(`rejects a manifest with ${name}`, () => assertInvalid(() => parseManifest(enc(doc)), ...patterns));
  }

  it('rejects bytes that are not UTF-8', () => {
    assertInvalid(() => parseManifest(new Uint8Array([0x7b, 0xff, 0x7d])), /UTF-8/);
  });
});

describe('encodeManifest / descriptorFor', () => {
  it('writes canonical, schema-valid manifests and indexes that parse back', () => {
    for (const doc of [manifest, index] as (ImageManifest | ImageIndex)[]) {
      const raw = encodeManifest(doc);
      const text = new TextDecoder().decode(raw.bytes);
      assert.equal(raw.digest, sha256(raw.bytes));
      assert.equal(raw.mediaType, doc.mediaType);
      assert.doesNotMatch(text, /\s/);
      const keys = Object.keys(JSON.parse(text));
      assert.deepEqual(keys, [...keys].sort());
      validateOci('index' in doc || 'manifests' in doc ? 'index' : 'manifest', JSON.parse(text));
      const parsed = parseManifest(raw);
      assert.deepEqual(parsed.kind === 'manifest' ? parsed.manifest : parsed.index, doc);
    }
  });

  it('is deterministic across key order and defaults the media type by shape', () => {
    const reordered = { layers: [layer], config, schemaVersion: 2 as const };
    const a = encodeManifest(reordered);
    const b = encodeManifest({ schemaVersion: 2, config, layers: [layer] });
    assert.equal(a.digest, b.digest);
    assert.equal(a.mediaType, OCI_MANIFEST);
    assert.equal(encodeManifest({ schemaVersion: 2, manifests: [] }).mediaType, OCI_INDEX);
  });

  it('refuses to encode an invalid document', () => {
    assertInvalid(() => encodeManifest({ ...manifest, config: { ...config, size: -5 } }), /size/);
    assertInvalid(() => encodeManifest({ ...index, mediaType: OCI_MANIFEST }), /does not match/);
    assertInvalid(() => encodeManifest({ ...manifest, schemaVersion: 1 as 2 }), /schemaVersion/);
  });

  it('describes a raw manifest', () => {
    const raw = encodeManifest(manifest);
    const platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
    assert.deepEqual(descriptorFor(raw), { mediaType: OCI_MANIFEST, digest: raw.digest, size: raw.bytes.byteLength });
    assert.deepEqual(descriptorFor(raw, { platform }).platform, platform);
  });
});

describe('selectManifest', () => {
  const attestation = child('0', { os: 'unknown', architecture: 'unknown' });
  const multi: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      attestation,
      child('1', { os: 'linux', architecture: 'amd64' }),
      child('2', { os: 'linux', architecture: 'arm', variant: 'v6' }),
      child('3', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      child('4', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      child('5'),
    ],
  };
  const pick = (idx: ImageIndex, want: Platform) => selectManifest(idx, want)?.digest;

  it('picks by normalised platform', () => {
    assert.equal(pick(multi, { os: 'linux', architecture: 'amd64' }), digest('1'));
    assert.equal(pick(multi, { os: 'linux', architecture: 'x86_64' }), digest('1'));
    assert.equal(pick(multi, { os: 'linux', architecture: 'arm64' }), digest('4'));
    assert.equal(pick(multi, { os: 'linux', architecture: 'aarch64' }), digest('4'));
    assert.equal(pick(multi, { os: 'linux', architecture: 'arm', variant: 'v7' }), digest('3'));
    assert.equal(pick(multi, { os: 'linux', architecture: 'arm' }), digest('3'));
    assert.equal(pick(multi, { os: 'linux', architecture: 'arm', variant: 'v6' }), digest('2'));
  });

  it('never picks entries without a usable platform, and returns undefined when nothing fits', () => {
    assert.equal(pick(multi, { os: 'windows', architecture: 'amd64' }), undefined);
    assert.equal(pick(multi, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(pick({ schemaVersion: 2, manifests: [child('5')] }, { os: 'linux', architecture: 'amd64' }), undefined);
  });

  it('prefers the exact variant spelling, then older compatible arm variants', () => {
    const both: ImageIndex = {
      schemaVersion: 2,
      manifests: [child('a', { os: 'linux', architecture: 'arm64' }), child('b', { os: 'linux', architecture: 'arm64', variant: 'v8' })],
    };
    assert.equal(pick(both, { os: 'linux', architecture: 'arm64', variant: 'v8' }), digest('b'));
    assert.equal(pick(both, { os: 'linux', architecture: 'arm64' }), digest('a'));
    const oldArm: ImageIndex = {
      schemaVersion: 2,
      manifests: [child('5', { os: 'linux', architecture: 'arm', variant: 'v5' }), child('6', { os: 'linux', architecture: 'arm', variant: 'v6' })],
    };
    assert.equal(pick(oldArm, { os: 'linux', architecture: 'arm', variant: 'v7' }), digest('6'));
    assert.equal(pick(oldArm, { os: 'linux', architecture: 'arm', variant: 'v5' }), digest('5'));
    const newArm: ImageIndex = { schemaVersion: 2, manifests: [child('7', { os: 'linux', architecture: 'arm', variant: 'v7' })] };
    assert.equal(pick(newArm, { os: 'linux', architecture: 'arm', variant: 'v6' }), undefined);
  });
});

describe('documents written by umoci', { skip: existsSync('/usr/bin/umoci') ? false : 'umoci not installed' }, () => {
  it('parses its index, manifest and config, which have no mediaType', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ocibuild-manifest-'));
    try {
      const layout = path.join(dir, 'layout');
      execFileSync('umoci', ['init', '--layout', layout]);
      execFileSync('umoci', ['new', '--image', `${layout}:t`]);
      validateOci('layout', JSON.parse(await readFile(path.join(layout, 'oci-layout'), 'utf8')));
      const blob = (d: string) => readFile(path.join(layout, 'blobs', 'sha256', d.slice('sha256:'.length)));

      const indexBytes = await readFile(path.join(layout, 'index.json'));
      assert.doesNotMatch(indexBytes.toString(), /"mediaType":"application\/vnd\.oci\.image\.index/);
      const parsedIndex = parseManifest(new Uint8Array(indexBytes));
      assert.equal(parsedIndex.kind, 'index');
      if (parsedIndex.kind !== 'index') return;
      const entry = parsedIndex.index.manifests[0];
      assert.ok(entry);

      const manifestBytes = new Uint8Array(await blob(entry.digest));
      const parsed = parseManifest(manifestBytes);
      assert.equal(parsed.kind, 'manifest');
      assert.equal(parsed.raw.digest, entry.digest, 'digest over the exact bytes equals the one umoci recorded');
      assert.equal(parsed.raw.mediaType, OCI_MANIFEST);
      if (parsed.kind !== 'manifest') return;
      const cfg = parseConfig(new Uint8Array(await blob(parsed.manifest.config.digest)));
      assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
