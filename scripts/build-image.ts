/**
 * `npm run image`: builds ocibuild itself into a container image, with ocibuild, onto a Node
 * base image the user names. Two layers over the base: the production dependencies (from
 * package-lock.json, the packages `npm install --omit=dev` would install), then the package as
 * npm would install it globally (compiled dist/, package.json, README, LICENSE) with the
 * `ocibuild` command linked into /usr/local/bin. `ENTRYPOINT ["ocibuild"]`, `CMD ["--help"]`.
 *
 * Reproducible: every file is owned by root with normalised modes and the commit's time
 * (`SOURCE_DATE_EPOCH`, else the last commit's time from git), so the same commit, base and
 * options give the same digest on any machine.
 *
 * Run: `npm run image -- --base REF [--to TARGET]... [--compression gzip|zstd]`
 *   --base REF             the Node base: a registry reference, oci:PATH[:TAG]; default the
 *                          OCIBUILD_IMAGE_BASE variable, else REGISTRY/library/node:MAJOR-slim
 *                          when --base-registry REGISTRY (or OCIBUILD_IMAGE_BASE_REGISTRY) names
 *                          a registry (a mirror of Docker Hub's library images)
 *   --to TARGET            where to write (repeatable); default oci:out/ocibuild-image:VERSION
 *   --dist DIR             an already compiled dist/ to use instead of compiling src/ (tsc)
 *   --compression, --compression-level   as for `ocibuild build`
 * Prints the image digest.
 * @module
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { buildImage, type LayerSpec } from '../src/index.ts';
import { dependencyClosure, type PackageLock } from '../test/packaging/closure.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the package sits in the image: npm's global prefix of the official node images. */
export const PACKAGE_DIR = '/usr/local/lib/node_modules/ocibuild';
/** The command's link, on the official images' PATH. */
export const COMMAND_LINK = '/usr/local/bin/ocibuild';

/** The base image to build on, from the flags and the environment; throws a usage message when none is named. */
export function chooseBase(flags: { base?: string | undefined; baseRegistry?: string | undefined }, env: NodeJS.ProcessEnv = process.env): string {
  const base = flags.base ?? env.OCIBUILD_IMAGE_BASE;
  if (base !== undefined && base !== '') return base;
  const registry = flags.baseRegistry ?? env.OCIBUILD_IMAGE_BASE_REGISTRY;
  if (registry !== undefined && registry !== '') return `${registry.replace(/\/+$/, '')}/library/node:${process.versions.node.split('.')[0]}-slim`;
  throw new Error('name the Node base image: --base REF (or OCIBUILD_IMAGE_BASE), or --base-registry REGISTRY (or OCIBUILD_IMAGE_BASE_REGISTRY) for REGISTRY/library/node:MAJOR-slim');
}

/** The image's working directory (mode 1777). */
export const WORKSPACE = '/workspace';

/** SOURCE_DATE_EPOCH, else the last commit's time, else 0 (not a git checkout). */
async function sourceDateEpoch(): Promise<number> {
  const given = process.env.SOURCE_DATE_EPOCH;
  if (given !== undefined && given !== '') {
    if (!/^\d+$/.test(given)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds, got ${JSON.stringify(given)}`);
    return Number(given);
  }
  try {
    const { stdout } = await run('git', ['-C', repoRoot, 'log', '-1', '--format=%ct']);
    return Number(stdout.trim()) || 0;
  } catch {
    return 0;
  }
}

async function gitRevision(): Promise<string | undefined> {
  try {
    return (await run('git', ['-C', repoRoot, 'rev-parse', 'HEAD'])).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Compiles src/ into `out` (the package's build, without declarations: a command needs none). */
async function compile(out: string): Promise<void> {
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false'], { cwd: repoRoot, maxBuffer: 64 << 20 });
}

/** Options of {@link buildOcibuildImage}. */
export interface BuildOcibuildImageOptions {
  /** The Node base image. */
  base: string;
  /** Targets. */
  to: string[];
  /** A compiled dist/ to use as it is; default: compile src/. */
  dist?: string;
  /** Layer compression. */
  compression?: 'gzip' | 'zstd';
  /** Compression level. */
  compressionLevel?: number;
}

/** Builds the image and returns its digest. */
export async function buildOcibuildImage(options: BuildOcibuildImageOptions): Promise<string> {
  const pkg = JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string>; repository?: unknown };
  const lock = JSON.parse(await fs.readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as PackageLock;
  const created = await sourceDateEpoch();
  const mtime = new Date(created * 1000);
  const owner = { uid: 0, gid: 0, mtime };
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ocibuild-image-'));
  try {
    let dist = options.dist;
    if (dist === undefined) {
      dist = path.join(work, 'dist');
      await compile(dist);
    }
    const main = path.join(dist, 'cli', 'main.js');
    await fs.access(main).catch(() => {
      throw new Error(`${dist} has no cli/main.js: is it a compiled ocibuild dist/?`);
    });
    await fs.chmod(main, 0o755);
    const modules = await fs.realpath(path.join(repoRoot, 'node_modules'));
    const dependencies: LayerSpec = {
      directories: dependencyClosure(lock, Object.keys(pkg.dependencies ?? {})).map((installPath) => ({
        source: path.join(modules, installPath.slice('node_modules/'.length)),
        destination: `${PACKAGE_DIR}/${installPath}`,
        metadata: owner,
      })),
      parents: owner,
      normalizeModes: true,
      mtime,
      createdBy: 'ocibuild image: production dependencies (package-lock.json)',
    };
    const files = (await Promise.all(['package.json', 'README.md', 'LICENSE'].map(async (name) => ((await fs.access(path.join(repoRoot, name)).then(() => true, () => false)) ? name : undefined)))).filter(
      (name): name is string => name !== undefined,
    );
    const ocibuild: LayerSpec = {
      directories: [{ source: dist, destination: `${PACKAGE_DIR}/dist`, exclude: ['**/*.map', '**/*.d.ts'], metadata: owner }],
      entries: [
        ...files.map((name) => ({ type: 'file' as const, path: `${PACKAGE_DIR}/${name}`, source: path.join(repoRoot, name), mode: 0o644, ...owner })),
        { type: 'symlink', path: COMMAND_LINK, target: `../lib/node_modules/ocibuild/dist/cli/main.js`, ...owner },
        // The working directory, writable by any user (as /tmp): a pod runs ocibuild as some
        // non-root uid, usually with a volume mounted here.
        { type: 'directory', path: WORKSPACE, mode: 0o1777, ...owner },
      ],
      parents: owner,
      normalizeModes: true,
      mtime,
      createdBy: `ocibuild image: ocibuild ${pkg.version}`,
    };
    const revision = await gitRevision();
    const result = await buildImage({
      from: options.base,
      layers: [dependencies, ocibuild],
      config: {
        entrypoint: ['ocibuild'],
        cmd: ['--help'],
        env: { NODE_ENV: 'production' },
        workingDir: WORKSPACE,
        labels: {
          'org.opencontainers.image.title': 'ocibuild',
          'org.opencontainers.image.version': pkg.version,
          'org.opencontainers.image.licenses': 'Apache-2.0',
          ...(revision !== undefined ? { 'org.opencontainers.image.revision': revision } : {}),
        },
      },
      sourceDateEpoch: created,
      ...(options.compression !== undefined ? { compression: options.compression } : {}),
      ...(options.compressionLevel !== undefined ? { compressionLevel: options.compressionLevel } : {}),
      to: options.to,
      cache: false,
    });
    return result.digest;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      'base-registry': { type: 'string' },
      to: { type: 'string', multiple: true },
      dist: { type: 'string' },
      compression: { type: 'string' },
      'compression-level': { type: 'string' },
    },
    strict: true,
  });
  const base = chooseBase({ base: values.base, baseRegistry: values['base-registry'] });
  const pkg = JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const to = values.to ?? [`oci:${path.join('out', 'ocibuild-image')}:${pkg.version}`];
  const compression = values.compression;
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') throw new Error('--compression must be gzip or zstd');
  const level = values['compression-level'];
  const digest = await buildOcibuildImage({
    base,
    to,
    ...(values.dist !== undefined ? { dist: path.resolve(values.dist) } : {}),
    ...(compression !== undefined ? { compression } : {}),
    ...(level !== undefined ? { compressionLevel: Number(level) } : {}),
  });
  process.stdout.write(`${digest}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`build-image: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
