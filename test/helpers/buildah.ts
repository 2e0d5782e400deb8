/**
 * Test helper: builds a Dockerfile with `buildah bud` (1.28, the reference implementation of the
 * differential Dockerfile tests) into an OCI image layout, with private vfs storage under a temp
 * dir so nothing touches /var/lib/containers and parallel builds do not share locks.
 *
 * Two images are written to the result layout from the same build:
 * - tag `TAG` in OCI format (what `umoci unpack` reads for the file tree);
 * - tag `TAG-docker` in Docker v2.2 format, whose config keeps Healthcheck, OnBuild and Shell.
 *
 * Why `--format docker`: buildah 1.28 drops Docker-only config fields (Healthcheck, OnBuild,
 * Shell) when it commits in OCI format, and ignores ONBUILD entirely (with a warning). Docker and
 * BuildKit keep those fields in every format, so the Docker-format config is the reference.
 *
 * Why `--layers`: with `--layers=false` buildah squashes every step of a stage into one layer,
 * which hides the Docker layer pattern (one layer per COPY/ADD, `empty_layer` for metadata-only
 * instructions); with `--layers` its history matches Docker's. Each build has its own storage,
 * so the layer cache never leaks between fixtures.
 * @module
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Options of {@link buildahBuild}. */
export interface BuildahBuildOptions {
  /** Build context directory. */
  contextDir: string;
  /** Dockerfile path, relative to `contextDir` or absolute. Default `Dockerfile`. */
  dockerfile?: string;
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** `--target` stage. */
  target?: string;
  /** Base image layout; passed as build arg `BASE=oci:PATH:TAG` unless `buildArgs.BASE` is set. */
  baseLayout?: { layoutPath: string; tag: string };
  /** `--platform` (e.g. `linux/arm64`); default the host's. */
  platform?: string;
  /** Directory for storage and output; default a fresh temp dir. */
  workDir?: string;
  /** Tag of the result in the output layout. Default `latest`. */
  tag?: string;
  /** `--layers` (default true, see the module comment). */
  layers?: boolean;
}

/** What {@link buildahBuild} produced. */
export interface BuildahResult {
  /** OCI layout directory holding the result. */
  layoutPath: string;
  /** Tag of the OCI-format image (unpack this one). */
  tag: string;
  /** Tag of the Docker-format image of the same build (read its config). */
  dockerTag: string;
  /** The directory holding the layout (and, during the build, buildah's storage). */
  workDir: string;
  /** buildah's combined output (steps, warnings). */
  log: string;
}

/** A build that buildah refused; `log` holds its output. */
export class BuildahError extends Error {
  /** buildah's stdout and stderr. */
  readonly log: string;
  constructor(message: string, log: string) {
    super(message);
    this.name = 'BuildahError';
    this.log = log;
  }
}

let available: boolean | undefined;

/** Tells whether a `buildah` binary runs here (checked once per process). */
export function buildahAvailable(): boolean {
  if (available === undefined) {
    const probe = spawnSync('buildah', ['--version'], { encoding: 'utf8' });
    available = probe.status === 0;
  }
  return available;
}

/** The `buildah --version` line, or undefined when buildah is missing. */
export function buildahVersion(): string | undefined {
  const probe = spawnSync('buildah', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

async function buildah(storage: string[], args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('buildah', [...storage, ...args], {
      cwd,
      maxBuffer: 64 << 20,
      // No proxy variables: buildah would otherwise add them as build args.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', TMPDIR: cwd },
    });
    return stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const log = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    const lastError = log.split('\n').filter((l) => /error/i.test(l)).pop() ?? e.message;
    throw new BuildahError(`buildah ${args[0] ?? ''} failed: ${lastError.trim()}`, log);
  }
}

/**
 * Builds `dockerfile` in `contextDir` with `buildah bud --isolation chroot --timestamp 0` and
 * pushes the result to `WORKDIR/layout` (see the module comment for the two tags). buildah's
 * storage is removed afterwards; the layout stays until the caller removes `workDir`.
 * Throws {@link BuildahError} when buildah rejects the Dockerfile.
 */
export async function buildahBuild(options: BuildahBuildOptions): Promise<BuildahResult> {
  const workDir = options.workDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-buildah-')));
  await fs.mkdir(workDir, { recursive: true });
  const tag = options.tag ?? 'latest';
  const storage = ['--storage-driver', 'vfs', '--root', path.join(workDir, 'root'), '--runroot', path.join(workDir, 'run')];
  const tmp = path.join(workDir, 'tmp');
  await fs.mkdir(tmp, { recursive: true });
  const image = `localhost/ocibuild-differential-${process.pid}:${tag}`;
  const args = ['bud', '--isolation', 'chroot', '--timestamp', '0', `--layers=${options.layers ?? true}`, '--format', 'docker', '--quiet=false'];
  args.push('--tls-verify=false', '--pull=true', '-f', path.resolve(options.contextDir, options.dockerfile ?? 'Dockerfile'), '-t', image);
  const buildArgs: Record<string, string> = { ...(options.buildArgs ?? {}) };
  let baseLink: string | undefined;
  if (options.baseLayout && buildArgs.BASE === undefined) {
    let layoutPath = path.resolve(options.baseLayout.layoutPath);
    // buildah names an `oci:` image after its path, and image names must be lowercase.
    if (layoutPath !== layoutPath.toLowerCase()) {
      baseLink = path.join('/tmp', `ocibuild-buildah-base-${randomBytes(6).toString('hex')}`);
      await fs.symlink(layoutPath, baseLink);
      layoutPath = baseLink;
    }
    buildArgs.BASE = `oci:${layoutPath}:${options.baseLayout.tag}`;
  }
  for (const [key, value] of Object.entries(buildArgs)) args.push('--build-arg', `${key}=${value}`);
  if (options.target !== undefined) args.push('--target', options.target);
  if (options.platform !== undefined) args.push('--platform', options.platform);
  args.push(path.resolve(options.contextDir));
  const layoutPath = path.join(workDir, 'layout');
  let log = '';
  try {
    log += await buildah(storage, args, tmp);
    log += await buildah(storage, ['push', '--format', 'oci', image, `oci:${layoutPath}:${tag}`], tmp);
    log += await buildah(storage, ['push', '--format', 'v2s2', image, `oci:${layoutPath}:${tag}-docker`], tmp);
  } finally {
    // vfs keeps a full copy of the rootfs per layer: drop it as soon as the layout is written.
    await fs.rm(path.join(workDir, 'root'), { recursive: true, force: true });
    await fs.rm(path.join(workDir, 'run'), { recursive: true, force: true });
    await fs.rm(tmp, { recursive: true, force: true });
    if (baseLink !== undefined) await fs.rm(baseLink, { force: true });
  }
  return { layoutPath, tag, dockerTag: `${tag}-docker`, workDir, log };
}

const memo = new Map<string, Promise<BuildahResult>>();

/** Hashes a directory tree (paths, types, modes, contents, link targets) for cache keys. */
async function hashTree(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (full: string, rel: string): Promise<void> => {
    const st = await fs.lstat(full);
    hash.update(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) hash.update(await fs.readlink(full));
    else if (st.isFile()) hash.update(await fs.readFile(full));
    else if (st.isDirectory()) for (const name of (await fs.readdir(full)).sort()) await walk(path.join(full, name), `${rel}/${name}`);
    hash.update('\0');
  };
  await walk(dir, '');
  return hash.digest('hex');
}

/** The on-disk cache key of a build: everything that can change buildah's result. */
async function diskKey(options: Omit<BuildahBuildOptions, 'workDir'>): Promise<string> {
  const { contextDir, baseLayout, ...rest } = options;
  const parts = [buildahVersion() ?? '', JSON.stringify(rest), await hashTree(contextDir)];
  if (baseLayout) parts.push(await fs.readFile(path.join(baseLayout.layoutPath, 'index.json'), 'utf8'), baseLayout.tag);
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

async function buildThroughDiskCache(options: Omit<BuildahBuildOptions, 'workDir'>, workDir: string, cacheDir: string): Promise<BuildahResult> {
  const entry = path.join(cacheDir, await diskKey(options));
  const tag = options.tag ?? 'latest';
  try {
    await fs.access(path.join(entry, 'index.json'));
    return { layoutPath: entry, tag, dockerTag: `${tag}-docker`, workDir, log: `(from ${entry})` };
  } catch {
    // Not cached yet.
  }
  const result = await buildahBuild({ ...options, workDir });
  await fs.mkdir(cacheDir, { recursive: true });
  const staging = `${entry}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.cp(result.layoutPath, staging, { recursive: true });
  await fs.rename(staging, entry).catch(async () => fs.rm(staging, { recursive: true, force: true }));
  return result;
}

/**
 * {@link buildahBuild} memoised per process on the options, so several tests comparing
 * against one fixture build it once. Failures are memoised too: a fixture buildah rejects is
 * rejected for every caller. When `OCIBUILD_BUILDAH_CACHE` names a directory, results are also
 * kept there across runs, keyed on the buildah version, the options, the context's contents
 * and the base's index.json (for quick iteration; CI runs without it).
 */
export function cachedBuildahBuild(options: Omit<BuildahBuildOptions, 'workDir'> & { workRoot: string }): Promise<BuildahResult> {
  const { workRoot, ...rest } = options;
  const key = JSON.stringify(rest);
  let result = memo.get(key);
  if (result === undefined) {
    const dir = path.join(workRoot, 'buildah-' + createHash('sha256').update(key).digest('hex').slice(0, 16));
    const cacheDir = process.env.OCIBUILD_BUILDAH_CACHE;
    result = cacheDir ? buildThroughDiskCache(rest, dir, cacheDir) : buildahBuild({ ...rest, workDir: dir });
    memo.set(key, result);
    // Keep the rejection observed so an unused memo entry never crashes the process.
    result.catch(() => {});
  }
  return result;
}
