/**
 * The dependency set of one target platform. Packages restricted to other platforms (by
 * `os`/`cpu`/`libc`, such as the host's `@esbuild/linux-x64`) are left out; the target's own
 * optional platform packages, which the host did not install, are fetched from the URL
 * npm's lockfile names with its `integrity` verified; packages that compiled native code at
 * install time cannot be cross-built, so a foreign target fails naming them.
 * @module
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UnsupportedError } from '../errors.ts';
import type { ProductionTree } from './dependency-tree.ts';
import { fetchPackage } from './fetch-package.ts';
import type { LockedPlatformPackage, PlatformSource } from './platform-source.ts';
import { registryFor, tarballUrl } from './npm-registry.ts';
import { formatTarget, isPlatformSpecific, platformAllows, sameTarget, type NpmTarget } from './npm-platform.ts';

/** How to get a lockfile that says where other platforms' packages are. */
function lockfileAdvice(kind: string): string {
  if (kind === 'npm') return 'upgrade it with npm install (npm 7 or later)';
  if (kind === 'bun') return "Bun's binary bun.lockb cannot be read: write the text lockfile with bun install --save-text-lockfile";
  return `the ${kind} lockfile does not say where they are`;
}

/** What one target needs beyond (or instead of) the installed tree. */
export interface PlatformDependencies {
  /** Kept packages (real host directories) built for another platform: left out. */
  excluded: Set<string>;
  /** Packages fetched for this target: `rel` is where they go, relative to the project root. */
  added: { name: string; version: string | undefined; dir: string; rel: string }[];
  /** Things the user should know. */
  notes: string[];
}

/** Options of {@link platformDependencies}. */
export interface PlatformDependenciesOptions {
  /** The project's lockfile, when it can say where other platforms' packages are. */
  lockfile: PlatformSource | undefined;
  /** Where fetched packages are kept. */
  storeDir: string;
  /** `os/arch` of the target as the user writes it, for messages (`linux/arm64`). */
  platformName: string;
  /** Aborts. */
  signal?: AbortSignal;
}

const MAX_SCANNED_FILES = 50_000;

/** True when `dir` (not descending into node_modules) holds a `.node` file. */
async function hasNodeFile(dir: string): Promise<boolean> {
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0) {
    const current = pending.pop() as string;
    for (const entry of await fs.readdir(current, { withFileTypes: true }).catch(() => [])) {
      if (++seen > MAX_SCANNED_FILES) return false;
      if (entry.isDirectory() && entry.name !== 'node_modules') pending.push(path.join(current, entry.name));
      else if (entry.isFile() && entry.name.endsWith('.node')) return true;
    }
  }
  return false;
}

/**
 * The installed packages that built native code at install time: a `binding.gyp` (or
 * `gypfile`) or an install script, and a `.node` file. Platform packages (restricted by
 * `os`/`cpu`/`libc`) are not counted: they are chosen per platform instead.
 */
export async function compiledAddons(tree: ProductionTree): Promise<string[]> {
  const found: string[] = [];
  for (const pkg of tree.packages.values()) {
    if (isPlatformSpecific(pkg.manifest)) continue;
    const scripts = (pkg.manifest.scripts ?? {}) as Record<string, unknown>;
    const builds =
      pkg.manifest.gypfile === true ||
      ['preinstall', 'install', 'postinstall'].some((s) => typeof scripts[s] === 'string') ||
      existsSync(path.join(pkg.dir, 'binding.gyp'));
    if (builds && (await hasNodeFile(pkg.dir))) found.push(pkg.name);
  }
  return [...new Set(found)].sort();
}

/** True when anything in the tree depends on the platform (so the base's libc matters). */
export async function platformSensitive(tree: ProductionTree, source: PlatformSource | undefined): Promise<boolean> {
  for (const pkg of tree.packages.values()) if (isPlatformSpecific(pkg.manifest)) return true;
  for (const missing of tree.missingOptional) {
    const locked = await source?.find(missing.dir, missing.name);
    if (locked !== undefined && isPlatformSpecific(locked)) return true;
  }
  return false;
}

/** True when a platform package (installed, or recorded for another platform) is restricted by `libc`. */
export async function dependsOnLibc(tree: ProductionTree, source: PlatformSource | undefined): Promise<boolean> {
  const hasLibc = (f: { libc?: unknown }): boolean => Array.isArray(f.libc) && f.libc.length > 0;
  for (const pkg of tree.packages.values()) if (hasLibc(pkg.manifest)) return true;
  for (const missing of tree.missingOptional) {
    const locked = await source?.find(missing.dir, missing.name);
    if (locked !== undefined && hasLibc(locked)) return true;
  }
  return false;
}

/**
 * Works out the dependencies of `target` from the installed `tree` (installed for `host`).
 * Throws `ERR_UNSUPPORTED` naming the packages when a foreign target needs something that
 * cannot be had without building or installing for it.
 */
export async function platformDependencies(tree: ProductionTree, target: NpmTarget, host: NpmTarget, compiled: readonly string[], options: PlatformDependenciesOptions): Promise<PlatformDependencies> {
  const { root } = tree.project;
  const excluded = new Set<string>();
  const wrongPlatform: string[] = [];
  for (const pkg of tree.packages.values()) {
    if (isPlatformSpecific(pkg.manifest) && !platformAllows(pkg.manifest, target)) {
      excluded.add(pkg.dir);
      wrongPlatform.push(pkg.name);
    }
  }
  const foreign = !sameTarget(target, host);
  const hint = `or pass --deps-dir ${options.platformName}=PATH with a node_modules installed on (or for) ${options.platformName}`;
  if (foreign && compiled.length > 0) {
    throw new UnsupportedError(
      `${compiled.join(', ')} compiled native code when installed on this ${formatTarget(host)} machine and cannot be rebuilt for ${formatTarget(target)} without running there: ` +
        `build on ${options.platformName}, ${hint}`,
    );
  }
  const added: PlatformDependencies['added'] = [];
  const notes: string[] = [];
  // The host's own install is right for the host: nothing to fetch.
  if (!foreign) return { excluded, added, notes };
  const source = options.lockfile;
  const wanted = new Map<string, LockedPlatformPackage>();
  for (const missing of tree.missingOptional) {
    const locked = await source?.find(missing.dir, missing.name);
    if (locked !== undefined && isPlatformSpecific(locked) && platformAllows(locked, target)) wanted.set(locked.rel, locked);
  }
  if (foreign && wrongPlatform.length > 0 && wanted.size === 0 && source === undefined) {
    throw new UnsupportedError(
      `${[...new Set(wrongPlatform)].sort().join(', ')} installed here for ${formatTarget(host)} has no counterpart for ${formatTarget(target)}: ` +
        `ocibuild fetches the packages of other platforms as package-lock.json (lockfileVersion 2 or 3), pnpm-lock.yaml, yarn.lock (Yarn 1 or Berry) or Bun's bun.lock records them; ${lockfileAdvice(tree.project.lockfile)}, ${hint}`,
    );
  }
  for (const [rel, locked] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    const { name } = locked;
    if (locked.integrity === undefined || (locked.resolved === undefined && locked.version === undefined)) {
      throw new UnsupportedError(`${source?.file}: "${rel}" (needed on ${options.platformName}) has no integrity, or no tarball URL and version; ${hint}`);
    }
    // npm leaves "resolved" out with omit-lockfile-registry-resolved, pnpm always: the configured registry serves it.
    const resolved = locked.resolved ?? tarballUrl(await registryFor(name, root), name, locked.version as string);
    const dir = await fetchPackage({ name, resolved, integrity: locked.integrity }, options.storeDir, options.signal ? { signal: options.signal } : {});
    added.push({ name, version: locked.version, dir, rel });
    if (locked.hasDependencies) notes.push(`${name} for ${options.platformName}: its own dependencies are not fetched`);
  }
  return { excluded, added, notes };
}
