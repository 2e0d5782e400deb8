/**
 * The SPDX 2.3 JSON writer. One package for the image (`primaryPackagePurpose: CONTAINER`), which
 * the document DESCRIBES and which CONTAINS every listed package; DEPENDS_ON between packages;
 * purls as `PACKAGE-MANAGER` external references. Deterministic: the same input gives the same
 * bytes (sorted packages and relationships, identifiers and namespace derived from content,
 * `created` from the input).
 * @module
 */
import {
  contentHash,
  encodeDocument,
  imagePurl,
  isoSeconds,
  isSpdxExpression,
  normalizeSbom,
  uuidV5,
  type KeyedPackage,
} from './sbom-common.ts';
import type { SbomInput } from './types.ts';

/** SPDXID of the image package. */
export const SPDX_IMAGE_ID = 'SPDXRef-Image';

/** The SPDXID of a keyed package: readable ecosystem, name and version, then the content key. */
export function spdxPackageId(keyed: KeyedPackage): string {
  const { ecosystem, name, version } = keyed.pkg;
  const readable = `${ecosystem}-${name}-${version}`.replace(/[^A-Za-z0-9.-]+/g, '-').slice(0, 100);
  return `SPDXRef-Package-${readable}-${keyed.key}`;
}

function sourceInfo(keyed: KeyedPackage): string | undefined {
  const { path, layer } = keyed.pkg;
  if (path === undefined && layer === undefined) return undefined;
  const parts = ['recorded'];
  if (path !== undefined) parts.push(`at ${path}`);
  if (layer !== undefined) parts.push(`in layer ${layer}`);
  return parts.join(' ');
}

function packageEntry(keyed: KeyedPackage): Record<string, unknown> {
  const { pkg } = keyed;
  const entry: Record<string, unknown> = {
    SPDXID: spdxPackageId(keyed),
    name: pkg.name,
    versionInfo: pkg.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
  };
  if (pkg.checksums !== undefined && pkg.checksums.length > 0) {
    entry['checksums'] = [...pkg.checksums]
      .sort((a, b) => (a.algorithm < b.algorithm ? -1 : a.algorithm > b.algorithm ? 1 : 0))
      .map((c) => ({ algorithm: c.algorithm, checksumValue: c.value }));
  }
  entry['licenseConcluded'] = 'NOASSERTION';
  const declared = pkg.license !== undefined && isSpdxExpression(pkg.license) ? pkg.license : undefined;
  entry['licenseDeclared'] = declared ?? 'NOASSERTION';
  if (pkg.license !== undefined && declared === undefined) {
    entry['licenseComments'] = `declared as free text, not an SPDX expression: ${pkg.license}`;
  }
  entry['copyrightText'] = 'NOASSERTION';
  const info = sourceInfo(keyed);
  if (info !== undefined) entry['sourceInfo'] = info;
  entry['externalRefs'] = [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl }];
  if (pkg.ecosystem === 'npm' || pkg.ecosystem === 'python') entry['primaryPackagePurpose'] = 'LIBRARY';
  return entry;
}

function imageEntry(input: SbomInput): Record<string, unknown> {
  const entry: Record<string, unknown> = { SPDXID: SPDX_IMAGE_ID, name: input.subject.name };
  if (input.subject.digest !== undefined) entry['versionInfo'] = input.subject.digest;
  entry['downloadLocation'] = 'NOASSERTION';
  entry['filesAnalyzed'] = false;
  const sha256 = /^sha256:([0-9a-f]{64})$/.exec(input.subject.digest ?? '');
  if (sha256 !== null) entry['checksums'] = [{ algorithm: 'SHA256', checksumValue: sha256[1] }];
  entry['licenseConcluded'] = 'NOASSERTION';
  entry['licenseDeclared'] = 'NOASSERTION';
  entry['copyrightText'] = 'NOASSERTION';
  const purl = imagePurl(input.subject);
  if (purl !== undefined) {
    entry['externalRefs'] = [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }];
  }
  entry['primaryPackagePurpose'] = 'CONTAINER';
  return entry;
}

/**
 * Writes an SPDX 2.3 JSON document for `input`. The `documentNamespace` is
 * `https://spdx.org/spdxdocs/ocibuild/NAME-UUID`, the UUID derived from the rest of the document,
 * so two builds of the same content give the same bytes and different content a different
 * namespace. Throws `ERR_INVALID_ARGUMENT` for a package without name, version or purl.
 */
export function spdxDocument(input: SbomInput): Uint8Array {
  const { packages, edges } = normalizeSbom(input);
  const ids = new Map(packages.map((keyed) => [keyed.key, spdxPackageId(keyed)]));
  const relationships: Record<string, string>[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: SPDX_IMAGE_ID },
  ];
  for (const keyed of packages) {
    relationships.push({ spdxElementId: SPDX_IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: ids.get(keyed.key)! });
  }
  for (const edge of edges) {
    relationships.push({ spdxElementId: ids.get(edge.from)!, relationshipType: 'DEPENDS_ON', relatedSpdxElement: ids.get(edge.to)! });
  }
  const name = input.subject.name;
  const body = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    creationInfo: {
      created: isoSeconds(input.created),
      creators: [`Tool: ${input.tool.name}-${input.tool.version}`],
    },
    packages: [imageEntry(input), ...packages.map(packageEntry)],
    relationships,
  };
  const safeName = name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 100);
  const documentNamespace = `https://spdx.org/spdxdocs/ocibuild/${safeName}-${uuidV5(`spdx:${contentHash(body)}`)}`;
  const { spdxVersion, dataLicense, SPDXID, creationInfo, packages: entries } = body;
  return encodeDocument({ spdxVersion, dataLicense, SPDXID, name, documentNamespace, creationInfo, packages: entries, relationships });
}
