/**
 * Which `node_modules` paths are production dependencies, from the project's lockfile.
 * npm's package-lock v2/v3 (`packages` with `dev: true` flags) tells them apart; pnpm and
 * yarn lockfiles are detected and the whole `node_modules` is then kept, with a note.
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** The lockfile a project has. */
export type LockfileKind = 'npm' | 'pnpm' | 'yarn' | 'none';

/** Which dependencies go into the image. */
export interface DependencySelection {
  /** The lockfile found. */
  lockfile: LockfileKind;
  /** Its path, when there is one. */
  lockfilePath: string | undefined;
  /** True when dev dependencies are left out. */
  productionOnly: boolean;
  /** Packages left out (`node_modules/eslint`, ...). */
  excludedPackages: string[];
  /**
   * Keeps a path relative to the project root (`node_modules/x/index.js`), for walking
   * `node_modules`; false prunes a whole subtree.
   */
  filter: (relativePath: string) => boolean;
  /** Things the user should know (fallbacks). */
  notes: string[];
}

interface NpmLockPackage {
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  link?: boolean;
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

/**
 * Reads the lockfile of the project in `dir` and returns which `node_modules` paths to ship.
 * `includeDev` keeps everything.
 */
export async function selectDependencies(dir: string, options: { includeDev?: boolean } = {}): Promise<DependencySelection> {
  const notes: string[] = [];
  const keepAll = (lockfile: LockfileKind, lockfilePath: string | undefined): DependencySelection => ({
    lockfile,
    lockfilePath,
    productionOnly: false,
    excludedPackages: [],
    filter: (rel) => !alwaysDropped(rel),
    notes,
  });
  const npmLock = ['npm-shrinkwrap.json', 'package-lock.json'].map((f) => path.join(dir, f));
  for (const file of npmLock) {
    if (!(await exists(file))) continue;
    let lock: { lockfileVersion?: number; packages?: Record<string, NpmLockPackage> };
    try {
      lock = JSON.parse(readFileSync(file, 'utf8')) as typeof lock;
    } catch {
      notes.push(`${path.basename(file)} is not valid JSON: node_modules is copied whole (dev dependencies included)`);
      return keepAll('npm', file);
    }
    if (options.includeDev) return keepAll('npm', file);
    if (lock.packages === undefined) {
      notes.push(
        `${path.basename(file)} has lockfileVersion ${lock.lockfileVersion ?? '?'} without "packages": node_modules is copied whole; ` +
          'run npm install with npm 7 or later to upgrade it, or pass --deps-dir',
      );
      return keepAll('npm', file);
    }
    const dev = new Set<string>();
    for (const [key, meta] of Object.entries(lock.packages)) if (key !== '' && meta.dev === true) dev.add(key);
    const root = path.resolve(dir);
    const isDevPath = (rel: string): boolean => {
      const owner = owningPackage(rel);
      if (owner.kind !== 'package') return false;
      // A nested package of a dev package is dev too, even when the lockfile omits it.
      for (let key: string | undefined = owner.key; key !== undefined; key = parentPackage(key)) if (dev.has(key)) return true;
      return false;
    };
    return {
      lockfile: 'npm',
      lockfilePath: file,
      productionOnly: true,
      excludedPackages: [...dev].sort(),
      notes,
      filter(rel) {
        if (alwaysDropped(rel)) return false;
        const owner = owningPackage(rel);
        if (owner.kind === 'bin') {
          // A .bin link is kept only when it points into a package that is kept.
          let target: string;
          try {
            target = readlinkSync(path.join(root, rel));
          } catch {
            return true; // not a link (a .cmd shim, say): keep
          }
          const resolved = path.relative(root, path.resolve(path.dirname(path.join(root, rel)), target)).split(path.sep).join('/');
          return !isDevPath(resolved);
        }
        return !isDevPath(rel);
      },
    };
  }
  if (await exists(path.join(dir, 'pnpm-lock.yaml'))) {
    notes.push('pnpm-lock.yaml: node_modules is copied whole (dev dependencies included); to leave them out, pass --deps-dir with the output of `pnpm install --prod`');
    return keepAll('pnpm', path.join(dir, 'pnpm-lock.yaml'));
  }
  if (await exists(path.join(dir, 'yarn.lock'))) {
    notes.push('yarn.lock: node_modules is copied whole (dev dependencies included); to leave them out, pass --deps-dir with a production-only install');
    return keepAll('yarn', path.join(dir, 'yarn.lock'));
  }
  notes.push('no lockfile: node_modules is copied whole (dev dependencies included)');
  return keepAll('none', undefined);
}

/** `node_modules/a/node_modules/b` → `node_modules/a`; undefined at the top. */
function parentPackage(key: string): string | undefined {
  const at = key.lastIndexOf('/node_modules/');
  return at < 0 ? undefined : key.slice(0, at);
}
