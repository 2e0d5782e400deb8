/**
 * Which `node_modules` paths are production dependencies. The project (app or workspace root)
 * and its package manager come from the lockfile (project.ts); the packages from walking what
 * that lockfile installed the way Node resolves them (dependency-tree.ts), so npm, pnpm, Yarn
 * (v1, and Berry with `nodeLinker: node-modules`) and Bun installs are all handled alike.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { findProject, type LockfileKind } from './project.ts';
import { inside, LINK_OUTSIDE_HINT, productionTree, type ProductionTree } from './dependency-tree.ts';
import { OcibuildError } from '../errors.ts';

export type { LockfileKind } from './project.ts';

/** Which dependencies go into the image. */
export interface DependencySelection {
  /** The lockfile found. */
  lockfile: LockfileKind;
  /** Its path, when there is one. */
  lockfilePath: string | undefined;
  /** The project root (the workspace root for a workspace package), real path. */
  root: string;
  /** The app directory, real path. */
  app: string;
  /** True when dev dependencies are left out. */
  productionOnly: boolean;
  /** Installed packages left out (`node_modules/eslint`, relative to `root`), sorted. */
  excludedPackages: string[];
  /** The `node_modules` directories to copy (absolute), sorted. */
  nodeModulesDirs: string[];
  /** Workspace packages the app depends on (absolute real directories), sorted. */
  workspacePackages: string[];
  /**
   * Keeps a path relative to `root` (`node_modules/x/index.js`), for walking the
   * `node_modules` directories; false prunes a whole subtree.
   */
  filter: (relativePath: string) => boolean;
  /** Things the user should know (fallbacks). */
  notes: string[];
}

/** Never shipped: tool caches and npm's hidden lockfile (it lists the left-out dev packages). */
function alwaysDropped(rel: string): boolean {
  const segs = rel.split('/');
  if (segs.some((s, i) => s === '.cache' && segs[i - 1] === 'node_modules')) return true;
  return rel === 'node_modules/.package-lock.json';
}

/**
 * The package directory a path inside `node_modules` belongs to (`node_modules/@s/a/node_modules/b`
 * for `node_modules/@s/a/node_modules/b/lib/x.js`), `container` for `node_modules` itself, a
 * scope directory or a `.bin` directory, or `bin` for an entry inside `.bin`.
 */
export function owningPackage(rel: string): { kind: 'package'; key: string } | { kind: 'container' } | { kind: 'bin' } | { kind: 'outside' } {
  const segs = rel.split('/');
  if (segs[0] !== 'node_modules') return { kind: 'outside' };
  let key: string | undefined;
  let i = 0;
  while (i < segs.length) {
    if (segs[i] !== 'node_modules') break;
    const name = segs[i + 1];
    if (name === undefined) return key === undefined ? { kind: 'container' } : { kind: 'package', key };
    if (name === '.bin') return i + 2 < segs.length ? { kind: 'bin' } : { kind: 'container' };
    const prefix = segs.slice(0, i + 1).join('/');
    if (name.startsWith('@')) {
      const scoped = segs[i + 2];
      if (scoped === undefined) return { kind: 'container' };
      key = `${prefix}/${name}/${scoped}`;
      i += 3;
    } else {
      key = `${prefix}/${name}`;
      i += 2;
    }
  }
  return key === undefined ? { kind: 'container' } : { kind: 'package', key };
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Installed top-level packages of the `node_modules` directories (`a`, `@s/b`), relative to `root`. */
async function installedPackages(root: string, dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.')) continue;
      const names = name.startsWith('@') ? (await fs.readdir(path.join(dir, name)).catch(() => [] as string[])).map((n) => `${name}/${n}`) : [name];
      for (const n of names) out.push(path.relative(root, path.join(dir, n)).split(path.sep).join('/'));
    }
  }
  return out;
}

/**
 * Reads the project of the app in `dir` (its own, or the workspace it belongs to) and returns
 * which `node_modules` paths to ship: the production closure of the app (with its
 * devDependencies when `includeDev`). Without a lockfile the app's `node_modules` is kept
 * whole, with a note. Throws `ERR_UNSUPPORTED` for Yarn Plug'n'Play and `ERR_SOURCE_NOT_FOUND`
 * for a production dependency that is not installed.
 */
export async function selectDependencies(dir: string, options: { includeDev?: boolean } = {}): Promise<DependencySelection> {
  const { tree: _tree, ...selection } = await selectWithTree(dir, options);
  return selection;
}

/** {@link selectDependencies} plus the walk behind its filter (none for projects without a lockfile). */
export async function selectWithTree(dir: string, options: { includeDev?: boolean } = {}): Promise<DependencySelection & { tree: ProductionTree | undefined }> {
  const project = await findProject(dir);
  const notes: string[] = [];
  const { root, app } = project;
  if (project.lockfile === 'none') {
    notes.push('no lockfile: node_modules is copied whole (dev dependencies included)');
    const nm = path.join(app, 'node_modules');
    // Copied as they are, links to packages outside the project would dangle in the image.
    await assertLinksInside(nm, root);
    return {
      lockfile: 'none',
      lockfilePath: undefined,
      root,
      app,
      productionOnly: false,
      excludedPackages: [],
      nodeModulesDirs: (await exists(nm)) ? [nm] : [],
      workspacePackages: [],
      filter: (rel) => !alwaysDropped(rel),
      tree: undefined,
      notes,
    };
  }
  const tree = await productionTree(project, { includeDev: options.includeDev ?? false });
  const excluded = (await installedPackages(root, tree.nodeModulesDirs)).filter((rel) => !tree.keeps(path.join(root, rel))).sort();
  return {
    lockfile: project.lockfile,
    lockfilePath: project.lockfilePath,
    root,
    app,
    productionOnly: !(options.includeDev ?? false),
    excludedPackages: excluded,
    nodeModulesDirs: tree.nodeModulesDirs,
    workspacePackages: tree.workspacePackages,
    filter: (rel) => !alwaysDropped(rel) && tree.keeps(path.join(root, rel)),
    tree,
    notes,
  };
}

/**
 * Throws `ERR_PATH_ESCAPE` for a package folder of `nm` (`name` or `@scope/name`) that is a link
 * to a folder outside `root`, as the lockfile walk does for the packages it keeps (`npm link`,
 * npm's `file:` dependencies are such links).
 */
async function assertLinksInside(nm: string, root: string): Promise<void> {
  const entries = async (dir: string) => fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of await entries(nm)) {
    const at = path.join(nm, entry.name);
    const candidates = entry.name.startsWith('@') && entry.isDirectory() ? (await entries(at)).map((e) => ({ entry: e, at: path.join(at, e.name) })) : [{ entry, at }];
    for (const { entry: e, at: p } of candidates) {
      if (!e.isSymbolicLink()) continue;
      const real = await fs.realpath(p).catch(() => undefined);
      if (real !== undefined && !inside(root, real)) {
        throw new OcibuildError('ERR_PATH_ESCAPE', `${p} links to ${real}, outside the project ${root}: ${LINK_OUTSIDE_HINT}`);
      }
    }
  }
}
