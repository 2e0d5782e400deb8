// The rootfs scanner over real layers written by the layer writer: what dpkg, apk, npm and pip
// recorded, whiteouts and opaque folders applied in order, each package with the layer it came
// from; the SBOMs written from the result validate against the published schemas.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeLayer } from '../../src/layer/write.ts';
import { builtLayer } from '../../src/image/open.ts';
import { appendLayers, emptyImage } from '../../src/image/mutate.ts';
import type { Image } from '../../src/image/model.ts';
import type { LayerEntry } from '../../src/layer/types.ts';
import { DigestMismatchError, LimitExceededError } from '../../src/errors.ts';
import { scanImage } from '../../src/supply/scan.ts';
import { sbomDocument } from '../../src/supply/sbom.ts';
import type { SbomPackage } from '../../src/supply/types.ts';
import { cycloneDxSchemaErrors, spdxSchemaErrors } from './sbom-schemas.ts';

let tmp: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-scan-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const file = (p: string, text: string): LayerEntry => ({ type: 'file', path: p, source: new TextEncoder().encode(text) });
const json = (p: string, value: unknown): LayerEntry => file(p, JSON.stringify(value));

async function imageOf(layers: LayerEntry[][]): Promise<Image> {
  const built = [];
  for (const entries of layers) built.push(builtLayer(await writeLayer({ entries }, { directory: tmp })));
  return appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), built);
}

const apkSha1 = createHash('sha1').update('musl').digest();

const DPKG_BASE = `Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library
 multi-line description

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0
`;

const DPKG_TOP = `${DPKG_BASE}
Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.88.1-10+deb12u5
Depends: libc6 (>= 2.34) | libc6-udeb
`;

const APK = `C:Q1${apkSha1.toString('base64')}
P:musl
V:1.2.5-r0
A:x86_64
L:MIT
p:so:libc.musl-x86_64.so.1=1

P:busybox
V:1.36.1-r29
A:x86_64
L:GPL-2.0-only
D:so:libc.musl-x86_64.so.1 !busybox-extras
F:bin
R:busybox
`;

const SITE = 'usr/lib/python3/dist-packages';

function baseLayer(): LayerEntry[] {
  return [
    file('etc/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'),
    file('var/lib/dpkg/status', DPKG_BASE),
    file('var/lib/dpkg/status.d/tzdata', 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n'),
    file('var/lib/dpkg/status.d/tzdata.md5sums', 'd41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n'),
    file('lib/apk/db/installed', APK),
    json('app/node_modules/a/package.json', { name: 'a', version: '1.0.0', license: 'MIT', dependencies: { b: '^2' } }),
    json('app/node_modules/a/lib/package.json', { type: 'module' }),
    json('app/node_modules/a/node_modules/b/package.json', { name: 'b', version: '2.0.0', licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }),
    json('app/node_modules/b/package.json', { name: 'b', version: '1.0.0', license: 'ISC' }),
    json('app/node_modules/@s/c/package.json', { name: '@s/c', version: '3.0.0', license: 'SEE LICENSE IN LICENSE.md' }),
    file('app/node_modules/.package-lock.json', '{}'),
    file(`${SITE}/requests-2.31.0.dist-info/METADATA`, 'Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\nRequires-Dist: urllib3 (<3,>=1.21.1)\nRequires-Dist: PySocks (!=1.5.7,>=1.5.6) ; extra == "socks"\n\nlong description\nName: not-a-header\n'),
    file(`${SITE}/urllib3-2.0.7.dist-info/METADATA`, 'Metadata-Version: 2.4\nName: urllib3\nVersion: 2.0.7\nLicense-Expression: MIT\n'),
    file(`${SITE}/Old_Pkg-0.1.dist-info/METADATA`, 'Metadata-Version: 2.1\nName: Old_Pkg\nVersion: 0.1\n'),
  ];
}

function topLayer(): LayerEntry[] {
  return [
    file('var/lib/dpkg/status', DPKG_TOP),
    { type: 'whiteout', path: 'app/node_modules/@s/c' },
    { type: 'whiteout', path: `${SITE}/Old_Pkg-0.1.dist-info` },
    { type: 'opaque', path: 'lib/apk/db' },
  ];
}

const byPurl = (packages: readonly SbomPackage[]): Map<string, SbomPackage> => new Map(packages.map((p) => [`${p.purl} ${p.path}`, p]));

describe('scanImage', () => {
  it('lists what the package managers recorded, applying whiteouts, with the layer each came from', async () => {
    const image = await imageOf([baseLayer(), topLayer()]);
    const [base, top] = image.layers.map((l) => l.diffId);
    const packages = await scanImage(image);
    const found = byPurl(packages);
    const expected: [string, string, string | undefined][] = [
      ['pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12', '/var/lib/dpkg/status', base],
      ['pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12', '/var/lib/dpkg/status', top],
      ['pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc', '/var/lib/dpkg/status', base],
      ['pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12', '/var/lib/dpkg/status.d/tzdata', base],
      ['pkg:npm/a@1.0.0', '/app/node_modules/a/package.json', base],
      ['pkg:npm/b@1.0.0', '/app/node_modules/b/package.json', base],
      ['pkg:npm/b@2.0.0', '/app/node_modules/a/node_modules/b/package.json', base],
      ['pkg:pypi/requests@2.31.0', `/${SITE}/requests-2.31.0.dist-info/METADATA`, base],
      ['pkg:pypi/urllib3@2.0.7', `/${SITE}/urllib3-2.0.7.dist-info/METADATA`, base],
    ];
    assert.deepEqual(
      packages.map((p) => [p.purl, p.path, p.layer]),
      expected,
    );
    assert.equal(found.size, expected.length);
    // Dependencies resolved the way each package manager resolves them.
    const get = (purl: string, p: string): SbomPackage => found.get(`${purl} ${p}`)!;
    assert.deepEqual(get('pkg:npm/a@1.0.0', '/app/node_modules/a/package.json').dependsOn, ['pkg:npm/b@2.0.0']);
    assert.deepEqual(get(expected[0]![0], '/var/lib/dpkg/status').dependsOn, [expected[2]![0]]);
    assert.deepEqual(get(expected[1]![0], '/var/lib/dpkg/status').dependsOn, [expected[2]![0]]);
    assert.deepEqual(get('pkg:pypi/requests@2.31.0', `/${SITE}/requests-2.31.0.dist-info/METADATA`).dependsOn, ['pkg:pypi/urllib3@2.0.7']);
    // Licences as declared.
    assert.equal(get('pkg:npm/b@2.0.0', '/app/node_modules/a/node_modules/b/package.json').license, '(MIT OR Apache-2.0)');
    assert.equal(get('pkg:pypi/requests@2.31.0', `/${SITE}/requests-2.31.0.dist-info/METADATA`).license, 'Apache 2.0');
    assert.equal(get('pkg:pypi/urllib3@2.0.7', `/${SITE}/urllib3-2.0.7.dist-info/METADATA`).license, 'MIT');
  });

  it('reads apk records with checksum, licence and dependencies through provided names', async () => {
    const image = await imageOf([[file('etc/os-release', 'ID=alpine\nVERSION_ID=3.20.3\n'), file('lib/apk/db/installed', APK)]]);
    const packages = await scanImage(image);
    assert.deepEqual(
      packages.map((p) => [p.purl, p.license, p.checksums, p.dependsOn]),
      [
        ['pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3', 'GPL-2.0-only', undefined, ['pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3']],
        ['pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3', 'MIT', [{ algorithm: 'SHA1', value: apkSha1.toString('hex') }], undefined],
      ],
    );
  });

  it('gives a package re-recorded by a later layer that layer only when the record changed it', async () => {
    const image = await imageOf([[file('var/lib/dpkg/status', DPKG_BASE)], [{ type: 'whiteout', path: 'var/lib/dpkg/status' }], [file('var/lib/dpkg/status', DPKG_BASE)]]);
    const top = image.layers[2]!.diffId;
    const packages = await scanImage(image);
    assert.deepEqual(new Set(packages.map((p) => p.layer)), new Set([top]), 'a whiteout in between breaks the inheritance');
  });

  it('writes SBOMs of the scan that validate against the SPDX 2.3 and CycloneDX 1.5 schemas', async () => {
    const image = await imageOf([baseLayer(), topLayer()]);
    const packages = await scanImage(image);
    const input = { subject: { name: 'localhost:5000/scan/test:1', digest: image.descriptor.digest }, packages, created: new Date('2024-01-02T03:04:05Z'), tool: { name: 'ocibuild', version: '0.0.0-test' } };
    const spdx = JSON.parse(new TextDecoder().decode(sbomDocument('spdx', input).bytes)) as { packages: unknown[] };
    const cdx = JSON.parse(new TextDecoder().decode(sbomDocument('cyclonedx', input).bytes)) as { components: unknown[] };
    assert.deepEqual(spdxSchemaErrors(spdx), []);
    assert.deepEqual(cycloneDxSchemaErrors(cdx), []);
    assert.equal(spdx.packages.length, packages.length + 1);
    assert.equal(cdx.components.length, packages.length);
    // Scanning again gives the same SBOM bytes: its digest is reproducible.
    const again = { ...input, packages: await scanImage(image) };
    assert.deepEqual(sbomDocument('spdx', again).bytes, sbomDocument('spdx', input).bytes);
    assert.deepEqual(sbomDocument('cyclonedx', again).bytes, sbomDocument('cyclonedx', input).bytes);
  });

  it('refuses a package.json over maxManifestBytes, naming it and the layer', async () => {
    const image = await imageOf([[json('node_modules/big/package.json', { name: 'big', version: '1.0.0', pad: 'x'.repeat(2000) })]]);
    await assert.rejects(scanImage(image, { limits: { maxManifestBytes: 1000 } }), (error: unknown) => {
      assert.ok(error instanceof LimitExceededError);
      assert.equal(error.limit, 'maxManifestBytes');
      assert.match(error.message, /\/node_modules\/big\/package\.json in layer sha256:/);
      return true;
    });
  });

  it('refuses a package database over maxDatabaseBytes and more records than maxPackages', async () => {
    const image = await imageOf([baseLayer()]);
    await assert.rejects(scanImage(image, { limits: { maxDatabaseBytes: 100 } }), (error: unknown) => error instanceof LimitExceededError && error.limit === 'maxDatabaseBytes');
    await assert.rejects(scanImage(image, { limits: { maxPackages: 3 } }), (error: unknown) => error instanceof LimitExceededError && error.limit === 'maxPackages');
  });

  it('goes through the tar guard: a layer over the tar limits fails with its typed error', async () => {
    const image = await imageOf([baseLayer()]);
    await assert.rejects(scanImage(image, { layerLimits: { maxEntries: 3 } }), (error: unknown) => error instanceof LimitExceededError && error.limit === 'maxEntries');
  });

  it('fails with DigestMismatchError on a layer whose tar does not hash to its diffID', async () => {
    const built = await writeLayer({ entries: baseLayer() }, { directory: tmp });
    const forged = builtLayer({ ...built, diffId: `sha256:${'0'.repeat(64)}` });
    const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), [forged]);
    await assert.rejects(scanImage(image), (error: unknown) => error instanceof DigestMismatchError);
  });

  it('stops when aborted', async () => {
    const image = await imageOf([baseLayer()]);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(scanImage(image, { signal: controller.signal }), { code: 'ERR_ABORTED' });
  });
});
