/**
 * The SBOM packages of a Node app: exactly the production packages the preset puts in the
 * dependency layer (the {@link ProductionTree} walked from the lockfile's install, less the
 * packages a platform's layer leaves out), each with its `pkg:npm` purl, the checksum the
 * lockfile recorded (`integrity`, SRI base64 turned into hex), the licence its installed
 * `package.json` declares, and the production dependencies it resolves to (Node's lookup from
 * its real directory, as the walk itself resolves them).
 * @module
 */
import { existsSync, realpathSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LimitExceededError } from '../errors.ts';
import { npmPurl, packageJsonLicense } from '../supply/scan-records.ts';
import type { SbomChecksum, SbomPackage } from '../supply/types.ts';
import type { KeptPackage, ProductionTree } from './dependency-tree.ts';
import { selectWithTree } from './lockfile.ts';
import { MAX_LOCKFILE_BYTES, readNpmLockfile } from './npm-lockfile.ts';
import { parseYamlLite, type YamlValue } from './yaml-lite.ts';
import { readYarnLock } from './yarn-lockfile.ts';

/**
 * Options of {@link nodeAppSbomPackages}.
 * @category Supply chain
 */
export interface NodeSbomOptions {
  /** Real directories of kept packages left out of this platform's dependency layer (`platformDependencies().excluded`). */
  excluded?: ReadonlySet<string>;
  /**
   * Image directory the project root is copied to (`/app`): each package then gets its
   * `package.json` path in the image, and packages installed twice stay two entries. Without
   * it, packages are listed once per name and version.
   */
  imageRoot?: string;
  /** DiffID of the dependency layer, when already written. */
  layer?: string;
}

/** Integrity, by real package directory, as the project's lockfile records it (npm, pnpm, Yarn 1); empty for others. */
async function lockedIntegrity(tree: ProductionTree, packages: readonly KeptPackage[]): Promise<Map<string, string>> {
  const { lockfile, lockfilePath, root } = tree.project;
  const out = new Map<string, string>();
  if (lockfilePath === undefined) return out;
  if (lockfile === 'npm') {
    const entries = (await readNpmLockfile(lockfilePath)).packages;
    if (entries === undefined) return out;
    for (const pkg of packages) {
      const integrity = entries.get(path.relative(root, pkg.dir).split(path.sep).join('/'))?.integrity;
      if (integrity !== undefined) out.set(pkg.dir, integrity);
    }
  } else if (lockfile === 'pnpm') {
    const { size } = await fs.stat(lockfilePath);
    if (size > MAX_LOCKFILE_BYTES) throw new LimitExceededError('maxLockfileBytes', MAX_LOCKFILE_BYTES, `${lockfilePath}: ${size} bytes, more than the ${MAX_LOCKFILE_BYTES} a lockfile may have`);
    const doc = record(parseYamlLite(await fs.readFile(lockfilePath, 'utf8'), lockfilePath));
    const locked = record(doc.packages);
    for (const pkg of packages) {
      // v9 keys `name@version`, v6 `/name@version`, v5 `/name/version`.
      const key = [`${pkg.name}@${pkg.version}`, `/${pkg.name}@${pkg.version}`, `/${pkg.name}/${pkg.version}`].find((k) => locked[k] !== undefined);
      const integrity = key === undefined ? undefined : record(record(locked[key]).resolution).integrity;
      if (typeof integrity === 'string') out.set(pkg.dir, integrity);
    }
  } else if (lockfile === 'yarn') {
    const entries = await readYarnLock(lockfilePath);
    for (const pkg of packages) {
      for (const [pattern, entry] of entries) {
        if (entry.version !== pkg.version || !pattern.startsWith(`${pkg.name}@`)) continue;
        // Yarn 1 keeps the sha1 in the URL fragment when there is no integrity line.
        const sha1 = /#([0-9a-f]{40})$/.exec(entry.resolved ?? '')?.[1];
        const integrity = entry.integrity ?? (sha1 !== undefined ? `sha1-${Buffer.from(sha1, 'hex').toString('base64')}` : undefined);
        if (integrity !== undefined) out.set(pkg.dir, integrity);
        break;
      }
    }
  }
  return out;
}

function record(value: YamlValue | undefined): Record<string, YamlValue> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

const SRI_ALGORITHMS: Record<string, { algorithm: SbomChecksum['algorithm']; bytes: number }> = {
  sha512: { algorithm: 'SHA512', bytes: 64 },
  sha256: { algorithm: 'SHA256', bytes: 32 },
  sha1: { algorithm: 'SHA1', bytes: 20 },
};

/** The checksums of an SRI string (`sha512-BASE64 sha1-BASE64`) in hex; hashes of other algorithms or malformed ones are left out. */
export function integrityChecksums(integrity: string): SbomChecksum[] {
  const checksums: SbomChecksum[] = [];
  for (const token of integrity.trim().split(/\s+/)) {
    const dash = token.indexOf('-');
    const known = SRI_ALGORITHMS[token.slice(0, dash)];
    if (dash <= 0 || known === undefined) continue;
    const base64 = token.slice(dash + 1).replace(/\?.*$/, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const raw = Buffer.from(base64, 'base64');
    if (raw.length !== known.bytes || checksums.some((c) => c.algorithm === known.algorithm)) continue;
    checksums.push({ algorithm: known.algorithm, value: raw.toString('hex') });
  }
  return checksums;
}

function inside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent + path.sep);
}

/** Node's lookup of `name` from real directory `from`, never above `root`: the real directory found, if any. */
function resolveFrom(name: string, from: string, root: string): string | undefined {
  for (let dir = from; inside(root, dir); dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', ...name.split('/'));
      if (existsSync(candidate)) {
        try {
          // One realpath(3) call: the JavaScript realpathSync lstats every component of every path.
          return realpathSync.native(candidate);
        } catch {
          return undefined;
        }
      }
    }
    if (dir === root) break;
  }
  return undefined;
}

function dependencyNames(manifest: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    const value = manifest[field];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) for (const name of Object.keys(value)) names.add(name);
  }
  return [...names];
}

/**
 * The SBOM packages of the dependency layer of `tree`: every kept package not in
 * `options.excluded`, sorted by purl (then path). A kept package whose installed `package.json`
 * has no `version` is left out (package managers always write one; without it there is no purl).
 */
export async function nodeSbomPackages(tree: ProductionTree, options: NodeSbomOptions = {}): Promise<SbomPackage[]> {
  const excluded = options.excluded ?? new Set<string>();
  const kept = [...tree.packages.values()].filter((pkg) => !excluded.has(pkg.dir) && pkg.version !== undefined);
  const integrity = await lockedIntegrity(tree, kept);
  const purls = new Map(kept.map((pkg) => [pkg.dir, npmPurl(pkg.name, pkg.version!)]));
  const root = tree.project.root;
  const byKey = new Map<string, SbomPackage>();
  for (const pkg of kept) {
    const purl = purls.get(pkg.dir)!;
    const dependsOn = new Set<string>();
    for (const name of dependencyNames(pkg.manifest)) {
      const real = resolveFrom(name, pkg.dir, root);
      const target = real === undefined ? undefined : purls.get(real);
      if (target !== undefined && target !== purl) dependsOn.add(target);
    }
    const checksums = integrity.has(pkg.dir) ? integrityChecksums(integrity.get(pkg.dir)!) : [];
    const license = packageJsonLicense(pkg.manifest);
    const rel = path.relative(root, pkg.dir).split(path.sep).join('/');
    const imagePath = options.imageRoot === undefined ? undefined : path.posix.join('/', options.imageRoot, rel, 'package.json');
    const entry: SbomPackage = {
      name: pkg.name,
      version: pkg.version!,
      purl,
      ecosystem: 'npm',
      ...(checksums.length > 0 ? { checksums } : {}),
      ...(license !== undefined ? { license } : {}),
      ...(imagePath !== undefined ? { path: imagePath } : {}),
      ...(options.layer !== undefined ? { layer: options.layer } : {}),
    };
    const key = imagePath === undefined ? purl : `${purl} ${imagePath}`;
    const previous = byKey.get(key);
    const merged = new Set([...(previous?.dependsOn ?? []), ...dependsOn]);
    byKey.set(key, { ...(previous ?? entry), ...(merged.size > 0 ? { dependsOn: [...merged].sort() } : {}) });
  }
  return [...byKey.values()].sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : (a.path ?? '') < (b.path ?? '') ? -1 : (a.path ?? '') > (b.path ?? '') ? 1 : 0));
}

/**
 * The SBOM packages of the app in `dir`, as the preset selects its dependencies
 * (production only unless `includeDev`). A project without a lockfile has no production tree:
 * its SBOM lists no npm package (its `node_modules` is copied whole; scan the image instead).
 * @category Supply chain
 * @example
 * ```ts
 * import { nodeAppSbomPackages } from 'ocibuild';
 *
 * const packages = await nodeAppSbomPackages('./my-app');
 * console.log(packages.map((p) => p.purl)); // the production dependencies of the lockfile
 * ```
 */
export async function nodeAppSbomPackages(dir: string, options: NodeSbomOptions & { includeDev?: boolean } = {}): Promise<SbomPackage[]> {
  const { includeDev, ...rest } = options;
  const { tree } = await selectWithTree(dir, includeDev === undefined ? {} : { includeDev });
  return tree === undefined ? [] : nodeSbomPackages(tree, rest);
}
