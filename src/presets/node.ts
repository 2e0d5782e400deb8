/**
 * The Node.js app preset: `buildImage(await nodeApp(dir, { from, to }))`. Layers from least to
 * most often changed (node-layers.ts): production `node_modules` (per platform when packages
 * differ by platform), workspace packages, the app's own files; `/app` as working directory
 * owned by the app's user; `NODE_ENV=production`; an entrypoint from the `start` script,
 * `main`, `bin`, server.js or index.js; `org.opencontainers.image.*` labels and annotations
 * from package.json and git. Options mirror Jib's `container` block and may also live in
 * `package.json` under `"ocibuild"`. docs/node.md is the user's guide.
 * @module
 */
import { access, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { readPackageJson } from './project.ts';
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import type { LayerSpec } from '../layer/types.ts';
import type { BuildOptions } from '../pipeline/index.ts';
import type { ConfigOptions, HealthcheckOptions } from '../pipeline/config.ts';
import { unusableCache, type CacheOptions } from '../cache/store.ts';
import type { LockfileKind } from './lockfile.ts';
import { planNodeLayers } from './node-layers.ts';
import { scanBase } from './base-scan.ts';
import { withSession } from '../pipeline/session.ts';
import { projectMetadata } from './project-metadata.ts';
import { sourceDateEpochFromEnv } from '../layer/entries.ts';
import type { SbomFormat } from '../supply/types.ts';
import { nodeAppSbomPackages, nodeSbomPackages } from './sbom.ts';
import type { Platform } from '../oci/types.ts';

export { neverCopied } from './node-layers.ts';
import { baseUsers } from './base-user.ts';
import { resolveUser, type PasswdUser } from './passwd.ts';

/**
 * Options of {@link nodeApp}; the same keys are read from `package.json` `"ocibuild"`.
 * @category Node
 */
export interface NodeAppOptions extends Pick<BuildOptions, 'registries' | 'credentials' | 'registryClient' | 'session' | 'signal' | 'onEvent' | 'encoder' | 'compression' | 'compressionLevel' | 'annotations' | 'digestFile' | 'imageNameWithDigestFile'> {
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
  /** Labels, over the project's `org.opencontainers.image.*` ones. */
  labels?: Record<string, string>;
  /**
   * Add `org.opencontainers.image.{title,description,version,licenses,url,source,revision,created}`
   * from package.json and git as labels and manifest annotations (default true; `labels` and
   * `annotations` override single keys).
   */
  projectMetadata?: boolean;
  /** Signal that stops the container (`SIGTERM`). */
  stopSignal?: string;
  /**
   * Docker's HEALTHCHECK: `'CMD node healthcheck.js'` (through `/bin/sh -c`), `'CMD ["node", "healthcheck.js"]'`
   * (exec form, for distroless bases), `'NONE'`, optionally led by `--interval=30s` and the other
   * HEALTHCHECK flags; or {@link HealthcheckOptions}. Default: the base's (none for node images).
   */
  healthcheck?: string | HealthcheckOptions;
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
  /**
   * A prepared production `node_modules` (or a directory holding one) used instead of the
   * project's: one path for every platform, or one per platform (`{ "linux/arm64": PATH }`;
   * platforms not named use the project's).
   */
  depsDir?: string | Record<string, string>;
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
  /**
   * Attach an SBOM of the app's dependencies, taken from its lockfile, to the image as an OCI
   * referrer (default true: SPDX; `'cyclonedx'`; `false` for none). See docs/supply-chain.md.
   */
  sbom?: boolean | SbomFormat;
  /** Attach SLSA v1 provenance to the image as an OCI referrer (default true). */
  provenance?: boolean;
}

/**
 * What the preset decided, for display.
 * @category Node
 */
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
  /**
   * Per platform (`linux/arm64`), when the dependencies differ by platform: the platform
   * packages fetched for it (`@esbuild/linux-arm64@0.23.1`) and the installed ones left out.
   */
  platformPackages: Record<string, { added: string[]; excluded: string[] }>;
  /** Notes for the user (fallbacks taken). */
  notes: string[];
}

/**
 * Build options plus what the preset decided.
 * @category Node
 */
export type NodeAppBuildOptions = BuildOptions & { nodeApp: NodeAppInfo };

interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  bin?: string | Record<string, string>;
  files?: string[];
  scripts?: Record<string, string>;
  ocibuild?: NodeAppOptions;
}

/** Parses an argv option: an array as is, a JSON array string, or a string split on spaces. */
function argv(value: readonly string[] | string | undefined, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return [...value];
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    const parsed = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new InvalidArgumentError(`${what} must be a JSON array of strings`);
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
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`creationTime ${JSON.stringify(value)}: expected EPOCH, USE_CURRENT_TIMESTAMP, ISO-8601 or seconds`);
  return Math.floor(ms / 1000);
}

/** Whether `node FILE` finds a script at `file`: the file, FILE.js/.json/.node, or a folder's package.json "main" or index.js (Node's rules for the entry point). */
async function nodeCanLoad(file: string, depth = 0): Promise<boolean> {
  const extensions = ['.js', '.json', '.node'];
  for (const candidate of [file, ...extensions.map((e) => `${file}${e}`)]) if (await isFile(candidate)) return true;
  const main = depth < 2 ? await readPackageJson(path.join(file, 'package.json')).catch(() => undefined) : undefined;
  if (typeof main?.main === 'string' && main.main !== '' && (await nodeCanLoad(path.join(file, main.main), depth + 1))) return true;
  for (const e of extensions) if (await isFile(path.join(file, `index${e}`))) return true;
  return false;
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
 * @example
 * ```ts
 * import { buildImage, nodeApp } from 'ocibuild';
 *
 * const options = await nodeApp('./my-app', { from: 'registry.example/base/node:22' });
 * const result = await buildImage({ ...options, to: 'registry.example/team/my-app:1' });
 * ```
 * @category Node
 */
export async function nodeApp(dir: string, options: NodeAppOptions = {}): Promise<NodeAppBuildOptions> {
  // The base lookups share one session: the caller's (passed on to the build), else one closed here.
  if (options.session !== undefined) return planNodeApp(dir, options);
  const build = await withSession(options, (session) => planNodeApp(dir, { ...options, session }));
  delete build.session;
  return build;
}

async function planNodeApp(dir: string, options: NodeAppOptions): Promise<NodeAppBuildOptions> {
  const root = path.resolve(dir);
  // Bounded, and a syntax error named by line and column (ERR_INVALID_ARGUMENT).
  const pkgFile = path.join(root, 'package.json');
  const read = (await readPackageJson(pkgFile)) as PackageJson | undefined;
  if (read === undefined) {
    const why = await access(pkgFile).then(
      () => 'it cannot be opened',
      (error: NodeJS.ErrnoException) =>
        error.code === 'ENOENT' ? stat(root).then((s) => (s.isDirectory() ? 'the app folder has no package.json' : 'the app is not a folder'), () => 'no such folder') : `${error.code ?? error.message}`,
    );
    throw new OcibuildError('ERR_SOURCE_NOT_FOUND', `${pkgFile}: cannot read it (${why})`);
  }
  const pkg: PackageJson = read;
  const o: NodeAppOptions = { ...(pkg.ocibuild ?? {}), ...stripUndefined(options) };
  if (o.to === undefined || (typeof o.to !== 'string' && o.to.length === 0)) {
    throw new InvalidArgumentError(`no target: pass "to" (--to) or set "ocibuild": {"to": ...} in ${path.join(root, 'package.json')}`);
  }
  const from = o.from ?? `docker.io/library/node:${process.versions.node.split('.')[0]}-slim`;
  const appDir = o.workdir ?? '/app';
  if (!appDir.startsWith('/')) throw new InvalidArgumentError(`workdir must be absolute, got ${JSON.stringify(appDir)}`);
  const notes: string[] = [];
  // The cache is on by default here; where its default folder cannot be used (a CI pod's
  // read-only HOME=/) the build goes without it and says so. A folder the user named must work.
  if (o.cache === undefined && !o.offline && (process.env.OCIBUILD_CACHE_DIR ?? '') === '') {
    const problem = await unusableCache({});
    if (problem !== undefined) {
      o.cache = false;
      notes.push(`${problem}: building without a cache (name a writable folder with --cache-dir or OCIBUILD_CACHE_DIR)`);
    }
  }

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

  const plan = await planNodeLayers({
    ...o,
    app: root,
    pkg,
    appDir,
    owner: ownership,
    from,
    ...(o.depsDir !== undefined ? { depsDir: o.depsDir } : {}),
    includeDev: o.includeDevDependencies ?? false,
  });
  notes.push(...plan.notes);
  const { lockfile, productionOnly, dependencies, imageAppDir } = plan;
  const extras: LayerSpec[] = [];
  for (const extra of o.extraDirectories ?? []) {
    extras.push({
      directories: [{ source: path.resolve(root, extra.from), destination: extra.into }],
      normalizeModes: true,
      createdBy: `ocibuild node: extra directory ${extra.into}`,
    });
  }
  extras.push(...(o.extraLayers ?? []));
  const planned = plan.layers;
  const layers = typeof planned === 'function' ? (platform: Platform) => [...planned(platform), ...extras] : [...planned, ...extras];

  const entrypoint = argv(o.entrypoint, 'entrypoint') ?? (await defaultEntrypoint(plan.app, pkg, imageAppDir, await baseNode(from, o)));
  const created = parseCreationTime(o.creationTime) ?? sourceDateEpochFromEnv() ?? 0;
  const metadata = o.projectMetadata === false ? {} : await projectMetadata(plan.app, pkg as Record<string, unknown>, created);
  const labels = { ...metadata, ...(o.labels ?? {}) };
  const annotations = { ...metadata, ...(o.annotations ?? {}) };
  const config: ConfigOptions = {
    entrypoint,
    env: { NODE_ENV: 'production', ...(o.env ?? {}) },
    workingDir: imageAppDir,
    cmd: argv(o.cmd, 'cmd'),
    user,
    exposedPorts: o.ports?.map(String),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    volumes: o.volumes,
    stopSignal: o.stopSignal,
    healthcheck: o.healthcheck,
  };
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
      platformPackages: plan.platformPackages,
      notes,
    },
  };
  const passThrough = ['tags', 'format', 'platforms', 'offline', 'registries', 'credentials', 'registryClient', 'session', 'signal', 'onEvent', 'encoder', 'compression', 'compressionLevel', 'digestFile', 'imageNameWithDigestFile'] as const;
  for (const key of passThrough) if (o[key] !== undefined) (build as unknown as Record<string, unknown>)[key] = o[key];
  if (Object.keys(annotations).length > 0) build.annotations = annotations;
  build.sourceDateEpoch = created;
  // Supply chain (docs/supply-chain.md): on by default here, the SBOM from the lockfile.
  const sbom = o.sbom ?? true;
  if (sbom !== false) {
    build.sbom = sbom;
    // The tree the layers were planned from, when there is one: the same selection, not made twice.
    build.sbomPackages = plan.tree !== undefined
      ? await nodeSbomPackages(plan.tree, { imageRoot: imageAppDir })
      : await nodeAppSbomPackages(root, { includeDev: o.includeDevDependencies ?? false, imageRoot: imageAppDir });
  }
  build.provenance = o.provenance ?? true;
  return build;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Node flags whose value is the next word (`node -r dotenv/config server.js`). */
const FLAGS_WITH_VALUE = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '--env-file', '--title', '--conditions', '-C']);

/**
 * A start script that is a plain `node [FLAGS] FILE [ARGS]` (no shell syntax, no variables) as
 * an exec-form argv with FILE made absolute; undefined otherwise.
 */
export function plainNodeCommand(script: string, node: string, appDir: string): string[] | undefined {
  if (/[;&|<>$`'"\\*?(){}[\]~#=]/.test(script.replace(/(^|\s)--[\w-]+=[^\s]*/g, '$1')) || /\n/.test(script)) return undefined;
  const words = script.trim().split(/\s+/);
  if (words[0] !== 'node') return undefined;
  const out = [node];
  let i = 1;
  for (; i < words.length && (words[i] as string).startsWith('-'); i++) {
    out.push(words[i] as string);
    if (FLAGS_WITH_VALUE.has(words[i] as string) && i + 1 < words.length) out.push(words[++i] as string);
  }
  const file = words[i];
  if (file === undefined) return undefined;
  out.push(path.posix.isAbsolute(file) ? file : path.posix.join(appDir, file), ...words.slice(i + 1));
  return out;
}

/**
 * The default entrypoint, in this order (documented in docs/node.md): the `start` script
 * (exec form when it is a plain `node FILE` command, else through `sh -c` with
 * node_modules/.bin on PATH, as `npm start` runs it), `main`, a single `bin`, then server.js
 * (npm start's own default) or index.js (npm's default main). `node` is the base's own
 * absolute node when its Entrypoint is one (distroless), else `node`, which the container
 * runtime finds on the image's PATH without a shell.
 */
async function defaultEntrypoint(root: string, pkg: PackageJson, appDir: string, node: string): Promise<string[]> {
  const start = pkg.scripts?.start;
  // The script an inferred entrypoint runs must be in the app (a TypeScript app's dist/ before
  // `npm run build` is not): else the image would fail at its first start.
  const checked = async (command: string[], what: string): Promise<string[]> => {
    // The script is the first word after node inside the app (flags and a script elsewhere pass).
    const file = command.find((word, i) => i > 0 && word.startsWith(`${appDir}/`));
    if (file === undefined || (await nodeCanLoad(path.join(root, file.slice(appDir.length + 1))))) return command;
    throw new OcibuildError(
      'ERR_SOURCE_NOT_FOUND',
      `${path.join(root, 'package.json')}: the image would run ${file} (${what}), which the app does not have: build the app first (npm run build?) or pass an entrypoint`,
    );
  };
  if (typeof start === 'string' && start.trim() !== '') {
    // `npm start` puts node_modules/.bin first on PATH; the shell line does the same.
    const plain = plainNodeCommand(start, node, appDir);
    if (plain === undefined) return ['sh', '-c', `PATH=${appDir}/node_modules/.bin:$PATH; ${start}`];
    return checked(plain, 'the "start" script');
  }
  if (typeof pkg.main === 'string' && pkg.main !== '') return checked([node, path.posix.join(appDir, pkg.main)], '"main"');
  const bins = typeof pkg.bin === 'string' ? [pkg.bin] : pkg.bin !== null && typeof pkg.bin === 'object' ? Object.values(pkg.bin) : [];
  if (bins.length === 1 && typeof bins[0] === 'string') return checked([node, path.posix.join(appDir, bins[0])], '"bin"');
  for (const file of ['server.js', 'index.js']) if (await isFile(path.join(root, file))) return [node, path.posix.join(appDir, file)];
  throw new InvalidArgumentError(`${path.join(root, 'package.json')}: no "start" script, no "main", no single "bin", no server.js or index.js; pass an entrypoint`);
}

/** The base's node when its Entrypoint is an absolute node binary (gcr.io/distroless/nodejs*), else `node`. */
async function baseNode(from: string, options: NodeAppOptions): Promise<string> {
  if (from === 'scratch') return 'node';
  const [first] = await scanBase(from, { ...options, layers: false });
  const entry = first?.entrypoint;
  return entry?.length === 1 && typeof entry[0] === 'string' && entry[0].startsWith('/') && /^node(js)?$/.test(path.posix.basename(entry[0])) ? entry[0] : 'node';
}
