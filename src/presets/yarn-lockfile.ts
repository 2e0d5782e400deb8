/**
 * Reading Yarn 1's yarn.lock: entries keyed by every `name@range` pattern that resolved to
 * them, each with `version`, `resolved` (URL, `#sha1` fragment), `integrity` and its
 * `dependencies` / `optionalDependencies`. Yarn 1 records no `os`/`cpu`, so those come from
 * the registry's metadata ({@link registryPlatformFields}), kept in the store once fetched.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArgumentError, LimitExceededError, NotFoundError } from '../errors.ts';
import { MAX_LOCKFILE_BYTES } from './npm-lockfile.ts';
import type { PlatformFields } from './npm-platform.ts';

/** One yarn.lock entry. */
export interface YarnLockEntry {
  /** Version. */
  version: string | undefined;
  /** Tarball URL (with Yarn's `#sha1` fragment). */
  resolved: string | undefined;
  /** SRI integrity. */
  integrity: string | undefined;
  /** Dependencies by name → range. */
  dependencies: Record<string, string>;
  /** Optional dependencies by name → range. */
  optionalDependencies: Record<string, string>;
}

function unquote(s: string): string {
  const t = s.trim();
  return t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1) : t;
}

/** Parses yarn.lock v1 text into pattern → entry. */
export function parseYarnLock(text: string, where: string): Map<string, YarnLockEntry> {
  const out = new Map<string, YarnLockEntry>();
  let current: YarnLockEntry | undefined;
  let section: Record<string, string> | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) {
      if (!line.endsWith(':')) throw new InvalidArgumentError(`${where}:${index + 1}: expected an entry header ending in ":"`);
      current = { version: undefined, resolved: undefined, integrity: undefined, dependencies: {}, optionalDependencies: {} };
      section = undefined;
      for (const pattern of line.slice(0, -1).split(',')) out.set(unquote(pattern), current);
      return;
    }
    if (current === undefined) throw new InvalidArgumentError(`${where}:${index + 1}: indented line outside an entry`);
    const body = line.trim();
    if (indent <= 2 && body.endsWith(':')) {
      const name = body.slice(0, -1);
      section = name === 'dependencies' ? current.dependencies : name === 'optionalDependencies' ? current.optionalDependencies : {};
      return;
    }
    const match = /^("(?:[^"\\]|\\.)*"|\S+)\s+(.*)$/.exec(body);
    if (match === null) return;
    const key = unquote(match[1] as string);
    const value = unquote(match[2] as string);
    if (indent > 2 && section !== undefined) {
      section[key] = value;
      return;
    }
    section = undefined;
    if (key === 'version') current.version = value;
    else if (key === 'resolved') current.resolved = value;
    else if (key === 'integrity') current.integrity = value;
  });
  return out;
}

/** Reads a yarn.lock file with the lockfile size bound. */
export async function readYarnLock(file: string): Promise<Map<string, YarnLockEntry>> {
  const { size } = await fs.stat(file);
  if (size > MAX_LOCKFILE_BYTES) throw new LimitExceededError('maxLockfileBytes', MAX_LOCKFILE_BYTES, `${file}: ${size} bytes, more than the ${MAX_LOCKFILE_BYTES} a lockfile may have`);
  return parseYarnLock(await fs.readFile(file, 'utf8'), file);
}

/** Metadata documents bigger than this are refused. */
const MAX_METADATA_BYTES = 64 * 1024 * 1024;

/**
 * The `os`/`cpu`/`libc` of `name@version` from the registry that served `resolved` (its
 * abbreviated metadata document), cached in `storeDir`.
 */
export async function registryPlatformFields(resolved: string, name: string, version: string, storeDir: string, signal?: AbortSignal): Promise<PlatformFields> {
  const { os, cpu, libc } = await registryVersion(`${new URL(resolved).origin}/`, name, version, storeDir, signal);
  return { os, cpu, libc };
}

/** What a registry's metadata says of one version: platform fields and where its tarball is. */
export interface RegistryVersion extends PlatformFields {
  /** Tarball URL (`dist.tarball`). */
  tarball: string | undefined;
  /** SRI integrity of the tarball (`dist.integrity`). */
  integrity: string | undefined;
}

/**
 * `name@version` as the registry at `registry` (a base URL ending in `/`) describes it, from its
 * abbreviated metadata document (bounded by maxMetadataBytes), cached in `storeDir`.
 */
export async function registryVersion(registry: string, name: string, version: string, storeDir: string, signal?: AbortSignal): Promise<RegistryVersion> {
  const cacheFile = path.join(storeDir, 'metadata-v2', encodeURIComponent(registry), `${encodeURIComponent(name)}@${encodeURIComponent(version)}.json`);
  const cached = await fs.readFile(cacheFile, 'utf8').catch(() => undefined);
  if (cached !== undefined) return JSON.parse(cached) as RegistryVersion;
  const url = `${registry.endsWith('/') ? registry : `${registry}/`}${name.replace('/', '%2f')}`;
  const response = await fetch(url, { headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8' }, signal });
  if (!response.ok) throw new NotFoundError(`${name}: registry metadata ${url}: HTTP ${response.status}`);
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_METADATA_BYTES) throw new LimitExceededError('maxMetadataBytes', MAX_METADATA_BYTES, `${url}: ${length} bytes`);
  const text = await response.text();
  if (text.length > MAX_METADATA_BYTES) throw new LimitExceededError('maxMetadataBytes', MAX_METADATA_BYTES, `${url}: more than ${MAX_METADATA_BYTES} bytes`);
  const doc = JSON.parse(text) as { versions?: Record<string, PlatformFields & { dist?: { tarball?: unknown; integrity?: unknown } }> };
  const manifest = doc.versions?.[version];
  if (manifest === undefined) throw new NotFoundError(`${name}@${version} is not in the registry metadata at ${url}`);
  const { tarball, integrity } = manifest.dist ?? {};
  const fields: RegistryVersion = {
    os: manifest.os,
    cpu: manifest.cpu,
    libc: manifest.libc,
    tarball: typeof tarball === 'string' ? tarball : undefined,
    integrity: typeof integrity === 'string' ? integrity : undefined,
  };
  await fs.mkdir(path.dirname(cacheFile), { recursive: true });
  await fs.writeFile(cacheFile, JSON.stringify(fields));
  return fields;
}
