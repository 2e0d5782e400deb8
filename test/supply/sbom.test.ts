// The SBOM writers: SPDX 2.3 and CycloneDX 1.5 JSON valid against the published schemas,
// deterministic (same input in any order → same bytes; identifiers derived from content), and
// exact about what they were told (checksums, licences, purls, relationships, layers).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.ts';
import {
  CYCLONEDX_JSON_MEDIA_TYPE,
  SPDX_JSON_MEDIA_TYPE,
  cycloneDxDocument,
  parseSbomFormat,
  sbomCreated,
  sbomDocument,
  spdxDocument,
} from '../../src/supply/sbom.ts';
import { isSpdxExpression } from '../../src/supply/sbom-common.ts';
import type { SbomInput, SbomPackage } from '../../src/supply/types.ts';
import { cycloneDxSchemaErrors, spdxSchemaErrors } from './sbom-schemas.ts';

const LAYER = `sha256:${'1'.repeat(64)}`;
const PACKAGES: SbomPackage[] = [
  {
    name: '@scope/lib',
    version: '1.2.3',
    purl: 'pkg:npm/%40scope/lib@1.2.3',
    ecosystem: 'npm',
    checksums: [{ algorithm: 'SHA512', value: 'ab'.repeat(64) }],
    license: '(MIT OR Apache-2.0)',
    dependsOn: ['pkg:npm/dep@2.0.0', 'pkg:npm/not-listed@9.9.9'],
    path: '/app/node_modules/@scope/lib/package.json',
    layer: LAYER,
  },
  { name: 'dep', version: '2.0.0', purl: 'pkg:npm/dep@2.0.0', ecosystem: 'npm', license: 'SEE LICENSE IN LICENSE.md', path: '/app/node_modules/dep/package.json', layer: LAYER },
  // The same package installed at a second path: two entries, distinct identifiers.
  { name: 'dep', version: '2.0.0', purl: 'pkg:npm/dep@2.0.0', ecosystem: 'npm', path: '/app/node_modules/x/node_modules/dep/package.json', layer: LAYER },
  { name: 'libc6', version: '2.36-9+deb12u4', purl: 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12', ecosystem: 'deb', path: '/var/lib/dpkg/status', layer: LAYER },
  { name: 'musl', version: '1.2.5-r0', purl: 'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64', ecosystem: 'apk', checksums: [{ algorithm: 'SHA1', value: 'cd'.repeat(20) }], license: 'MIT' },
  { name: 'requests', version: '2.31.0', purl: 'pkg:pypi/requests@2.31.0', ecosystem: 'python', license: 'Apache-2.0' },
];

const INPUT: SbomInput = {
  subject: { name: 'registry.example:5000/team/app:1.0', digest: `sha256:${'f'.repeat(64)}` },
  packages: PACKAGES,
  created: new Date('2024-05-06T07:08:09.123Z'),
  tool: { name: 'ocibuild', version: '1.0.0' },
};

const parse = (bytes: Uint8Array): Record<string, any> => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('spdxDocument', () => {
  it('is valid SPDX 2.3, describes the image and contains every package', () => {
    const doc = parse(spdxDocument(INPUT));
    assert.deepEqual(spdxSchemaErrors(doc), []);
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.equal(doc.dataLicense, 'CC0-1.0');
    assert.deepEqual(doc.creationInfo, { created: '2024-05-06T07:08:09Z', creators: ['Tool: ocibuild-1.0.0'] });
    assert.match(doc.documentNamespace, /^https:\/\/spdx\.org\/spdxdocs\/ocibuild\/registry\.example-5000-team-app-1\.0-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [image, ...packages] = doc.packages;
    assert.equal(image.SPDXID, 'SPDXRef-Image');
    assert.equal(image.primaryPackagePurpose, 'CONTAINER');
    assert.deepEqual(image.checksums, [{ algorithm: 'SHA256', checksumValue: 'f'.repeat(64) }]);
    assert.equal(image.externalRefs[0].referenceLocator, `pkg:oci/app@sha256:${'f'.repeat(64)}?repository_url=registry.example:5000/team/app`);
    assert.equal(packages.length, PACKAGES.length);
    assert.equal(new Set(doc.packages.map((p: { SPDXID: string }) => p.SPDXID)).size, doc.packages.length, 'SPDXIDs are unique');
    for (const p of packages) assert.match(p.SPDXID, /^SPDXRef-[A-Za-z0-9.-]+$/);
    const lib = packages.find((p: { name: string }) => p.name === '@scope/lib');
    assert.deepEqual(lib.checksums, [{ algorithm: 'SHA512', checksumValue: 'ab'.repeat(64) }]);
    assert.equal(lib.licenseDeclared, '(MIT OR Apache-2.0)');
    assert.deepEqual(lib.externalRefs, [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:npm/%40scope/lib@1.2.3' }]);
    assert.equal(lib.sourceInfo, `recorded at /app/node_modules/@scope/lib/package.json in layer ${LAYER}`);
    const freeText = packages.find((p: { name: string; sourceInfo?: string }) => p.name === 'dep' && p.sourceInfo?.includes('/app/node_modules/dep/'));
    assert.equal(freeText.licenseDeclared, 'NOASSERTION');
    assert.match(freeText.licenseComments, /SEE LICENSE IN LICENSE\.md/);
    assert.equal(packages.find((p: { name: string }) => p.name === 'libc6').licenseDeclared, 'NOASSERTION');

    const rel = doc.relationships as { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
    assert.deepEqual(rel[0], { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' });
    assert.equal(rel.filter((r) => r.relationshipType === 'CONTAINS').length, PACKAGES.length);
    const depends = rel.filter((r) => r.relationshipType === 'DEPENDS_ON');
    // lib depends on both installed copies of dep; the purl that no package has is dropped.
    assert.equal(depends.length, 2);
    assert.ok(depends.every((r) => r.spdxElementId === lib.SPDXID));
  });

  it('gives the same bytes for the same input in any order, and another namespace for other content', () => {
    const first = spdxDocument(INPUT);
    assert.deepEqual(spdxDocument({ ...INPUT, packages: [...PACKAGES].reverse() }), first);
    assert.deepEqual(spdxDocument({ ...INPUT, packages: [...PACKAGES, PACKAGES[0]!] }), first, 'an exact duplicate is listed once');
    const other = parse(spdxDocument({ ...INPUT, packages: PACKAGES.slice(1) }));
    assert.notEqual(other.documentNamespace, parse(first).documentNamespace);
    const later = parse(spdxDocument({ ...INPUT, created: new Date('2025-01-01T00:00:00Z') }));
    assert.notEqual(later.documentNamespace, parse(first).documentNamespace);
  });

  it('describes an image without digest or with a name that is no reference', () => {
    const doc = parse(spdxDocument({ ...INPUT, subject: { name: 'oci:out/layout' }, packages: [] }));
    assert.deepEqual(spdxSchemaErrors(doc), []);
    assert.equal(doc.packages.length, 1);
    assert.equal(doc.packages[0].externalRefs, undefined);
    assert.equal(doc.relationships.length, 1);
  });
});

describe('cycloneDxDocument', () => {
  it('is valid CycloneDX 1.5 with the image as metadata component and the dependency graph', () => {
    const doc = parse(cycloneDxDocument(INPUT));
    assert.deepEqual(cycloneDxSchemaErrors(doc), []);
    assert.equal(doc.bomFormat, 'CycloneDX');
    assert.equal(doc.specVersion, '1.5');
    assert.equal(doc.version, 1);
    assert.match(doc.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(doc.metadata.timestamp, '2024-05-06T07:08:09Z');
    assert.equal(doc.metadata.component.type, 'container');
    assert.equal(doc.metadata.component.version, `sha256:${'f'.repeat(64)}`);
    assert.equal(doc.components.length, PACKAGES.length);
    const refs = doc.components.map((c: { 'bom-ref': string }) => c['bom-ref']);
    assert.equal(new Set(refs).size, refs.length, 'bom-refs are unique');
    const lib = doc.components.find((c: { name: string }) => c.name === 'lib');
    assert.equal(lib.group, '@scope');
    assert.equal(lib['bom-ref'], 'pkg:npm/%40scope/lib@1.2.3');
    assert.deepEqual(lib.hashes, [{ alg: 'SHA-512', content: 'ab'.repeat(64) }]);
    assert.deepEqual(lib.licenses, [{ expression: '(MIT OR Apache-2.0)' }]);
    assert.deepEqual(lib.evidence, { occurrences: [{ location: '/app/node_modules/@scope/lib/package.json' }] });
    assert.deepEqual(lib.properties, [{ name: 'ocibuild:layer', value: LAYER }]);
    const freeText = doc.components.find((c: { name: string; licenses?: unknown }) => c.name === 'dep' && c.licenses !== undefined);
    assert.deepEqual(freeText.licenses, [{ license: { name: 'SEE LICENSE IN LICENSE.md' } }]);
    const graph = new Map(doc.dependencies.map((d: { ref: string; dependsOn: string[] }) => [d.ref, d.dependsOn]));
    assert.deepEqual(graph.get('ocibuild:image'), [...refs].sort());
    assert.equal((graph.get('pkg:npm/%40scope/lib@1.2.3') as string[]).length, 2);
    assert.ok((graph.get('pkg:npm/%40scope/lib@1.2.3') as string[]).every((r) => r.startsWith('pkg:npm/dep@2.0.0#')));
  });

  it('gives the same bytes for the same input in any order, and another serial number for other content', () => {
    const first = cycloneDxDocument(INPUT);
    assert.deepEqual(cycloneDxDocument({ ...INPUT, packages: [...PACKAGES].reverse() }), first);
    assert.notEqual(parse(cycloneDxDocument({ ...INPUT, packages: PACKAGES.slice(2) })).serialNumber, parse(first).serialNumber);
  });
});

describe('sbomDocument', () => {
  it('returns the bytes with media type, artifact type and created annotation per format', () => {
    const spdx = sbomDocument('spdx', INPUT);
    assert.equal(spdx.mediaType, SPDX_JSON_MEDIA_TYPE);
    assert.equal(spdx.artifactType, 'application/spdx+json');
    assert.deepEqual(spdx.bytes, spdxDocument(INPUT));
    assert.deepEqual(spdx.annotations, { 'org.opencontainers.image.created': '2024-05-06T07:08:09Z' });
    const cdx = sbomDocument('cyclonedx', INPUT);
    assert.equal(cdx.mediaType, CYCLONEDX_JSON_MEDIA_TYPE);
    assert.equal(cdx.artifactType, 'application/vnd.cyclonedx+json');
    assert.deepEqual(cdx.bytes, cycloneDxDocument(INPUT));
  });

  it('refuses bad input with a typed error naming the package or format', () => {
    assert.throws(() => sbomDocument('spdx', { ...INPUT, packages: [{ ...PACKAGES[0]!, version: '' }] }), (e: unknown) => e instanceof InvalidArgumentError && /"version"/.test(e.message) && /@scope\/lib/.test(e.message));
    assert.throws(() => sbomDocument('cyclonedx', { ...INPUT, packages: [{ ...PACKAGES[0]!, purl: 'npm/x' }] }), InvalidArgumentError);
    assert.throws(() => sbomDocument('spdx', { ...INPUT, packages: [{ ...PACKAGES[0]!, checksums: [{ algorithm: 'SHA1', value: 'XYZ' }] }] }), InvalidArgumentError);
    assert.throws(() => sbomDocument('spdx', { ...INPUT, created: new Date(Number.NaN) }), InvalidArgumentError);
    assert.throws(() => sbomDocument('spdx', { ...INPUT, subject: { name: '' } }), /subject\.name/);
    assert.throws(() => sbomDocument('cyclonedx', { ...INPUT, subject: { name: 'x', digest: 'not a digest' } }), /subject\.digest/);
    assert.throws(() => sbomDocument('xml' as 'spdx', INPUT), /unknown SBOM format "xml"/);
    assert.equal(parseSbomFormat(' CycloneDX '), 'cyclonedx');
    assert.throws(() => parseSbomFormat('swid'), /expected one of spdx, cyclonedx/);
  });
});

describe('isSpdxExpression', () => {
  it('accepts licence expressions and refuses free text', () => {
    for (const ok of ['MIT', '(MIT OR Apache-2.0)', 'GPL-2.0-or-later WITH Classpath-exception-2.0', 'LicenseRef-Custom AND BSD-3-Clause', 'Apache-2.0+', '((MIT))']) assert.ok(isSpdxExpression(ok), ok);
    for (const bad of ['', 'SEE LICENSE IN LICENSE', 'MIT OR', '(MIT', 'MIT)', 'Apache 2.0', 'BSD-like, see COPYING', 'AND']) assert.ok(!isSpdxExpression(bad), bad);
  });
});

describe('duplicates', () => {
  it('merges entries of one package (same purl, path, layer) whatever their order', () => {
    const bare: SbomPackage = { name: 'dep', version: '2.0.0', purl: 'pkg:npm/dep@2.0.0', ecosystem: 'npm', path: '/app/node_modules/dep/package.json', layer: LAYER };
    const rich: SbomPackage = { ...bare, license: 'MIT', checksums: [{ algorithm: 'SHA512', value: 'ee'.repeat(64) }], dependsOn: ['pkg:npm/other@1.0.0'] };
    const other: SbomPackage = { name: 'other', version: '1.0.0', purl: 'pkg:npm/other@1.0.0', ecosystem: 'npm' };
    const one = spdxDocument({ ...INPUT, packages: [bare, rich, other] });
    assert.deepEqual(spdxDocument({ ...INPUT, packages: [other, rich, bare] }), one);
    const doc = parse(one);
    assert.equal(doc.packages.length, 3);
    const dep = doc.packages.find((p: { name: string }) => p.name === 'dep');
    assert.equal(dep.licenseDeclared, 'MIT');
    assert.deepEqual(dep.checksums, [{ algorithm: 'SHA512', checksumValue: 'ee'.repeat(64) }]);
    assert.equal(doc.relationships.filter((r: { relationshipType: string }) => r.relationshipType === 'DEPENDS_ON').length, 1);
    assert.deepEqual(cycloneDxDocument({ ...INPUT, packages: [rich, other, bare] }), cycloneDxDocument({ ...INPUT, packages: [bare, other, rich] }));
  });
});

describe('sbomCreated', () => {
  it('takes SOURCE_DATE_EPOCH, else the image created, else the epoch; never the clock', () => {
    assert.equal(sbomCreated(1_700_000_000, '2020-01-01T00:00:00Z').toISOString(), '2023-11-14T22:13:20.000Z');
    assert.equal(sbomCreated(undefined, '2020-01-01T00:00:00.5Z').toISOString(), '2020-01-01T00:00:00.500Z');
    assert.equal(sbomCreated(undefined, undefined).getTime(), 0);
    assert.throws(() => sbomCreated(-1, undefined), InvalidArgumentError);
    assert.throws(() => sbomCreated(1.5, undefined), InvalidArgumentError);
    assert.throws(() => sbomCreated(undefined, 'yesterday'), InvalidArgumentError);
  });
});
