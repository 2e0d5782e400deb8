/**
 * The Node.js app preset: `buildImage(await nodeApp(dir, { from, to }))`. Layers from least to
 * most often changed: production `node_modules`, then the app's own files; `/app` as working
 * directory owned by the app's user; `NODE_ENV=production`; an entrypoint from `main` or the
 * `start` script. Options mirror Jib's `container` block and may also live in `package.json`
 * under `"ocibuild"`.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { OcibuildError } from '../errors.ts';
import type { LayerSpec } from '../layer/types.ts';
import type { BuildOptions } from '../build/index.ts';
import type { ConfigOptions } from '../build/config.ts';
import type { CacheOptions } from '../cache/store.ts';
import { createIgnoreMatcher, loadDockerignore } from '../dockerfile/ignore.ts';
import { selectDependencies, type LockfileKind } from './lockfile.ts';
import { baseUsers } from './base-user.ts';
import { resolveUser, type PasswdUser } from './passwd.ts';

/** Options of {@link nodeApp}; the same keys are read from `package.json` `"ocibuild"`. */
export interface NodeAppOptions extends Pick<BuildOptions, 'registries' | 'credentials' | 'registryClient' | 'signal' | 'onEvent' | 'encoder' | 'annotations' | 'digestFile' | 'imageNameWithDigestFile'> {
  /** Base image (default `node:<this Node's major>-slim` from Docker Hub). */
  from?: string;
  /** Targets. Required here or in package.json. */
  to?: string | readonly string[];
  /** Extra tags. */
  tags?: readonly string[];
  /** Entrypoint argv (a string is split on spaces, or parsed as a JSON array). */
  entrypoint?: readonly string[] | string;
  /** Cmd argv. */
  cmd?: readonly string[] | string;
  /** Environment, merged over the base's (after `NODE_ENV=production`). */
  env?: Record<string, string>;
  /** Exposed ports (`8080`, `53/udp`). */
  ports?: readonly (string | number)[];
  /** Labels. */
  labels?: Record<string, string>;
  /** User (`node`, `1000`, `1000:1000`). Default: the base's `node` user when its /etc/passwd has one, else the base's user. */
  user?: string;
  /** Working directory and where the app goes (default `/app`). */
  workdir?: string;
  /** Volumes. */
  volumes?: readonly string[];
  /** Manifest format. */
  format?: 'oci' | 'docker';
  /** `EPOCH` (default), `USE_CURRENT_TIMESTAMP`, an ISO-8601 time, or seconds since the epoch. */
  creationTime?: string | number;
  /** Platforms (`linux/amd64`) or `all`. */
  platforms?: readonly string[] | 'all';
  /** A prepared production `node_modules` (or a directory holding one), used instead of the project's. */
  depsDir?: string;
  /** Keep devDependencies. */
  includeDevDependencies?: boolean;
  /** Extra directories: `{ from: HOST_DIR, into: IMAGE_DIR }`, one layer each, after the app layer (Jib's extraDirectories). */
  extraDirectories?: readonly { from: string; into: string }[];
  /** Extra layers (programmatic), after the app layer. */
  extraLayers?: readonly LayerSpec[];
  /** Local cache (default on, in `~/.cache/ocibuild` or `OCIBUILD_CACHE_DIR`); `false` turns it off. */
  cache?: CacheOptions | false;
  /** Build from the cache only. */
  offline?: boolean;
}

/** What the preset decided, for display. */
export interface NodeAppInfo {
  /** package.json `name`. */
  name: string | undefined;
  /** package.json `version`. */
  version: string | undefined;
  /** Lockfile found. */
  lockfile: LockfileKind;
  /** True when dev dependencies are left out. */
  productionOnly: boolean;
  /** Where the dependencies came from (a `node_modules` directory), if any. */
  dependencies: string | undefined;
  /** The image user, when set. */
  user: string | undefined;
  /** Owner of `/app`. */
  owner: { uid: number; gid: number };
  /** Entrypoint chosen. */
  entrypoint: string[];
  /** Notes for the user (fallbacks taken). */
  notes: string[];
}

/** Build options plus what the preset decided. */
export type NodeAppBuildOptions = BuildOptions & { nodeApp: NodeAppInfo };

interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  files?: string[];
  scripts?: Record<string, string>;
  ocibuild?: NodeAppOptions;
}

/** Paths never copied into the app layer (secrets, VCS data, caches). */
export function neverCopied(rel: string): boolean {
  const segs = rel.split('/');
  const base = segs[segs.length - 1] ?? '';
  if (segs.includes('.git')) return true;
  if (base.startsWith('.env')) return true;
  if (segs[0] === 'node_modules') return true; // the dependency layer's business
  return segs.some((s, i) => s === '.cache' && segs[i - 1] === 'node_modules');
}

/** Parses an argv option: an array as is, a JSON array string, or a string split on spaces. */
function argv(value: readonly string[] | string | undefined, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return [...value];
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    const parsed = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new OcibuildError('ERR_INVALID_ARGUMENT', `${what} must be a JSON array of strings`);
    }
    return parsed;
  }
  return trimmed === '' ? [] : trimmed.split(/\s+/);
}

/** `EPOCH`, `USE_CURRENT_TIMESTAMP`, ISO-8601 or seconds → seconds since the epoch. */
export function parseCreationTime(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Math.floor(value);
  if (value === 'EPOCH') return 0;
  if (value === 'USE_CURRENT_TIMESTAMP') return Math.floor(Date.now() / 1000);
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new OcibuildError('ERR_INVALID_ARGUMENT', `creationTime ${JSON.stringify(value)}: expected EPOCH, USE_CURRENT_TIMESTAMP, ISO-8601 or seconds`);
  return Math.floor(ms / 1000);
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * Reads the Node project in `dir` and returns the options for `buildImage`. Options given
 * here override `package.json` `"ocibuild"`. Reads the base image's /etc/passwd (streaming its
 * layers, top first) when the user has to be found there.
 */
export async function nodeApp(dir: string, options: NodeAppOptions = {}): Promise<NodeAppBuildOptions> {
  const root = path.resolve(dir);
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  } catch (error) {
    throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `${path.join(root, 'package.json')}: cannot read it (${(error as Error).message})`, { cause: error });
  }
  const o: NodeAppOptions = { ...(pkg.ocibuild ?? {}), ...stripUndefined(options) };
  if (o.to === undefined || (typeof o.to !== 'string' && o.to.length === 0)) {
    throw new OcibuildError('ERR_INVALID_ARGUMENT', `no target: pass "to" (--to) or set "ocibuild": {"to": ...} in ${path.join(root, 'package.json')}`);
  }
  const from = o.from ?? `docker.io/library/node:${process.versions.node.split('.')[0]}-slim`;
  const appDir = o.workdir ?? '/app';
  if (!appDir.startsWith('/')) throw new OcibuildError('ERR_INVALID_ARGUMENT', `workdir must be absolute, got ${JSON.stringify(appDir)}`);
  const notes: string[] = [];

  // The user and the owner of the app's files.
  let user = o.user;
  let owner = { uid: 0, gid: 0 };
  let users: PasswdUser[] | undefined;
  const needUsers = from !== 'scratch' && (user === undefined || !/^\d+(:\d+)?$/.test(user));
  if (needUsers) {
    const base = await baseUsers(from, o);
    users = base.users;
    if (user === undefined) {
      if (users?.some((u) => u.name === 'node')) user = 'node';
      else if (base.configUser) notes.push(`the base has no "node" user: keeping its user ${JSON.stringify(base.configUser)}`);
      else notes.push('the base has no "node" user: the app runs as the base\'s user (root)');
    }
    const effective = user ?? base.configUser;
    if (effective !== undefined && effective !== '') {
      const ids = resolveUser(effective, users ?? []);
      if (ids === undefined) notes.push(`user ${JSON.stringify(effective)} is not in the base's /etc/passwd: ${appDir} stays owned by root`);
      else owner = ids;
    }
  } else if (user !== undefined) {
    owner = resolveUser(user, []) ?? owner;
  }
  const ownership = { uid: owner.uid, gid: owner.gid };

  // Dependencies.
  const layers: LayerSpec[] = [];
  let dependencies: string | undefined;
  let lockfile: LockfileKind = 'none';
  let productionOnly = false;
  if (o.depsDir !== undefined) {
    const given = path.resolve(root, o.depsDir);
    dependencies = (await isDirectory(path.join(given, 'node_modules'))) ? path.join(given, 'node_modules') : given;
    if (!(await isDirectory(dependencies))) throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `--deps-dir ${given} is not a directory`);
    productionOnly = true;
    layers.push(depsLayer(dependencies, appDir, ownership, (rel) => !rel.split('/').includes('.cache')));
  } else if (await isDirectory(path.join(root, 'node_modules'))) {
    const selection = await selectDependencies(root, { includeDev: o.includeDevDependencies ?? false });
    lockfile = selection.lockfile;
    productionOnly = selection.productionOnly;
    notes.push(...selection.notes);
    dependencies = path.join(root, 'node_modules');
    // The walk's paths are relative to node_modules; the selection's to the project.
    layers.push(depsLayer(dependencies, appDir, ownership, (rel) => selection.filter(`node_modules/${rel}`)));
  } else {
    notes.push('no node_modules: run npm ci (or pass --deps-dir) first if the app has dependencies');
  }

  // The app's own files.
  layers.push(await appLayer(root, pkg, appDir, ownership));
  for (const extra of o.extraDirectories ?? []) {
    layers.push({
      directories: [{ source: path.resolve(root, extra.from), destination: extra.into }],
      normalizeModes: true,
      createdBy: `ocibuild node: extra directory ${extra.into}`,
    });
  }
  layers.push(...(o.extraLayers ?? []));

  const entrypoint = argv(o.entrypoint, 'entrypoint') ?? (await defaultEntrypoint(root, pkg, appDir));
  const config: ConfigOptions = {
    entrypoint,
    env: { NODE_ENV: 'production', ...(o.env ?? {}) },
    workingDir: appDir,
    ...(o.cmd !== undefined ? { cmd: argv(o.cmd, 'cmd') as string[] } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(o.ports !== undefined ? { exposedPorts: o.ports.map(String) } : {}),
    ...(o.labels !== undefined ? { labels: o.labels } : {}),
    ...(o.volumes !== undefined ? { volumes: o.volumes } : {}),
  };
  const created = parseCreationTime(o.creationTime);
  const build: NodeAppBuildOptions = {
    from,
    to: o.to,
    layers,
    config,
    cache: o.cache ?? {},
    nodeApp: {
      name: pkg.name,
      version: pkg.version,
      lockfile,
      productionOnly,
      dependencies,
      user,
      owner,
      entrypoint,
      notes,
    },
  };
  const passThrough = ['tags', 'format', 'platforms', 'offline', 'registries', 'credentials', 'registryClient', 'signal', 'onEvent', 'encoder', 'annotations', 'digestFile', 'imageNameWithDigestFile'] as const;
  for (const key of passThrough) if (o[key] !== undefined) (build as unknown as Record<string, unknown>)[key] = o[key];
  if (created !== undefined) build.sourceDateEpoch = created;
  return build;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function depsLayer(source: string, appDir: string, owner: { uid: number; gid: number }, filter: (rel: string) => boolean): LayerSpec {
  return {
    directories: [{ source, destination: path.posix.join(appDir, 'node_modules'), filter, metadata: { ...owner } }],
    entries: [{ type: 'directory', path: appDir, ...owner }],
    normalizeModes: true,
    createdBy: 'ocibuild node: production dependencies',
  };
}

async function appLayer(root: string, pkg: PackageJson, appDir: string, owner: { uid: number; gid: number }): Promise<LayerSpec> {
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
    directories: [{ source: root, destination: appDir, filter, ...(include ? { include } : {}), metadata: { ...owner } }],
    normalizeModes: true,
    createdBy: 'ocibuild node: application files',
  };
}

async function defaultEntrypoint(root: string, pkg: PackageJson, appDir: string): Promise<string[]> {
  if (pkg.main !== undefined && pkg.main !== '') return ['node', path.posix.join(appDir, pkg.main)];
  const start = pkg.scripts?.start;
  // `npm start` puts node_modules/.bin first on PATH; the shell line does the same.
  if (start !== undefined && start !== '') return ['sh', '-c', `PATH=${appDir}/node_modules/.bin:$PATH; ${start}`];
  if (await isFile(path.join(root, 'index.js'))) return ['node', path.posix.join(appDir, 'index.js')];
  throw new OcibuildError('ERR_INVALID_ARGUMENT', `${path.join(root, 'package.json')}: no "main", no "start" script and no index.js; pass an entrypoint`);
}
