/**
 * The package records the rootfs scanner reads, parsed: dpkg's status database (and the
 * per-package files of distroless `status.d/`), apk's installed database, an installed npm
 * package's `package.json`, a Python wheel's `*.dist-info/METADATA`, and `os-release` (for the
 * purl's distro). Purls follow the purl specification's `deb`, `apk`, `npm` and `pypi` types.
 * Pure: bytes in, records out; malformed records are skipped, never guessed at.
 * @module
 */
import type { SbomPackage } from './types.ts';

/** A package as one record lists it, before the scanner adds the path and layer. */
export interface RecordPackage extends Omit<SbomPackage, 'path' | 'layer' | 'dependsOn'> {
  /** Names (or provided names) of what it depends on, resolved to purls by the scanner. */
  readonly dependsOnNames?: readonly string[];
  /** Names this package provides besides its own (apk `p:`), for dependency resolution. */
  readonly provides?: readonly string[];
}

/** What `os-release` says: `ID` and `VERSION_ID`, when present. */
export interface OsRelease {
  /** `ID` (`debian`, `ubuntu`, `alpine`, `wolfi`). */
  id?: string;
  /** `VERSION_ID` (`12`, `3.20.3`). */
  versionId?: string;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Percent-encodes one purl component as the purl spec's "Characters and encoding" says:
 * everything but alphanumerics and `.-_~` is encoded, except `:`, which never is.
 */
export function purlEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%3A/gi, ':');
}

function qualifiers(pairs: readonly (readonly [string, string | undefined])[]): string {
  const present = pairs.filter((pair): pair is readonly [string, string] => pair[1] !== undefined && pair[1] !== '');
  present.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return present.length === 0 ? '' : `?${present.map(([k, v]) => `${k}=${purlEncode(v)}`).join('&')}`;
}

/** `pkg:npm/%40scope/name@version` (scope percent-encoded as the namespace). */
export function npmPurl(name: string, version: string): string {
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  const path = slash > 0 ? `${purlEncode(name.slice(0, slash))}/${purlEncode(name.slice(slash + 1))}` : purlEncode(name);
  return `pkg:npm/${path}@${purlEncode(version)}`;
}

/** Parses `os-release` (`KEY=value` lines, values optionally quoted). */
export function parseOsRelease(bytes: Uint8Array): OsRelease {
  const result: OsRelease = {};
  for (const line of decoder.decode(bytes).split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match === null) continue;
    const value = (match[2] ?? '').replace(/^(["'])(.*)\1$/, '$2');
    if (match[1] === 'ID') result.id = value;
    else if (match[1] === 'VERSION_ID') result.versionId = value;
  }
  return result;
}

/** Splits RFC 822-style stanzas (dpkg, apk): one map of field to value per blank-line-separated block. */
function stanzas(text: string, continuation: boolean): Map<string, string>[] {
  const result: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) result.push(current);
      current = new Map();
      last = undefined;
      continue;
    }
    if (continuation && (line.startsWith(' ') || line.startsWith('\t'))) {
      if (last !== undefined) current.set(last, `${current.get(last) ?? ''}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon);
    // apk repeats some keys (one `F:` per folder): keep the first, the fields read here are single.
    if (!current.has(last)) current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size > 0) result.push(current);
  return result;
}

/** Names in a dpkg relation field (`a (>= 1), b | c:any`): every alternative, without versions or arch. */
function dpkgRelationNames(field: string | undefined): string[] {
  if (field === undefined) return [];
  const names: string[] = [];
  for (const group of field.split(',')) {
    for (const alternative of group.split('|')) {
      const name = /^\s*([a-z0-9][a-z0-9+.-]*)/.exec(alternative)?.[1];
      if (name !== undefined) names.push(name);
    }
  }
  return names;
}

/**
 * Parses a dpkg status database (or one `status.d/` file): the packages whose `Status` says
 * `installed` (a `status.d/` stanza has no `Status` and counts as installed). The purl is
 * `pkg:deb/NAMESPACE/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID`, NAMESPACE from os-release
 * (`debian` when unknown).
 */
export function parseDpkgStatus(bytes: Uint8Array, os: OsRelease = {}): RecordPackage[] {
  const namespace = os.id ?? 'debian';
  const distro = os.id !== undefined && os.versionId !== undefined ? `${os.id}-${os.versionId}` : undefined;
  const packages: RecordPackage[] = [];
  for (const stanza of stanzas(decoder.decode(bytes), true)) {
    const name = stanza.get('Package');
    const version = stanza.get('Version');
    const status = stanza.get('Status');
    if (name === undefined || version === undefined || name === '' || version === '') continue;
    if (status !== undefined && status.split(/\s+/)[2] !== 'installed') continue;
    const arch = stanza.get('Architecture');
    const source = stanza.get('Source')?.split(/\s+/)[0];
    const purl = `pkg:deb/${purlEncode(namespace)}/${purlEncode(name)}@${purlEncode(version)}${qualifiers([
      ['arch', arch],
      ['distro', distro],
      ['upstream', source !== undefined && source !== name ? source : undefined],
    ])}`;
    const dependsOnNames = [...dpkgRelationNames(stanza.get('Pre-Depends')), ...dpkgRelationNames(stanza.get('Depends'))];
    packages.push({ name, version, purl, ecosystem: 'deb', ...(dependsOnNames.length > 0 ? { dependsOnNames } : {}) });
  }
  return packages;
}

/** Hex of apk's `C:` checksum (`Q1` + base64 SHA-1), or undefined for any other form. */
function apkChecksum(field: string | undefined): string | undefined {
  if (field === undefined || !field.startsWith('Q1')) return undefined;
  const raw = Buffer.from(field.slice(2), 'base64');
  return raw.length === 20 ? raw.toString('hex') : undefined;
}

/** A dependency or provided name without its version constraint (`so:libc.musl-x86_64.so.1=1` → `so:libc.musl-x86_64.so.1`). */
function apkName(token: string): string {
  return token.replace(/[<>=~].*$/, '');
}

/**
 * Parses apk's installed database (`/lib/apk/db/installed`): `P:` name, `V:` version, `A:`
 * arch, `L:` licence, `C:` checksum (SHA-1), `D:` dependencies and `p:` provided names. The purl
 * is `pkg:apk/NAMESPACE/NAME@VERSION?arch=ARCH&distro=ID-VERSION_ID`, NAMESPACE from os-release
 * (`alpine` when unknown).
 */
export function parseApkInstalled(bytes: Uint8Array, os: OsRelease = {}): RecordPackage[] {
  const namespace = os.id ?? 'alpine';
  const distro = os.id !== undefined && os.versionId !== undefined ? `${os.id}-${os.versionId}` : undefined;
  const packages: RecordPackage[] = [];
  for (const stanza of stanzas(decoder.decode(bytes), false)) {
    const name = stanza.get('P');
    const version = stanza.get('V');
    if (name === undefined || version === undefined || name === '' || version === '') continue;
    const purl = `pkg:apk/${purlEncode(namespace)}/${purlEncode(name)}@${purlEncode(version)}${qualifiers([
      ['arch', stanza.get('A')],
      ['distro', distro],
    ])}`;
    const sha1 = apkChecksum(stanza.get('C'));
    const license = stanza.get('L');
    const dependsOnNames = (stanza.get('D') ?? '').split(/\s+/).filter((t) => t !== '' && !t.startsWith('!')).map(apkName);
    const provides = (stanza.get('p') ?? '').split(/\s+/).filter((t) => t !== '').map(apkName);
    packages.push({
      name,
      version,
      purl,
      ecosystem: 'apk',
      ...(sha1 !== undefined ? { checksums: [{ algorithm: 'SHA1' as const, value: sha1 }] } : {}),
      ...(license !== undefined && license !== '' ? { license } : {}),
      ...(dependsOnNames.length > 0 ? { dependsOnNames } : {}),
      ...(provides.length > 0 ? { provides } : {}),
    });
  }
  return packages;
}

/** The licence a `package.json` declares: `license` (string or legacy `{ type }`), or legacy `licenses: [{ type }]` joined with OR. */
export function packageJsonLicense(json: Record<string, unknown>): string | undefined {
  const typeOf = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value.trim() || undefined;
    if (typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string') {
      return ((value as { type: string }).type).trim() || undefined;
    }
    return undefined;
  };
  const single = typeOf(json['license']);
  if (single !== undefined) return single;
  if (!Array.isArray(json['licenses'])) return undefined;
  const types = json['licenses'].map(typeOf).filter((t): t is string => t !== undefined);
  if (types.length === 0) return undefined;
  return types.length === 1 ? types[0] : `(${types.join(' OR ')})`;
}

/**
 * Parses an installed package's `package.json`: name, version, licence and the names of its
 * `dependencies` and `optionalDependencies`. Undefined when it is not JSON or has no string
 * `name` and `version` (a folder that is no installed package).
 */
export function parseNodePackageJson(bytes: Uint8Array): RecordPackage | undefined {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const record = json as Record<string, unknown>;
  const name = record['name'];
  const version = record['version'];
  if (typeof name !== 'string' || typeof version !== 'string' || name === '' || version === '') return undefined;
  const license = packageJsonLicense(record);
  const dependsOnNames: string[] = [];
  for (const field of ['dependencies', 'optionalDependencies']) {
    const deps = record[field];
    if (typeof deps === 'object' && deps !== null && !Array.isArray(deps)) dependsOnNames.push(...Object.keys(deps));
  }
  return {
    name,
    version,
    purl: npmPurl(name, version),
    ecosystem: 'npm',
    ...(license !== undefined ? { license } : {}),
    ...(dependsOnNames.length > 0 ? { dependsOnNames: [...new Set(dependsOnNames)].sort() } : {}),
  };
}

/** PEP 503 normalised name (lower case, runs of `-`, `_`, `.` as one `-`), as the `pypi` purl wants it. */
export function normalizePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * Parses the header block of a wheel's `METADATA` (core metadata): `Name`, `Version`, and the
 * licence from `License-Expression` (PEP 639) or else a one-line `License` of at most 200
 * characters (longer values are usually the licence text itself). `Requires-Dist` names without
 * an environment marker become dependency names. Undefined without name or version.
 */
export function parsePythonMetadata(bytes: Uint8Array): RecordPackage | undefined {
  const text = decoder.decode(bytes);
  const end = text.search(/\r?\n\r?\n/);
  const [stanza] = stanzas((end < 0 ? text : text.slice(0, end)).replace(/\r\n/g, '\n'), true);
  if (stanza === undefined) return undefined;
  const name = stanza.get('Name');
  const version = stanza.get('Version');
  if (name === undefined || version === undefined || name === '' || version === '') return undefined;
  let license = stanza.get('License-Expression');
  if (license === undefined) {
    const plain = stanza.get('License');
    if (plain !== undefined && !plain.includes('\n') && plain.length <= 200 && plain !== '' && plain !== 'UNKNOWN') license = plain;
  }
  const dependsOnNames = requiresDist(text.slice(0, end < 0 ? text.length : end));
  return {
    name,
    version,
    purl: `pkg:pypi/${purlEncode(normalizePythonName(name))}@${purlEncode(version)}`,
    ecosystem: 'python',
    ...(license !== undefined ? { license } : {}),
    ...(dependsOnNames.length > 0 ? { dependsOnNames } : {}),
  };
}

function requiresDist(headers: string): string[] {
  const names = new Set<string>();
  for (const line of headers.split(/\r?\n/)) {
    const match = /^Requires-Dist:\s*([A-Za-z0-9][A-Za-z0-9._-]*)([^;]*)(;.*)?$/.exec(line);
    if (match === null || match[3] !== undefined) continue; // conditional (extras, platforms): not known to be installed
    names.add(normalizePythonName(match[1] ?? ''));
  }
  return [...names].sort();
}
