/**
 * The production dependencies of an app, as Node will load them: starting from the app's
 * `dependencies` and `optionalDependencies` (never `devDependencies`), every package is
 * looked up the way `require` resolves it (nearest `node_modules` up from the requiring
 * package's real path) and its own dependencies followed in turn. What the package manager
 * installed from the lockfile is the source of truth, whatever its layout: npm's and Yarn's
 * hoisted trees, pnpm's `.pnpm` store with symlinks, workspace links to sibling packages.
 * Nothing is run; the result says which paths of which `node_modules` directories to ship.
 * @module
 */
import { lstatSync, realpathSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArgumentError, LimitExceededError, OcibuildError } from '../errors.ts';
import { readPackageJsonSync, type NodeProject } from './project.ts';

/** What to do about a package linked from outside the project (`npm link`, npm's `file:` dependencies). */
export const LINK_OUTSIDE_HINT = 'its files would not be in the image; install it as files (npm install --install-links) or make it a workspace package of the project';

/** More packages than this in one closure is treated as hostile input. */
export const MAX_PACKAGES = 100_000;

/** One installed package kept for production. */
export interface KeptPackage {
  /** `name` from its package.json (else the folder name). */
  name: string;
  /** `version` from its package.json. */
  version: string | undefined;
  /** Real directory on the host. */
  dir: string;
  /** Its package.json (for platform fields such as `os`, `cpu`, `libc`). */
  manifest: Record<string, unknown>;
}

/** What {@link productionTree} found. */
export interface ProductionTree {
  /** The project walked. */
  project: NodeProject;
  /** Kept packages installed under a `node_modules`, by real directory. */
  packages: Map<string, KeptPackage>;
  /** Workspace packages (outside any `node_modules`) the app depends on, real directories, sorted; the app itself excluded. */
  workspacePackages: string[];
  /**
   * The `node_modules` directories to copy (each `X/node_modules` for X the project root, the
   * app or a workspace package), existing ones only, sorted.
   */
  nodeModulesDirs: string[];
  /** Optional dependencies not installed: who wanted them (name and real directory) and what. */
  missingOptional: { requirer: string; dir: string; name: string }[];
  /** True when an absolute host path goes into the image (see the module comment). */
  keeps(absolutePath: string): boolean;
  /** {@link ProductionTree.keeps} with the kept packages at these real directories left out, with their links, bins and now empty containers. */
  keepsWithout(excluded: ReadonlySet<string>): (absolutePath: string) => boolean;
}

/** Options of {@link productionTree}. */
export interface ProductionTreeOptions {
  /** Also follow the app's `devDependencies` (their own dev dependencies never). */
  includeDev?: boolean;
}

const VALID_NAME = /^(?:@[^/\\\0]+\/)?[^/\\\0]+$/;

function dependencyNames(pkg: Record<string, unknown>, file: string, fields: readonly string[]): Map<string, boolean> {
  // name -> required
  const names = new Map<string, boolean>();
  for (const field of fields) {
    const value = pkg[field];
    if (value === undefined) continue;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError(`${file}: "${field}" is not an object`);
    for (const name of Object.keys(value)) {
      if (!VALID_NAME.test(name) || name.split('/').some((s) => s === '.' || s === '..')) {
        throw new InvalidArgumentError(`${file}: "${field}" names an invalid package ${JSON.stringify(name)}`);
      }
      const required = field === 'dependencies' || field === 'devDependencies';
      names.set(name, (names.get(name) ?? false) || required);
    }
  }
  // A name in both dependencies and optionalDependencies is optional (npm's rule).
  const optional = pkg.optionalDependencies;
  if (optional !== null && typeof optional === 'object') for (const name of Object.keys(optional)) if (names.has(name)) names.set(name, false);
  const meta = pkg.peerDependenciesMeta;
  if (meta !== null && typeof meta === 'object') {
    for (const [name, m] of Object.entries(meta as Record<string, unknown>)) if ((m as { optional?: unknown } | null)?.optional === true && names.has(name)) names.set(name, false);
  }
  return names;
}

function binNames(pkg: Record<string, unknown>, name: string): string[] {
  const bin = pkg.bin;
  if (typeof bin === 'string') return [name.includes('/') ? name.slice(name.indexOf('/') + 1) : name];
  if (bin !== null && typeof bin === 'object') return Object.keys(bin).filter((b) => b !== '' && !b.includes('/') && b !== '.' && b !== '..');
  return [];
}

export function inside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent + path.sep);
}

/**
 * Walks the production closure of the app of `project`. Throws `ERR_SOURCE_NOT_FOUND` naming
 * the package and who needs it when a required dependency is not installed, and
 * `ERR_PATH_ESCAPE` when one resolves outside the project root.
 */
export async function productionTree(project: NodeProject, options: ProductionTreeOptions = {}): Promise<ProductionTree> {
  const { root, app } = project;
  const packages = new Map<string, KeptPackage>();
  const workspace = new Set<string>();
  const keptPaths = new Map<string, string>(); // links and .bin entries, by their own (unresolved) path -> the real package they serve
  const missingOptional: { requirer: string; dir: string; name: string }[] = [];
  const queue: { dir: string; pkg: Record<string, unknown>; file: string; fields: readonly string[] }[] = [];
  const appFile = path.join(app, 'package.json');
  const appPkg = readPackageJsonSync(appFile) ?? {};
  const prodFields = ['dependencies', 'optionalDependencies', 'peerDependencies'] as const;
  queue.push({ dir: app, pkg: appPkg, file: appFile, fields: options.includeDev ? [...prodFields, 'devDependencies'] : prodFields });

  const bins = new Map<string, string[]>(); // real dir -> its bin names
  for (let next = 0; next < queue.length; next++) {
    const { dir, pkg, file, fields } = queue[next] as (typeof queue)[number];
    for (const [name, required] of dependencyNames(pkg, file, fields)) {
      const found = resolvePackage(name, dir, root);
      if (found === undefined) {
        const requirer = typeof pkg.name === 'string' ? pkg.name : path.relative(root, dir) || '.';
        if (!required) {
          missingOptional.push({ requirer, dir, name });
          continue;
        }
        throw new OcibuildError(
          'ERR_SOURCE_NOT_FOUND',
          `${name} (a dependency of ${requirer}, ${file}) is not installed under ${root}: run the package manager's install (npm ci, pnpm install, yarn install) first`,
        );
      }
      // One realpath(3) call: the JavaScript realpathSync lstats every component (a 250-package
      // tree: ~8 ms against ~2 ms).
      const real = realpathSync.native(found.path);
      if (!inside(root, real)) {
        throw new OcibuildError('ERR_PATH_ESCAPE', `${found.path} (${name}, needed by ${file}) links to ${real}, outside the project ${root}: ${LINK_OUTSIDE_HINT}`);
      }
      if (found.link) keptPaths.set(found.path, real);
      // npm, Yarn and pnpm put a package's bins in the .bin beside the folder it was found in.
      const binDir = path.join(path.dirname(found.scopeParent), '.bin');
      const known = bins.get(real);
      if (known !== undefined) {
        for (const bin of known) keptPaths.set(path.join(binDir, bin), real);
        continue;
      }
      if (real === app) continue;
      const depFile = path.join(real, 'package.json');
      const depPkg = readPackageJsonSync(depFile) ?? {};
      bins.set(real, binNames(depPkg, name));
      for (const bin of bins.get(real) ?? []) keptPaths.set(path.join(binDir, bin), real);
      const inNodeModules = path.relative(root, real).split(path.sep).includes('node_modules');
      if (inNodeModules) {
        packages.set(real, { name: typeof depPkg.name === 'string' ? depPkg.name : name, version: typeof depPkg.version === 'string' ? depPkg.version : undefined, dir: real, manifest: depPkg });
      } else {
        workspace.add(real);
      }
      if (packages.size + workspace.size > MAX_PACKAGES) throw new LimitExceededError('maxPackages', MAX_PACKAGES, `${root}: more than ${MAX_PACKAGES} production packages`);
      queue.push({ dir: real, pkg: depPkg, file: depFile, fields: prodFields });
    }
  }

  await keepPnpmHoisted(root, packages, keptPaths);

  // Containers to keep: every ancestor (up to the root) of something kept, minus what only
  // excluded packages needed (a platform's layer leaves the other platforms' packages out).
  const keepsWithout = (excluded: ReadonlySet<string>): ((abs: string) => boolean) => {
    const links = new Set([...keptPaths].filter(([, real]) => !excluded.has(real)).map(([p]) => p));
    const ancestors = new Set<string>();
    const addAncestors = (p: string): void => {
      for (let d = path.dirname(p); inside(root, d) && d !== root && !ancestors.has(d); d = path.dirname(d)) ancestors.add(d);
    };
    for (const dir of packages.keys()) if (!excluded.has(dir)) addAncestors(dir);
    for (const p of links) addAncestors(p);
    const inKeptPackage = packageContents(root, packages, excluded);
    return (abs) => links.has(abs) || ancestors.has(abs) || inKeptPackage(abs);
  };

  const owners = [root, app, ...workspace];
  const nodeModulesDirs: string[] = [];
  for (const owner of new Set(owners)) {
    const nm = path.join(owner, 'node_modules');
    if (await fs.stat(nm).then((s) => s.isDirectory(), () => false)) nodeModulesDirs.push(nm);
  }

  const keeps = keepsWithout(new Set());
  return {
    project,
    packages,
    workspacePackages: [...workspace].sort(),
    nodeModulesDirs: nodeModulesDirs.sort(),
    missingOptional,
    keeps,
    keepsWithout,
  };
}

/**
 * Whether a path (absolute, under `root`) lies inside a kept package: the nearest of `packages`
 * at or above it decides (a package in `excluded` keeps nothing), and a package's own
 * `node_modules` is not its content (the packages nested there are judged on their own). Every
 * entry of a directory that is not a package gets the same answer, so it is kept per directory:
 * the layer walk asks for each of thousands of paths.
 */
export function packageContents(root: string, packages: { has(dir: string): boolean }, excluded: ReadonlySet<string>): (abs: string) => boolean {
  const below = new Map<string, boolean>();
  // The answer for an entry called `name` directly in `dir` (the entry itself not a package).
  const within = (dir: string, name: string): boolean => {
    if (!inside(root, dir) || dir === root) return false;
    if (packages.has(dir)) return !excluded.has(dir) && name !== 'node_modules';
    let known = below.get(dir);
    if (known === undefined) {
      known = within(path.dirname(dir), path.basename(dir));
      below.set(dir, known);
    }
    return known;
  };
  return (abs) => {
    if (!inside(root, abs) || abs === root) return false;
    if (packages.has(abs)) return !excluded.has(abs);
    return within(path.dirname(abs), path.basename(abs));
  };
}

/**
 * Node's lookup of `name` from a package at real directory `from`: `from/node_modules/name`,
 * then the same in each parent (skipping directories that are themselves `node_modules`),
 * never above `root`.
 */
function resolvePackage(name: string, from: string, root: string): { path: string; link: boolean; scopeParent: string } | undefined {
  for (let dir = from; inside(root, dir); dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', ...name.split('/'));
      const stats = lstatSync(candidate, { throwIfNoEntry: false });
      if (stats !== undefined) {
        const link = stats.isSymbolicLink();
        const isDir = link ? statSync(candidate, { throwIfNoEntry: false })?.isDirectory() === true : stats.isDirectory();
        // A dangling link or a stray file is not an installed package.
        if (isDir) return { path: candidate, link, scopeParent: path.join(dir, 'node_modules', name.split('/')[0] as string) };
      }
    }
    if (dir === root) break;
  }
  return undefined;
}

/**
 * pnpm hoists every package into `node_modules/.pnpm/node_modules` (links) so that packages
 * requiring something they forgot to declare still load; Node finds it walking up from the
 * store. The links to kept packages are kept, so such packages work as they do on the host.
 */
async function keepPnpmHoisted(root: string, packages: ReadonlyMap<string, KeptPackage>, keptPaths: Map<string, string>): Promise<void> {
  const hoisted = path.join(root, 'node_modules', '.pnpm', 'node_modules');
  const names = await fs.readdir(hoisted).catch(() => [] as string[]);
  for (const name of names) {
    const entries = name.startsWith('@') ? (await fs.readdir(path.join(hoisted, name)).catch(() => [] as string[])).map((n) => path.join(name, n)) : [name];
    for (const entry of entries) {
      const link = path.join(hoisted, entry);
      const real = await fs.realpath(link).catch(() => undefined);
      if (real !== undefined && packages.has(real)) keptPaths.set(link, real);
    }
  }
}
