/**
 * Where the lockfile says a platform package lives and how to fetch it, for an optional
 * dependency the host did not install: npm's package-lock.json (v2/v3 `packages`, keyed by
 * install path), pnpm's pnpm-lock.yaml (v6 and v9: `packages` keyed by `name@version` with
 * `resolution.integrity` and `os`/`cpu`/`libc`, `snapshots` giving each package's dependency
 * versions), Yarn 1's yarn.lock (URL and integrity; `os`/`cpu` from registry metadata), Yarn
 * Berry's yarn.lock (`conditions`; URL and integrity from registry metadata, since Berry's
 * `checksum` covers its own zip archive, not the registry's tarball) and Bun's text bun.lock
 * (`packages` keyed by install path, each `[ident, registry, meta, integrity]`).
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArgumentError, LimitExceededError } from '../errors.ts';
import type { ProductionTree } from './dependency-tree.ts';
import { MAX_LOCKFILE_BYTES, readNpmLockfile } from './npm-lockfile.ts';
import { tarballUrl } from './npm-registry.ts';
import type { PlatformFields } from './npm-platform.ts';
import { parseYamlLite, type YamlValue } from './yaml-lite.ts';
import { readYarnLock, registryPlatformFields, registryVersion } from './yarn-lockfile.ts';

/** One platform package as a lockfile records it. */
export interface LockedPlatformPackage extends PlatformFields {
  /** Package name. */
  name: string;
  /** Version. */
  version: string | undefined;
  /** Where it goes, relative to the project root (`node_modules/@esbuild/linux-arm64`). */
  rel: string;
  /** Tarball URL, when the lockfile names one. */
  resolved: string | undefined;
  /** SRI integrity. */
  integrity: string | undefined;
  /** True when it has dependencies of its own (they are not fetched). */
  hasDependencies: boolean;
}

/** A lockfile that can say where other platforms' packages are. */
export interface PlatformSource {
  /** The lockfile's path. */
  file: string;
  /** The record of the optional dependency `name` that the package at real directory `dir` wants, if any. */
  find(dir: string, name: string): Promise<LockedPlatformPackage | undefined>;
}

/**
 * Opens the project's lockfile as a {@link PlatformSource}; undefined when it cannot serve as
 * one (npm v1, Bun's binary bun.lockb). Yarn 1's platform fields and Yarn Berry's tarball URLs
 * and integrities come from registry metadata, kept under `storeDir`.
 */
export async function openPlatformSource(tree: ProductionTree, storeDir: string, signal?: AbortSignal): Promise<PlatformSource | undefined> {
  const { lockfile, lockfilePath, root } = tree.project;
  if (lockfilePath === undefined) return undefined;
  if (lockfile === 'npm') {
    const lock = await readNpmLockfile(lockfilePath);
    const entries = lock.packages;
    if (entries === undefined) return undefined;
    return {
      file: lockfilePath,
      async find(dir, name) {
        // Where npm would have put it: the first node_modules up from the requirer that the lockfile lists.
        for (let d = dir; ; d = path.dirname(d)) {
          if (path.basename(d) !== 'node_modules') {
            const rel = path.relative(root, path.join(d, 'node_modules', ...name.split('/'))).split(path.sep).join('/');
            const entry = entries.get(rel);
            if (entry !== undefined) {
              const deps = entry.dependencies ?? {};
              return { name, version: entry.version, rel, resolved: entry.resolved, integrity: entry.integrity, os: entry.os, cpu: entry.cpu, libc: entry.libc, hasDependencies: Object.keys(deps).length > 0 };
            }
          }
          if (d === root || !d.startsWith(root)) return undefined;
        }
      },
    };
  }
  if (lockfile === 'pnpm') return pnpmSource(tree, lockfilePath);
  if (lockfile === 'yarn') return yarnSource(tree, lockfilePath, storeDir, signal);
  if (lockfile === 'yarn-berry') return berrySource(tree, lockfilePath, storeDir, signal);
  if (lockfile === 'bun' && lockfilePath.endsWith('.lock')) return bunSource(tree, lockfilePath);
  return undefined;
}

async function readBounded(file: string): Promise<string> {
  const { size } = await fs.stat(file);
  if (size > MAX_LOCKFILE_BYTES) throw new LimitExceededError('maxLockfileBytes', MAX_LOCKFILE_BYTES, `${file}: ${size} bytes, more than the ${MAX_LOCKFILE_BYTES} a lockfile may have`);
  return fs.readFile(file, 'utf8');
}

/** Yarn Berry's `conditions: os=linux & cpu=arm64 & libc=glibc` as npm's platform fields. */
export function berryConditions(conditions: string | undefined): PlatformFields {
  const fields: { os?: string[]; cpu?: string[]; libc?: string[] } = {};
  for (const part of (conditions ?? '').split('&')) {
    const match = /^\s*(os|cpu|libc)\s*=\s*(\S+)\s*$/.exec(part);
    if (match) (fields[match[1] as 'os' | 'cpu' | 'libc'] ??= []).push(match[2] as string);
  }
  return fields;
}

/** The registry Yarn Berry uses for `name`: `npmScopes.<scope>.npmRegistryServer`, then `npmRegistryServer`, then Yarn's default. */
async function berryRegistry(root: string, name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const rc = await fs.readFile(path.join(root, '.yarnrc.yml'), 'utf8').catch(() => '');
  const doc = rc === '' ? {} : record(parseYamlLite(rc, path.join(root, '.yarnrc.yml')));
  const scope = name.startsWith('@') ? name.slice(1, name.indexOf('/')) : undefined;
  const scoped = scope === undefined ? undefined : record(record(doc.npmScopes)[scope]).npmRegistryServer;
  const server = [scoped, env.YARN_NPM_REGISTRY_SERVER, doc.npmRegistryServer].find((v): v is string => typeof v === 'string' && v !== '') ?? 'https://registry.yarnpkg.com';
  return server.endsWith('/') ? server : `${server}/`;
}

async function berrySource(tree: ProductionTree, file: string, storeDir: string, signal?: AbortSignal): Promise<PlatformSource> {
  const doc = record(parseYamlLite(await readBounded(file), file));
  // Each entry is keyed by every descriptor that resolved to it: "a@npm:^1.0.0, a@npm:1.2.0".
  const byDescriptor = new Map<string, Record<string, YamlValue>>();
  for (const [key, value] of Object.entries(doc)) {
    if (key === '__metadata') continue;
    for (const descriptor of key.split(',')) byDescriptor.set(descriptor.trim(), record(value));
  }
  return {
    file,
    async find(dir, name) {
      const requirer = tree.packages.get(dir);
      if (requirer?.version === undefined) return undefined;
      let range: YamlValue | undefined;
      for (const [descriptor, entry] of byDescriptor) {
        if (descriptor.startsWith(`${requirer.name}@`) && String(entry.version) === requirer.version) {
          range = record(entry.dependencies)[name] ?? record(entry.optionalDependencies)[name];
          if (range !== undefined) break;
        }
      }
      if (typeof range !== 'string') return undefined;
      const locked = byDescriptor.get(`${name}@${range}`) ?? byDescriptor.get(`${name}@npm:${range}`);
      const resolution = typeof locked?.resolution === 'string' ? locked.resolution : '';
      // Only registry packages (`name@npm:1.2.3`) can be fetched; git, patch and file protocols cannot.
      if (locked === undefined || !resolution.startsWith(`${name}@npm:`)) return undefined;
      const version = resolution.slice(`${name}@npm:`.length);
      const conditions = berryConditions(typeof locked.conditions === 'string' ? locked.conditions : undefined);
      const registry = await berryRegistry(tree.project.root, name);
      const meta = await registryVersion(registry, name, version, storeDir, signal);
      const fields = locked.conditions === undefined ? { os: meta.os, cpu: meta.cpu, libc: meta.libc } : conditions;
      return {
        name,
        version,
        rel: besideRequirer(tree.project.root, dir, name),
        resolved: meta.tarball,
        integrity: meta.integrity,
        ...fields,
        hasDependencies: Object.keys(record(locked.dependencies)).length > 0,
      };
    },
  };
}

/** Bun's text lockfile is JSON with trailing commas: drops them (outside strings) and parses. */
export function parseBunLock(text: string, where: string): Record<string, unknown> {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === ',' && /^\s*[}\]]/.test(text.slice(i + 1, i + 64))) {
      // trailing comma: dropped
    } else {
      out += c;
    }
  }
  try {
    const doc = JSON.parse(out) as unknown;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not an object');
    return doc as Record<string, unknown>;
  } catch (error) {
    throw new InvalidArgumentError(`${where}: not a Bun text lockfile (${(error as Error).message})`);
  }
}

async function bunSource(tree: ProductionTree, file: string): Promise<PlatformSource> {
  const doc = parseBunLock(await readBounded(file), file);
  const packages = (doc.packages !== null && typeof doc.packages === 'object' ? doc.packages : {}) as Record<string, unknown>;
  const root = tree.project.root;
  return {
    file,
    async find(dir, name) {
      // A package's key is its install path without the node_modules segments ("a/b" is
      // node_modules/a/node_modules/b); Bun resolves like Node: nested first, then up.
      const rel = path.relative(root, dir).split(path.sep).join('/');
      const segments = rel === '' ? [] : rel.split('/').filter((s) => s !== 'node_modules');
      // Scoped names take two segments.
      const owners: string[] = [];
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i] as string;
        owners.push(seg.startsWith('@') && i + 1 < segments.length ? `${seg}/${segments[++i]}` : seg);
      }
      for (let n = owners.length; n >= 0; n--) {
        const key = [...owners.slice(0, n), name].join('/');
        const entry = packages[key];
        if (!Array.isArray(entry)) continue;
        const [ident, registry, meta, integrity] = entry as [unknown, unknown, unknown, unknown];
        if (typeof ident !== 'string' || !ident.startsWith(`${name}@`)) return undefined;
        const version = ident.slice(name.length + 1);
        const m = (meta !== null && typeof meta === 'object' ? meta : {}) as Record<string, unknown>;
        const list = (v: unknown): string[] | undefined => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
        const registryUrl = typeof registry === 'string' ? registry : '';
        const resolved = registryUrl.endsWith('.tgz') ? registryUrl : registryUrl !== '' ? tarballUrl(registryUrl.endsWith('/') ? registryUrl : `${registryUrl}/`, name, version) : undefined;
        return {
          name,
          version,
          rel: ['node_modules', ...[...owners.slice(0, n), name].flatMap((o, i, all) => (i < all.length - 1 ? [o, 'node_modules'] : [o]))].join('/'),
          resolved,
          integrity: typeof integrity === 'string' ? integrity : undefined,
          os: list(m.os),
          cpu: list(m.cpu),
          libc: list(m.libc),
          hasDependencies: Object.keys((m.dependencies ?? {}) as object).length > 0,
        };
      }
      return undefined;
    },
  };
}

/** Where a package manager that hoists or links puts a dependency of the package at `dir`: beside it. */
function besideRequirer(root: string, dir: string, name: string): string {
  let holder = dir;
  while (path.basename(holder) !== 'node_modules' && holder !== path.dirname(holder)) holder = path.dirname(holder);
  return path.relative(root, path.join(holder, ...name.split('/'))).split(path.sep).join('/');
}

async function yarnSource(tree: ProductionTree, file: string, storeDir: string, signal?: AbortSignal): Promise<PlatformSource> {
  const entries = await readYarnLock(file);
  return {
    file,
    async find(dir, name) {
      const requirer = tree.packages.get(dir);
      if (requirer?.version === undefined) return undefined;
      // The requirer's entry: one of its patterns names it, with the version installed.
      let range: string | undefined;
      for (const [pattern, entry] of entries) {
        if (entry.version === requirer.version && pattern.startsWith(`${requirer.name}@`)) {
          range = entry.optionalDependencies[name] ?? entry.dependencies[name];
          if (range !== undefined) break;
        }
      }
      const locked = range === undefined ? undefined : entries.get(`${name}@${range}`);
      if (locked?.resolved === undefined || locked.version === undefined) return undefined;
      const resolved = locked.resolved.replace(/#.*$/, '');
      // Yarn 1 keeps the sha1 in the URL fragment when there is no integrity line.
      const sha1 = /#([0-9a-f]{40})$/.exec(locked.resolved)?.[1];
      const integrity = locked.integrity ?? (sha1 !== undefined ? `sha1-${Buffer.from(sha1, 'hex').toString('base64')}` : undefined);
      const fields = await registryPlatformFields(resolved, name, locked.version, storeDir, signal);
      return { name, version: locked.version, rel: besideRequirer(tree.project.root, dir, name), resolved, integrity, ...fields, hasDependencies: Object.keys(locked.dependencies).length > 0 };
    },
  };
}

function record(value: YamlValue | undefined): Record<string, YamlValue> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

async function pnpmSource(tree: ProductionTree, file: string): Promise<PlatformSource> {
  const { size } = await fs.stat(file);
  if (size > MAX_LOCKFILE_BYTES) throw new LimitExceededError('maxLockfileBytes', MAX_LOCKFILE_BYTES, `${file}: ${size} bytes, more than the ${MAX_LOCKFILE_BYTES} a lockfile may have`);
  const doc = record(parseYamlLite(await fs.readFile(file, 'utf8'), file));
  const packages = record(doc.packages);
  // v9 keeps dependency versions in `snapshots`; v6 in `packages`, with keys starting "/".
  const snapshots = doc.snapshots !== undefined ? record(doc.snapshots) : packages;
  const entry = (map: Record<string, YamlValue>, key: string): Record<string, YamlValue> | undefined => {
    const found = map[key] ?? map[`/${key}`];
    return found === undefined ? undefined : record(found);
  };
  return {
    file,
    async find(dir, name) {
      const requirer = tree.packages.get(dir);
      if (requirer?.version === undefined) return undefined;
      // A package with peers has several snapshots (`a@1.0.0(react@18.2.0)`); they share optional dependencies.
      const prefix = `${requirer.name}@${requirer.version}`;
      const snapshotKey = Object.keys(snapshots).find((k) => k === prefix || k === `/${prefix}` || k.startsWith(`${prefix}(`) || k.startsWith(`/${prefix}(`));
      const snapshot = snapshotKey === undefined ? undefined : record(snapshots[snapshotKey]);
      const wanted = record(snapshot?.optionalDependencies)[name] ?? record(snapshot?.dependencies)[name];
      if (typeof wanted !== 'string') return undefined;
      const version = wanted.replace(/\(.*$/, '');
      const locked = entry(packages, `${name}@${version}`);
      if (locked === undefined) return undefined;
      const resolution = record(locked.resolution);
      // pnpm links a package's dependencies beside it: the node_modules holding the requirer.
      const rel = besideRequirer(tree.project.root, dir, name);
      const deps = snapshots[`${name}@${version}`] ?? snapshots[`/${name}@${version}`];
      return {
        name,
        version,
        rel,
        resolved: typeof resolution.tarball === 'string' ? resolution.tarball : undefined,
        integrity: typeof resolution.integrity === 'string' ? resolution.integrity : undefined,
        os: locked.os ?? undefined,
        cpu: locked.cpu ?? undefined,
        libc: locked.libc ?? undefined,
        hasDependencies: Object.keys(record(record(deps).dependencies)).length > 0,
      };
    },
  };
}
