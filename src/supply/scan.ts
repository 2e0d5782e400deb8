/**
 * The rootfs scanner: what the package managers of an image recorded, read from its layers as
 * the container would see them. Layers are streamed bottom first (through the tar guard, verified
 * against their diffIDs), whiteouts and opaque folders are applied in order, and only the
 * records are read: dpkg's status (and distroless `status.d/`), apk's installed database,
 * `node_modules/NAME/package.json`, `*.dist-info/METADATA`, and `os-release` for the distro.
 * Every package gets the path of its record and the diffID of the layer it came from. Bounds in
 * docs/limits.md ("SBOM rootfs scan").
 * @module
 */
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { LimitExceededError, throwIfAborted } from '../errors.ts';
import type { Image } from '../image/model.ts';
import type { TarLimits } from '../layer/tar-guard.ts';
import {
  normalizePythonName,
  parseApkInstalled,
  parseDpkgStatus,
  parseNodePackageJson,
  parseOsRelease,
  parsePythonMetadata,
  type OsRelease,
  type RecordPackage,
} from './scan-records.ts';
import type { SbomPackage } from './types.ts';

/**
 * Bounds of {@link scanImage} (docs/limits.md).
 * @category Supply chain
 */
export interface ScanLimits {
  /** Largest package database file (dpkg `status`, a `status.d/` file, apk `installed`), in bytes. Default 64 MiB. */
  maxDatabaseBytes: number;
  /** Largest `package.json` read, in bytes (a `METADATA` is read up to this much; its headers come first). Default 1 MiB. */
  maxManifestBytes: number;
  /** Most packages (and package records held at once). Default 100,000. */
  maxPackages: number;
}

/**
 * The default {@link ScanLimits}.
 * @category Supply chain
 */
export const DEFAULT_SCAN_LIMITS: Readonly<ScanLimits> = Object.freeze({
  maxDatabaseBytes: 64 * 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
  maxPackages: 100_000,
});

/**
 * Options of {@link scanImage}.
 * @category Supply chain
 */
export interface ScanImageOptions {
  /** Aborts the scan. */
  signal?: AbortSignal;
  /** Bounds of the scan; missing fields take {@link DEFAULT_SCAN_LIMITS}. */
  limits?: Partial<ScanLimits>;
  /** Bounds on each layer's tar stream (defaults `DEFAULT_TAR_LIMITS`). */
  layerLimits?: Partial<TarLimits>;
}

type RecordKind = 'dpkg' | 'apk' | 'os' | 'npm' | 'python';

/** A record file in the merged view: which layer put it there, and what it said. */
interface ScannedRecord {
  kind: RecordKind;
  layer: number;
  /** dpkg, apk and os-release: the bytes, parsed once the distro is known. */
  bytes?: Uint8Array;
  /** npm and python: the package. */
  pkg?: RecordPackage;
  /** dpkg and apk: the layer each package (by purl) first appeared in, carried across rewrites of the database. */
  origins?: Map<string, number>;
}

const DPKG_STATUS = 'var/lib/dpkg/status';
const DPKG_STATUS_D = /^var\/lib\/dpkg\/status\.d\/[^/]+$/;
const APK_INSTALLED = new Set(['lib/apk/db/installed', 'usr/lib/apk/db/installed']);
const OS_RELEASE = ['etc/os-release', 'usr/lib/os-release'];
const NPM_MANIFEST = /(?:^|\/)node_modules\/(?:@[^/.][^/]*\/)?[^/.@][^/]*\/package\.json$/;
const PYTHON_METADATA = /(?:^|\/)[^/]+\.dist-info\/METADATA$/;
const OS_RELEASE_MAX = 64 * 1024;

function classify(path: string): RecordKind | undefined {
  if (path === DPKG_STATUS || (DPKG_STATUS_D.test(path) && !path.endsWith('.md5sums'))) return 'dpkg';
  if (APK_INSTALLED.has(path)) return 'apk';
  if (OS_RELEASE.includes(path)) return 'os';
  if (NPM_MANIFEST.test(path)) return 'npm';
  if (PYTHON_METADATA.test(path)) return 'python';
  return undefined;
}

/** A tar member name as a rootfs path without leading `./` or `/` or trailing `/`; undefined with a `..` component. */
function normalizeName(name: string): string | undefined {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  n = n.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\/+/g, '/').replace(/(^|\/)\.(?=\/|$)/g, '');
  if (n.split('/').includes('..')) return undefined;
  return n;
}

/** The records of the merged view, with an index of the folders that hold any, for cheap whiteouts. */
class RecordTable {
  readonly records = new Map<string, ScannedRecord>();
  readonly #folders = new Map<string, number>();
  constructor(private readonly maxPackages: number) {}

  set(path: string, record: ScannedRecord): void {
    if (!this.records.has(path)) {
      if (this.records.size >= this.maxPackages) {
        throw new LimitExceededError('maxPackages', this.maxPackages, `SBOM scan: more than ${this.maxPackages} package records in the image; raise limits.maxPackages to scan it`);
      }
      for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
        const folder = path.slice(0, i);
        this.#folders.set(folder, (this.#folders.get(folder) ?? 0) + 1);
      }
    }
    this.records.set(path, record);
  }

  delete(path: string): void {
    if (!this.records.delete(path)) return;
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
      const folder = path.slice(0, i);
      const count = (this.#folders.get(folder) ?? 1) - 1;
      if (count === 0) this.#folders.delete(folder);
      else this.#folders.set(folder, count);
    }
  }

  /** Removes what `path` names (a record, or every record under it) that lower layers than `layer` put there. */
  removeBelow(path: string, layer: number, includeSelf: boolean): void {
    const own = this.records.get(path);
    if (includeSelf && own !== undefined && own.layer < layer) this.delete(path);
    if (!this.#folders.has(path)) return;
    const prefix = `${path}/`;
    for (const [p, record] of [...this.records]) if (p.startsWith(prefix) && record.layer < layer) this.delete(p);
  }
}

async function readEntry(entry: AsyncIterable<Uint8Array>, max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of entry) {
    if (length < max) chunks.push(chunk.subarray(0, max - length));
    length += chunk.length;
  }
  return Buffer.concat(chunks);
}

/** Layer of origin per purl of a database: inherited from the record it replaces when that listed the same purl. */
function databaseOrigins(kind: 'dpkg' | 'apk', bytes: Uint8Array, layer: number, previous: ScannedRecord | undefined): Map<string, number> {
  const packages = kind === 'dpkg' ? parseDpkgStatus(bytes) : parseApkInstalled(bytes);
  const origins = new Map<string, number>();
  for (const pkg of packages) origins.set(pkg.purl, previous?.origins?.get(pkg.purl) ?? layer);
  return origins;
}

/**
 * Lists the packages recorded in `image`'s rootfs, sorted by purl then path. Reads every layer
 * once, in order; throws what the layer streams throw (`DigestMismatchError`, the tar guard's
 * `LimitExceededError` and `ERR_LAYER`), `LimitExceededError` past a bound of `options.limits`,
 * and `ERR_ABORTED` when `options.signal` aborts.
 * @category Supply chain
 * @example
 * ```ts
 * import { openImage, ociLayout, scanImage } from 'ocibuild';
 *
 * const image = await openImage(ociLayout('./out'), 'app', { platform: { os: 'linux', architecture: 'amd64' } });
 * for (const pkg of await scanImage(image)) console.log(pkg.purl, pkg.layer);
 * ```
 */
export async function scanImage(image: Image, options: ScanImageOptions = {}): Promise<SbomPackage[]> {
  const limits: ScanLimits = { ...DEFAULT_SCAN_LIMITS, ...options.limits };
  const table = new RecordTable(limits.maxPackages);
  for (let index = 0; index < image.layers.length; index++) {
    throwIfAborted(options.signal);
    await scanLayer(image, index, table, limits, options);
  }
  return collectPackages(image, table, limits);
}

async function scanLayer(image: Image, index: number, table: RecordTable, limits: ScanLimits, options: ScanImageOptions): Promise<void> {
  const layer = image.layers[index]!;
  const stream = layer.openUncompressed({ signal: options.signal, limits: options.layerLimits });
  const extract = tar.extract();
  const input = Readable.from(stream, { objectMode: false });
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract);
  const where = (path: string): string => `/${path} in layer ${layer.diffId}`;
  try {
    for await (const entry of extract) {
      throwIfAborted(options.signal);
      const path = normalizeName(entry.header.name);
      const slash = path === undefined ? -1 : path.lastIndexOf('/');
      const base = path?.slice(slash + 1);
      if (path === undefined || path === '' || base === undefined) {
        entry.resume();
        continue;
      }
      const folder = slash < 0 ? '' : path.slice(0, slash);
      if (base === '.wh..wh..opq') {
        if (folder !== '') table.removeBelow(folder, index, false);
        entry.resume();
        continue;
      }
      if (base.startsWith('.wh.')) {
        table.removeBelow(folder === '' ? base.slice(4) : `${folder}/${base.slice(4)}`, index, true);
        entry.resume();
        continue;
      }
      const type = entry.header.type;
      // Anything but a folder replaces what was under its path; anything at a record's path replaces it.
      if (type !== 'directory') table.removeBelow(path, index + 1, false);
      const kind = classify(path);
      if (kind === undefined || (type !== 'file' && type !== 'contiguous-file' && type !== 'link')) {
        table.delete(path);
        entry.resume();
        continue;
      }
      if (type === 'link') {
        const target = normalizeName(entry.header.linkname ?? '');
        const linked = target === undefined ? undefined : table.records.get(target);
        if (linked !== undefined && linked.kind === kind) table.set(path, { ...linked, layer: index });
        else table.delete(path);
        entry.resume();
        continue;
      }
      const size = entry.header.size ?? 0;
      if (kind === 'dpkg' || kind === 'apk') {
        if (size > limits.maxDatabaseBytes) {
          throw new LimitExceededError('maxDatabaseBytes', limits.maxDatabaseBytes, `SBOM scan: ${where(path)} is ${size} bytes, over limits.maxDatabaseBytes (${limits.maxDatabaseBytes}); raise it to scan this image`);
        }
        const bytes = await readEntry(entry, size);
        table.set(path, { kind, layer: index, bytes, origins: databaseOrigins(kind, bytes, index, table.records.get(path)) });
      } else if (kind === 'os') {
        table.set(path, { kind, layer: index, bytes: await readEntry(entry, OS_RELEASE_MAX) });
      } else if (kind === 'npm') {
        if (size > limits.maxManifestBytes) {
          throw new LimitExceededError('maxManifestBytes', limits.maxManifestBytes, `SBOM scan: ${where(path)} is ${size} bytes, over limits.maxManifestBytes (${limits.maxManifestBytes}); raise it to scan this image`);
        }
        const pkg = parseNodePackageJson(await readEntry(entry, size));
        if (pkg === undefined) table.delete(path);
        else table.set(path, { kind, layer: index, pkg });
      } else {
        const pkg = parsePythonMetadata(await readEntry(entry, limits.maxManifestBytes));
        if (pkg === undefined) table.delete(path);
        else table.set(path, { kind, layer: index, pkg });
      }
    }
  } finally {
    input.unpipe(extract);
    input.destroy();
    extract.destroy();
  }
}

function osRelease(table: RecordTable): OsRelease {
  for (const path of OS_RELEASE) {
    const bytes = table.records.get(path)?.bytes;
    if (bytes !== undefined) return parseOsRelease(bytes);
  }
  return {};
}

interface Found {
  pkg: RecordPackage;
  path: string;
  layer: number;
}

function collectPackages(image: Image, table: RecordTable, limits: ScanLimits): SbomPackage[] {
  const os = osRelease(table);
  const found: Found[] = [];
  const push = (item: Found): void => {
    if (found.length >= limits.maxPackages) {
      throw new LimitExceededError('maxPackages', limits.maxPackages, `SBOM scan: more than ${limits.maxPackages} packages in the image; raise limits.maxPackages to scan it`);
    }
    found.push(item);
  };
  for (const [path, record] of table.records) {
    if (record.kind === 'dpkg' || record.kind === 'apk') {
      const packages = record.kind === 'dpkg' ? parseDpkgStatus(record.bytes!, os) : parseApkInstalled(record.bytes!, os);
      const plain = record.kind === 'dpkg' ? parseDpkgStatus(record.bytes!) : parseApkInstalled(record.bytes!);
      packages.forEach((pkg, i) => push({ pkg, path, layer: record.origins?.get(plain[i]!.purl) ?? record.layer }));
    } else if (record.pkg !== undefined) {
      push({ pkg: record.pkg, path, layer: record.layer });
    }
  }
  const resolve = dependencyResolver(found, table);
  return found
    .map((item) => {
      const { dependsOnNames, provides, ...pkg } = item.pkg;
      void provides;
      const dependsOn = resolve(item, dependsOnNames ?? []);
      return {
        ...pkg,
        ...(dependsOn.length > 0 ? { dependsOn } : {}),
        path: `/${item.path}`,
        layer: image.layers[item.layer]!.diffId,
      };
    })
    .sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Resolves dependency names to purls of listed packages: dpkg by package name, apk by name or
 * provided name, npm by Node's lookup (`node_modules` of the folder and each parent), Python by
 * normalised name in the same site-packages folder.
 */
function dependencyResolver(found: readonly Found[], table: RecordTable): (item: Found, names: readonly string[]) => string[] {
  const byName = new Map<string, string[]>();
  const add = (key: string, purl: string): void => {
    const list = byName.get(key);
    if (list === undefined) byName.set(key, [purl]);
    else if (!list.includes(purl)) list.push(purl);
  };
  for (const { pkg, path } of found) {
    if (pkg.ecosystem === 'deb' || pkg.ecosystem === 'apk') {
      add(`${pkg.ecosystem}:${pkg.name}`, pkg.purl);
      for (const provided of pkg.provides ?? []) add(`${pkg.ecosystem}:${provided}`, pkg.purl);
    } else if (pkg.ecosystem === 'python') {
      add(`python:${sitePackagesOf(path)}:${normalizePythonName(pkg.name)}`, pkg.purl);
    }
  }
  return (item, names) => {
    const purls = new Set<string>();
    const { pkg, path } = item;
    for (const name of names) {
      if (pkg.ecosystem === 'npm') {
        const target = resolveNodeModule(path.slice(0, -'/package.json'.length), name, table);
        if (target !== undefined) purls.add(target);
      } else if (pkg.ecosystem === 'python') {
        for (const purl of byName.get(`python:${sitePackagesOf(path)}:${name}`) ?? []) purls.add(purl);
      } else {
        for (const purl of byName.get(`${pkg.ecosystem}:${name}`) ?? []) purls.add(purl);
      }
    }
    purls.delete(pkg.purl);
    return [...purls].sort();
  };
}

/** The folder holding a `NAME.dist-info/METADATA` record (its site-packages), '' at the root. */
function sitePackagesOf(path: string): string {
  const distInfo = path.lastIndexOf('/', path.lastIndexOf('/') - 1);
  return distInfo < 0 ? '' : path.slice(0, distInfo);
}

/** Node's lookup of `name` from package folder `from`: `from/node_modules/name`, then each parent's `node_modules`. */
function resolveNodeModule(from: string, name: string, table: RecordTable): string | undefined {
  for (let folder: string | undefined = from; folder !== undefined; ) {
    if (!folder.endsWith('/node_modules') && folder !== 'node_modules') {
      const candidate = table.records.get(`${folder === '' ? '' : `${folder}/`}node_modules/${name}/package.json`);
      if (candidate?.pkg !== undefined) return candidate.pkg.purl;
    }
    if (folder === '') break;
    const slash = folder.lastIndexOf('/');
    folder = slash < 0 ? '' : folder.slice(0, slash);
  }
  return undefined;
}
