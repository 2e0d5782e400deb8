/**
 * Where the lockfile says a platform package lives and how to fetch it, for an optional
 * dependency the host did not install: npm's package-lock.json (v2/v3 `packages`, keyed by
 * install path), pnpm's pnpm-lock.yaml (v6 and v9: `packages` keyed by `name@version` with
 * `resolution.integrity` and `os`/`cpu`/`libc`, `snapshots` giving each package's dependency
 * versions) and Yarn 1's yarn.lock (URL and integrity; `os`/`cpu` from registry metadata).
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LimitExceededError } from '../errors.ts';
import type { ProductionTree } from './dependency-tree.ts';
import { MAX_LOCKFILE_BYTES, readNpmLockfile } from './npm-lockfile.ts';
import type { PlatformFields } from './npm-platform.ts';
import { parseYamlLite, type YamlValue } from './yaml-lite.ts';
import { readYarnLock, registryPlatformFields } from './yarn-lockfile.ts';

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
 * one (npm v1, Yarn Berry, Bun). Yarn 1's platform fields come from registry metadata, kept
 * under `storeDir`.
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
  return undefined;
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
