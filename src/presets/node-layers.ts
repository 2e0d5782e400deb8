/**
 * The layers of a Node app image, bottom to top: production dependencies (per platform when
 * the app has platform-specific packages), the workspace packages it depends on, the app's
 * own files. The project root (the workspace root for a workspace package) maps to the image
 * directory, so every relative link the package manager made resolves in the image as it did
 * on the host.
 * @module
 */
import { stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import type { LayerSpec } from '../layer/types.ts';
import type { Platform } from '../oci/types.ts';
import { formatPlatform, normalizePlatform, parsePlatform, platformKey } from '../oci/platform.ts';
import { defaultCacheDir, type CacheOptions } from '../cache/store.ts';
import type { TransportOptions } from '../pipeline/targets.ts';
import { createIgnoreMatcher, loadDockerignore } from '../dockerfile/ignore.ts';
import { selectWithTree, type LockfileKind } from './lockfile.ts';
import type { ProductionTree } from './dependency-tree.ts';
import { readPackageJson } from './project.ts';
import { openPlatformSource } from './platform-source.ts';
import { hostTarget, isPlatformSpecific, npmTarget } from './npm-platform.ts';
import { scanBase } from './base-scan.ts';
import { compiledAddons, dependsOnLibc, platformDependencies, platformSensitive } from './platform-deps.ts';

type Owner = { uid: number; gid: number };

/** Paths never copied into the app layer (secrets, VCS data, caches). */
export function neverCopied(rel: string): boolean {
  const segs = rel.split('/');
  const base = segs[segs.length - 1] ?? '';
  if (segs.includes('.git')) return true;
  if (base.startsWith('.env')) return true;
  if (segs[0] === 'node_modules') return true; // the dependency layer's business
  return segs.some((s, i) => s === '.cache' && segs[i - 1] === 'node_modules');
}

/** What {@link planNodeLayers} needs. */
export interface NodeLayersInput extends TransportOptions {
  /** The app directory. */
  app: string;
  /** Its package.json. */
  pkg: { main?: string; files?: string[] };
  /** Image directory of the project root. */
  appDir: string;
  /** Owner of everything the app layers add. */
  owner: Owner;
  /** Base image. */
  from: string;
  /** Platforms of the build. */
  platforms?: readonly string[] | 'all';
  /** Prepared node_modules: one for every platform, or one per platform (`linux/arm64` → PATH). */
  depsDir?: string | Record<string, string>;
  /** Keep devDependencies. */
  includeDev?: boolean;
  /** Local cache (fetched packages are kept beside it). */
  cache?: CacheOptions | false;
  /** Cache only. */
  offline?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
}

/** What {@link planNodeLayers} decided. */
export interface NodeLayersPlan {
  /** The lockfile found. */
  lockfile: LockfileKind;
  /** True when dev dependencies are left out. */
  productionOnly: boolean;
  /** Where the dependencies came from, for display. */
  dependencies: string | undefined;
  /** The app's directory in the image (its working directory). */
  imageAppDir: string;
  /** The app's directory on the host (symlinks resolved). */
  app: string;
  /** The layers, or a function of the platform when they differ by platform. */
  layers: LayerSpec[] | ((platform: Platform) => LayerSpec[]);
  /** Per platform (`linux/arm64`): packages fetched for it and packages left out of it. */
  platformPackages: Record<string, { added: string[]; excluded: string[] }>;
  /** Things the user should know. */
  notes: string[];
  /** The production dependency tree the layers were planned from (absent with a prepared `depsDir` for every platform). */
  tree?: ProductionTree;
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** History text of the production dependency layer (watch mode reuses the layers it names). */
export const DEPENDENCIES_CREATED_BY = 'ocibuild node: production dependencies';

function depsLayer(sources: { source: string; destination: string; filter: (rel: string) => boolean }[], dirs: string[], owner: Owner): LayerSpec {
  return {
    directories: sources.map((d) => ({ ...d, metadata: { ...owner } })),
    entries: [...new Set(dirs)].map((dir) => ({ type: 'directory' as const, path: dir, ...owner })),
    normalizeModes: true,
    createdBy: DEPENDENCIES_CREATED_BY,
  };
}

async function preparedDepsLayer(dir: string, appDir: string, owner: Owner): Promise<{ layer: LayerSpec; dependencies: string }> {
  const given = path.resolve(dir);
  const dependencies = (await isDirectory(path.join(given, 'node_modules'))) ? path.join(given, 'node_modules') : given;
  if (!(await isDirectory(dependencies))) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `--deps-dir ${given} is not a directory`);
  const layer = depsLayer([{ source: dependencies, destination: path.posix.join(appDir, 'node_modules'), filter: (rel) => !rel.split('/').includes('.cache') }], [appDir], owner);
  return { layer, dependencies };
}

/** The app's (or a workspace package's) own files: .dockerignore, else package.json "files", never secrets or node_modules. */
export async function appLayer(root: string, pkg: { main?: string; files?: string[] }, destination: string, owner: Owner, createdBy = 'ocibuild node: application files'): Promise<LayerSpec> {
  const ignore = await loadDockerignore(root);
  let filter: (rel: string) => boolean = (rel) => !neverCopied(rel);
  let include: string[] | undefined;
  if (ignore.file !== undefined) {
    const matcher = createIgnoreMatcher(ignore.patterns);
    filter = (rel) => !neverCopied(rel) && (!matcher.matches(rel) || matcher.mayReincludeUnder(rel));
  } else if (Array.isArray(pkg.files) && pkg.files.length > 0) {
    // npm always packs package.json and the main file, whatever "files" says.
    include = [...pkg.files.map((f) => f.replace(/^\.?\//, '').replace(/\/+$/, '')), 'package.json'];
    if (pkg.main !== undefined) include.push(path.posix.normalize(pkg.main).replace(/^\.\//, ''));
  }
  return {
    directories: [{ source: root, destination, filter, include, metadata: { ...owner } }],
    normalizeModes: true,
    createdBy,
  };
}

function depsDirFor(depsDir: NodeLayersInput['depsDir'], platform: Platform): string | undefined {
  if (depsDir === undefined || typeof depsDir === 'string') return depsDir;
  const key = platformKey(normalizePlatform(platform));
  for (const [name, dir] of Object.entries(depsDir)) if (platformKey(normalizePlatform(parsePlatform(name))) === key) return dir;
  return undefined;
}

/** Plans the dependency, workspace and app layers of the app in `input.app`. */
export async function planNodeLayers(input: NodeLayersInput): Promise<NodeLayersPlan> {
  const { appDir, owner } = input;
  const notes: string[] = [];
  if (typeof input.depsDir === 'string') {
    const prepared = await preparedDepsLayer(input.depsDir, appDir, owner);
    return {
      lockfile: 'none',
      productionOnly: true,
      dependencies: prepared.dependencies,
      imageAppDir: appDir,
      app: input.app,
      layers: [prepared.layer, await appLayer(input.app, input.pkg, appDir, owner)],
      platformPackages: {},
      notes,
    };
  }
  const selection = await selectWithTree(input.app, { includeDev: input.includeDev ?? false });
  notes.push(...selection.notes);
  const imagePath = (host: string): string => path.posix.join(appDir, path.relative(selection.root, host).split(path.sep).join('/'));
  const imageAppDir = imagePath(selection.app);
  const upper: LayerSpec[] = [];
  if (selection.workspacePackages.length > 0) {
    const directories = [];
    for (const dir of selection.workspacePackages) {
      const siblingPkg = (await readPackageJson(path.join(dir, 'package.json'))) ?? {};
      directories.push(...((await appLayer(dir, siblingPkg as { main?: string; files?: string[] }, imagePath(dir), owner)).directories ?? []));
    }
    upper.push({ directories, normalizeModes: true, createdBy: 'ocibuild node: workspace packages' });
  }
  upper.push(await appLayer(selection.app, input.pkg, imageAppDir, owner));
  const plan: NodeLayersPlan = {
    lockfile: selection.lockfile,
    productionOnly: selection.productionOnly,
    dependencies: selection.nodeModulesDirs.length > 0 ? selection.nodeModulesDirs.join(', ') : undefined,
    imageAppDir,
    app: selection.app,
    layers: [],
    platformPackages: {},
    notes,
    ...(selection.tree !== undefined ? { tree: selection.tree } : {}),
  };
  if (selection.nodeModulesDirs.length === 0) notes.push('no node_modules: run npm ci (or pass --deps-dir) first if the app has dependencies');
  const common = (extra: { excluded?: Set<string>; added?: { dir: string; rel: string }[] } = {}): LayerSpec[] => {
    if (selection.nodeModulesDirs.length === 0 && (extra.added ?? []).length === 0) return upper;
    const excluded = extra.excluded ?? new Set<string>();
    const keeps = excluded.size > 0 && selection.tree !== undefined ? selection.tree.keepsWithout(excluded) : undefined;
    const sources = selection.nodeModulesDirs.map((dir) => {
      const prefix = path.relative(selection.root, dir).split(path.sep).join('/');
      return { source: dir, destination: imagePath(dir), filter: (rel: string) => (keeps !== undefined ? keeps(path.join(dir, rel)) : selection.filter(`${prefix}/${rel}`)) };
    });
    for (const added of extra.added ?? []) sources.push({ source: added.dir, destination: imagePath(path.join(selection.root, added.rel)), filter: () => true });
    return [depsLayer(sources, [appDir, imageAppDir], owner), ...upper];
  };

  const tree = selection.tree;
  const compiled = tree !== undefined ? await compiledAddons(tree) : [];
  const installedSpecific = tree !== undefined && [...tree.packages.values()].some((p) => isPlatformSpecific(p.manifest));
  if (tree === undefined || (input.depsDir === undefined && compiled.length === 0 && !installedSpecific && tree.missingOptional.length === 0)) {
    plan.layers = common();
    return plan;
  }
  const host = hostTarget();
  // The platforms of the build from the base's manifests and configs (no layer is read).
  const platforms = await scanBase(input.from, { ...input, layers: false });
  const foreignCpu = platforms.some((f) => {
    const t = npmTarget(f.platform, host.libc);
    return t.os !== host.os || t.cpu !== host.cpu;
  });
  // Only a missing optional dependency of a build for another CPU (or, with libc-specific
  // packages installed, another libc) needs the lockfile's other-platform records (for Yarn 1
  // they cost a registry lookup): the host's install is right for the host.
  const libcSpecific = [...tree.packages.values()].some((p) => Array.isArray(p.manifest.libc) && p.manifest.libc.length > 0);
  const storeDir = input.cache === false ? path.join(os.tmpdir(), 'ocibuild-node-packages') : path.join(defaultCacheDir(input.cache ?? {}), 'node-packages');
  const lockfile = (foreignCpu || libcSpecific) && tree.missingOptional.length > 0 ? await openPlatformSource(tree, storeDir, input.signal) : undefined;
  if (input.depsDir === undefined && compiled.length === 0 && !(await platformSensitive(tree, lockfile))) {
    plan.layers = common();
    return plan;
  }
  // The base's libc is read from its layer names only when a package depends on it, so a
  // base stays undownloaded for, say, esbuild, whose packages differ by os and cpu only.
  const needLibc = compiled.length > 0 || (await dependsOnLibc(tree, lockfile));
  const facts = needLibc ? await scanBase(input.from, { ...input, layers: true }) : platforms;
  const byPlatform = new Map<string, LayerSpec[]>();
  for (const fact of facts) {
    const name = formatPlatform(fact.platform);
    const prepared = depsDirFor(input.depsDir, fact.platform);
    if (prepared !== undefined) {
      // At the project root's node_modules, where the app and its workspace packages all find it.
      byPlatform.set(platformKey(normalizePlatform(fact.platform)), [(await preparedDepsLayer(prepared, appDir, owner)).layer, ...upper]);
      continue;
    }
    if (needLibc && fact.libc === undefined && input.from !== 'scratch') notes.push(`${name}: no C library found in the base; native packages are chosen for ${host.libc ?? 'glibc'}`);
    const target = npmTarget(fact.platform, fact.libc ?? host.libc ?? 'glibc');
    const deps = await platformDependencies(tree, target, host, compiled, { lockfile, storeDir, platformName: name, signal: input.signal });
    notes.push(...deps.notes);
    plan.platformPackages[name] = {
      added: deps.added.map((a) => `${a.name}${a.version !== undefined ? `@${a.version}` : ''}`),
      excluded: [...deps.excluded].map((d) => tree.packages.get(d)?.name ?? d).sort(),
    };
    byPlatform.set(platformKey(normalizePlatform(fact.platform)), common({ excluded: deps.excluded, added: deps.added }));
  }
  plan.layers = (platform: Platform): LayerSpec[] => {
    const layers = byPlatform.get(platformKey(normalizePlatform(platform)));
    if (layers === undefined) throw new InvalidArgumentError(`the Node preset planned no layers for ${formatPlatform(platform)} (planned: ${[...byPlatform.keys()].join(', ')})`);
    return layers;
  };
  return plan;
}
