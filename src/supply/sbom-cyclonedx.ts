/**
 * The CycloneDX 1.5 JSON writer: the image as `metadata.component` (type `container`), each
 * package a `library` component with purl, hashes, licence and, when known, the path of its record
 * (`evidence.occurrences`) and the layer it came from (property `ocibuild:layer`); the
 * `dependencies` graph. Deterministic: sorted, `serialNumber` derived from content, `timestamp`
 * from the input.
 * @module
 */
import {
  contentHash,
  encodeDocument,
  imagePurl,
  isoSeconds,
  isSpdxExpression,
  normalizeSbom,
  purlIsUnique,
  uuidV5,
  type KeyedPackage,
} from './sbom-common.ts';
import type { SbomChecksum, SbomInput } from './types.ts';

/** `bom-ref` of the image component. */
export const CYCLONEDX_IMAGE_REF = 'ocibuild:image';

const HASH_ALGORITHMS: Record<SbomChecksum['algorithm'], string> = {
  MD5: 'MD5',
  SHA1: 'SHA-1',
  SHA256: 'SHA-256',
  SHA512: 'SHA-512',
};

/** The `bom-ref` of a keyed package: its purl when no other package has it, else purl and key. */
export function cycloneDxRef(packages: readonly KeyedPackage[], keyed: KeyedPackage): string {
  return purlIsUnique(packages, keyed.pkg.purl) ? keyed.pkg.purl : `${keyed.pkg.purl}#${keyed.key}`;
}

function componentEntry(keyed: KeyedPackage, ref: string): Record<string, unknown> {
  const { pkg } = keyed;
  const entry: Record<string, unknown> = { type: 'library', 'bom-ref': ref };
  // npm scopes are CycloneDX groups (`@scope` / `name`), as the CycloneDX npm tooling records them.
  const scoped = pkg.ecosystem === 'npm' ? /^(@[^/]+)\/(.+)$/.exec(pkg.name) : null;
  if (scoped !== null) {
    entry['group'] = scoped[1];
    entry['name'] = scoped[2];
  } else {
    entry['name'] = pkg.name;
  }
  entry['version'] = pkg.version;
  if (pkg.checksums !== undefined && pkg.checksums.length > 0) {
    entry['hashes'] = [...pkg.checksums]
      .sort((a, b) => (a.algorithm < b.algorithm ? -1 : a.algorithm > b.algorithm ? 1 : 0))
      .map((c) => ({ alg: HASH_ALGORITHMS[c.algorithm], content: c.value }));
  }
  if (pkg.license !== undefined) {
    entry['licenses'] = isSpdxExpression(pkg.license) ? [{ expression: pkg.license }] : [{ license: { name: pkg.license } }];
  }
  entry['purl'] = pkg.purl;
  if (pkg.path !== undefined) entry['evidence'] = { occurrences: [{ location: pkg.path }] };
  if (pkg.layer !== undefined) entry['properties'] = [{ name: 'ocibuild:layer', value: pkg.layer }];
  return entry;
}

function imageComponent(input: SbomInput): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: 'container', 'bom-ref': CYCLONEDX_IMAGE_REF, name: input.subject.name };
  if (input.subject.digest !== undefined) entry['version'] = input.subject.digest;
  const sha256 = /^sha256:([0-9a-f]{64})$/.exec(input.subject.digest ?? '');
  if (sha256 !== null) entry['hashes'] = [{ alg: 'SHA-256', content: sha256[1] }];
  const purl = imagePurl(input.subject);
  if (purl !== undefined) entry['purl'] = purl;
  return entry;
}

/**
 * Writes a CycloneDX 1.5 JSON BOM for `input`. The image depends on every listed package; each
 * package depends on those its `dependsOn` names (an empty list when it names none, which
 * CycloneDX reads as "no known dependencies"). `serialNumber` is a UUID derived from the rest of
 * the BOM. Throws `ERR_INVALID_ARGUMENT` for a package without name, version or purl.
 */
export function cycloneDxDocument(input: SbomInput): Uint8Array {
  const { packages, edges } = normalizeSbom(input);
  const refs = new Map(packages.map((keyed) => [keyed.key, cycloneDxRef(packages, keyed)]));
  const dependsOn = new Map<string, string[]>();
  for (const edge of edges) {
    const list = dependsOn.get(edge.from) ?? [];
    list.push(refs.get(edge.to)!);
    dependsOn.set(edge.from, list);
  }
  const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const dependencies = [
    { ref: CYCLONEDX_IMAGE_REF, dependsOn: sorted(refs.values()) },
    ...packages
      .map((keyed) => ({ ref: refs.get(keyed.key)!, dependsOn: sorted(dependsOn.get(keyed.key) ?? []) }))
      .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0)),
  ];
  const rest = {
    metadata: {
      timestamp: isoSeconds(input.created),
      tools: { components: [{ type: 'application', name: input.tool.name, version: input.tool.version }] },
      component: imageComponent(input),
    },
    components: packages.map((keyed) => componentEntry(keyed, refs.get(keyed.key)!)),
    dependencies,
  };
  const serialNumber = `urn:uuid:${uuidV5(`cyclonedx:${contentHash(rest)}`)}`;
  return encodeDocument({ bomFormat: 'CycloneDX', specVersion: '1.5', serialNumber, version: 1, ...rest });
}
