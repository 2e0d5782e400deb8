/**
 * The packages npm installs for a set of dependency names, read from a lockfile (v2/v3
 * `packages` map): each name resolved the way Node resolves it (nearest `node_modules` up the
 * tree), followed through every package's own dependencies.
 * @module
 */

/** The parts of package-lock.json this reads. */
export interface PackageLock {
  /** Install path (`node_modules/a/node_modules/b`) → package entry; `""` is the project. */
  packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>;
}

/** The path a `node_modules/...` key's package sits in, one level up (`""` at the top). */
function parentInstallPath(key: string): string {
  const at = key.lastIndexOf('/node_modules/');
  return at === -1 ? '' : key.slice(0, at);
}

/**
 * Top-level install paths (`node_modules/NAME`, scoped names included) holding the closure of
 * `roots`; nested installs come along inside their top-level package's folder. Throws when a
 * root is missing from the lockfile; optional dependencies that were not installed are skipped.
 */
export function dependencyClosure(lock: PackageLock, roots: readonly string[]): string[] {
  const resolve = (name: string, from: string): string | undefined => {
    for (let base = from; ; base = parentInstallPath(base)) {
      const key = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
      if (lock.packages[key] !== undefined) return key;
      if (base === '') return undefined;
    }
  };
  const seen = new Set<string>();
  const queue: string[] = [];
  for (const name of roots) {
    const key = resolve(name, '');
    if (key === undefined) throw new Error(`${name} is not in package-lock.json`);
    queue.push(key);
  }
  for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
    if (seen.has(key)) continue;
    seen.add(key);
    const entry = lock.packages[key] ?? {};
    for (const name of Object.keys(entry.dependencies ?? {})) {
      const dep = resolve(name, key);
      if (dep === undefined) throw new Error(`${key} needs ${name}, which is not in package-lock.json`);
      queue.push(dep);
    }
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      const dep = resolve(name, key);
      if (dep !== undefined) queue.push(dep);
    }
  }
  const top = new Set<string>();
  for (const key of seen) {
    const rest = key.slice('node_modules/'.length);
    const parts = rest.split('/node_modules/')[0] as string;
    top.add(`node_modules/${parts}`);
  }
  return [...top].sort();
}
