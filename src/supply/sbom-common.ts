/**
 * What the SPDX and CycloneDX writers share: checking and ordering the packages, stable
 * identifiers derived from content, the dependency edges, SPDX licence-expression checking, the
 * image's purl and the deterministic UUID. Pure: no I/O, no clock, no randomness.
 * @module
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import { parseReference } from '../reference.ts';
import { purlEncode } from './scan-records.ts';
import type { SbomChecksum, SbomInput, SbomPackage } from './types.ts';

/** A package with the stable key the writers identify it by. */
export interface KeyedPackage {
  /** The package as given. */
  readonly pkg: SbomPackage;
  /** 16 hex characters of SHA-256 over purl, path and layer: stable across runs and orderings. */
  readonly key: string;
}

/** A dependency edge between two keyed packages. */
export interface SbomEdge {
  /** Key of the depending package. */
  readonly from: string;
  /** Key of the package depended on. */
  readonly to: string;
}

/** The packages of an input checked, de-duplicated, sorted and keyed, with their dependency edges. */
export interface NormalizedSbom {
  /** Packages sorted by purl, then path, then layer. */
  readonly packages: readonly KeyedPackage[];
  /** Edges sorted by `from`, then `to`; only between listed packages, never to itself. */
  readonly edges: readonly SbomEdge[];
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkPackage(pkg: SbomPackage, index: number): void {
  const where = `SBOM package #${index} (name ${JSON.stringify(pkg.name)}, purl ${JSON.stringify(pkg.purl)})`;
  for (const field of ['name', 'version', 'purl'] as const) {
    if (typeof pkg[field] !== 'string' || pkg[field] === '') {
      throw new InvalidArgumentError(`${where}: field "${field}" must be a non-empty string`);
    }
  }
  if (!pkg.purl.startsWith('pkg:')) throw new InvalidArgumentError(`${where}: purl must start with "pkg:"`);
  for (const checksum of pkg.checksums ?? []) {
    if (!/^[0-9a-f]+$/.test(checksum.value)) {
      throw new InvalidArgumentError(`${where}: ${checksum.algorithm} checksum must be lower-case hex`);
    }
  }
}

/**
 * Checks every package (non-empty name, version and purl; hex checksums) and returns them sorted
 * and keyed, entries with the same purl, path and layer merged into one, with the dependency edges
 * resolved from `dependsOn` purls. A purl in `dependsOn` that no listed package has is ignored.
 * Throws `ERR_INVALID_ARGUMENT` naming the package, or for a subject without name or with a
 * digest that is not one.
 */
export function normalizeSbom(input: SbomInput): NormalizedSbom {
  const { name, digest } = input.subject ?? {};
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('SBOM input: subject.name must be a non-empty string');
  if (digest !== undefined && !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
    throw new InvalidArgumentError(`SBOM input: subject.digest ${JSON.stringify(digest)} is not a digest (algorithm:encoded)`);
  }
  const groups = new Map<string, SbomPackage[]>();
  input.packages.forEach((pkg, index) => {
    checkPackage(pkg, index);
    const key = sha256Hex(`${pkg.purl}\0${pkg.path ?? ''}\0${pkg.layer ?? ''}`).slice(0, 16);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [pkg]);
    else group.push(pkg);
  });
  const packages = [...groups.entries()]
    .map(([key, group]) => ({ key, pkg: mergeDuplicates(group) }))
    .sort(
      (a, b) =>
        compareStrings(a.pkg.purl, b.pkg.purl) ||
        compareStrings(a.pkg.path ?? '', b.pkg.path ?? '') ||
        compareStrings(a.pkg.layer ?? '', b.pkg.layer ?? ''),
    );
  const keysByPurl = new Map<string, string[]>();
  for (const { key, pkg } of packages) {
    const keys = keysByPurl.get(pkg.purl);
    if (keys === undefined) keysByPurl.set(pkg.purl, [key]);
    else keys.push(key);
  }
  const edgeSet = new Set<string>();
  const edges: SbomEdge[] = [];
  for (const { key, pkg } of packages) {
    for (const purl of pkg.dependsOn ?? []) {
      for (const to of keysByPurl.get(purl) ?? []) {
        const id = `${key}>${to}`;
        if (to === key || edgeSet.has(id)) continue;
        edgeSet.add(id);
        edges.push({ from: key, to });
      }
    }
  }
  edges.sort((a, b) => compareStrings(a.from, b.from) || compareStrings(a.to, b.to));
  return { packages, edges };
}

/**
 * One package from several entries with the same purl, path and layer (the preset's list and a
 * scan of the same layer, say): checksums and dependencies united, the first licence in a fixed
 * order. The result does not depend on the order the entries came in.
 */
function mergeDuplicates(group: readonly SbomPackage[]): SbomPackage {
  if (group.length === 1) return group[0]!;
  const ordered = [...group].sort((a, b) => compareStrings(JSON.stringify(a), JSON.stringify(b)));
  const checksums = new Map<string, SbomChecksum>();
  for (const pkg of ordered) for (const c of pkg.checksums ?? []) if (!checksums.has(c.algorithm)) checksums.set(c.algorithm, c);
  const dependsOn = [...new Set(ordered.flatMap((pkg) => pkg.dependsOn ?? []))].sort(compareStrings);
  const license = ordered.find((pkg) => pkg.license !== undefined)?.license;
  const { checksums: _c, dependsOn: _d, license: _l, ...first } = ordered[0]!;
  return {
    ...first,
    ...(checksums.size > 0 ? { checksums: [...checksums.values()] } : {}),
    ...(license !== undefined ? { license } : {}),
    ...(dependsOn.length > 0 ? { dependsOn } : {}),
  };
}

/** True when exactly one listed package has `purl` (then the purl alone identifies it). */
export function purlIsUnique(packages: readonly KeyedPackage[], purl: string): boolean {
  let count = 0;
  for (const { pkg } of packages) if (pkg.purl === purl && ++count > 1) return false;
  return count === 1;
}

const LICENSE_ID = /^(?:DocumentRef-[A-Za-z0-9.-]+:)?(?:LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9][A-Za-z0-9.-]*\+?)$/;

/**
 * True when `text` has the syntax of an SPDX licence expression (SPDX 2.3 Annex D): identifiers
 * joined by `AND`/`OR`, `WITH` an exception, parentheses. Identifiers are not checked against the
 * licence list (that list changes every quarter); free text such as `SEE LICENSE IN LICENSE.md`
 * or `BSD-like, see COPYING` fails the syntax and is reported as text, not as an expression.
 */
export function isSpdxExpression(text: string): boolean {
  const tokens = text.replace(/[()]/g, ' $& ').trim().split(/\s+/);
  if (tokens.length === 0 || tokens[0] === '') return false;
  let position = 0;
  const term = (): boolean => {
    const token = tokens[position];
    if (token === '(') {
      position++;
      if (!expression()) return false;
      if (tokens[position] !== ')') return false;
      position++;
      return true;
    }
    if (token === undefined || !LICENSE_ID.test(token) || /^(AND|OR|WITH)$/i.test(token)) return false;
    position++;
    if (tokens[position]?.toUpperCase() === 'WITH') {
      position++;
      const exception = tokens[position];
      if (exception === undefined || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(exception)) return false;
      position++;
    }
    return true;
  };
  const expression = (): boolean => {
    if (!term()) return false;
    while (position < tokens.length && /^(AND|OR)$/i.test(tokens[position] ?? '')) {
      position++;
      if (!term()) return false;
    }
    return true;
  };
  return expression() && position === tokens.length;
}

/**
 * The purl of the image an SBOM describes (`pkg:oci/NAME@sha256:HEX?repository_url=...`, purl
 * spec type `oci`), or undefined when the subject's manifest digest is unknown (an OCI purl is
 * pinned by digest) or its name is not an image reference.
 */
export function imagePurl(subject: SbomInput['subject']): string | undefined {
  if (subject.digest === undefined) return undefined;
  let repositoryUrl: string;
  let name: string;
  try {
    const reference = parseReference(subject.name);
    repositoryUrl = reference.name;
    name = reference.repository.slice(reference.repository.lastIndexOf('/') + 1);
  } catch {
    return undefined;
  }
  // The purl spec never percent-encodes ':'; the `oci` type's own examples keep '/' in repository_url.
  return `pkg:oci/${purlEncode(name.toLowerCase())}@${purlEncode(subject.digest)}?repository_url=${purlEncode(repositoryUrl).replace(/%2F/g, '/')}`;
}

/**
 * A name-based UUID (RFC 9562 version 5, SHA-1, URL namespace) of `name`: the same name always
 * gives the same UUID, so documents that derive it from their content stay reproducible.
 */
export function uuidV5(name: string): string {
  const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** SHA-256 hex of a document body: what the namespace and serial number are derived from. */
export function contentHash(body: unknown): string {
  return sha256Hex(JSON.stringify(body));
}

/** `created` as ISO 8601 UTC to the second (`2024-01-02T03:04:05Z`), as both formats want it. Throws on an invalid date. */
export function isoSeconds(created: Date): string {
  if (!(created instanceof Date) || Number.isNaN(created.getTime())) {
    throw new InvalidArgumentError('SBOM input: "created" must be a valid Date');
  }
  return created.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Serialises a document as UTF-8 JSON (2-space indent, final newline). Key order is the writers'. */
export function encodeDocument(document: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(document, null, 2)}\n`);
}
