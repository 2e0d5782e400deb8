/**
 * Where a Node app's project starts: the app directory itself, or the workspace root of the
 * npm, pnpm or Yarn monorepo it belongs to; which package manager installed it (from its
 * lockfile); and whether that install can be shipped (Yarn Plug'n'Play cannot).
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidArgumentError, LimitExceededError, OcibuildError, UnsupportedError } from '../errors.ts';
import { compileGlob } from '../layer/glob.ts';

/**
 * The lockfile a project has.
 * @category Node
 */
export type LockfileKind = 'npm' | 'pnpm' | 'yarn' | 'yarn-berry' | 'bun' | 'none';

/** The project an app directory belongs to. */
export interface NodeProject {
  /** The app directory (absolute, symlinks resolved). */
  app: string;
  /** The project root: the workspace root when the app is a workspace package, else `app`. */
  root: string;
  /** True when `root` is a workspace root other than `app`. */
  workspace: boolean;
  /** The lockfile's kind. */
  lockfile: LockfileKind;
  /** The lockfile's path, when there is one. */
  lockfilePath: string | undefined;
}

/** package.json files bigger than this are refused: real ones are a few KiB. */
export const MAX_PACKAGE_JSON_BYTES = 4 * 1024 * 1024;

/** Lockfiles by priority (npm first: a project with two lockfiles is usually an npm one with a stray file). */
const LOCKFILES: readonly [string, LockfileKind][] = [
  ['npm-shrinkwrap.json', 'npm'],
  ['package-lock.json', 'npm'],
  ['pnpm-lock.yaml', 'pnpm'],
  ['yarn.lock', 'yarn'],
  ['bun.lock', 'bun'],
  ['bun.lockb', 'bun'],
];

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/**
 * {@link readPackageJson} without yielding: the dependency walk reads thousands of small files,
 * where a synchronous read costs a fraction of an asynchronous one.
 */
export function readPackageJsonSync(file: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    const { size } = statSync(file);
    if (size > MAX_PACKAGE_JSON_BYTES) throw new LimitExceededError('maxPackageJsonBytes', MAX_PACKAGE_JSON_BYTES, `${file}: ${size} bytes, more than the ${MAX_PACKAGE_JSON_BYTES} a package.json may have`);
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof OcibuildError) throw error;
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`${file}: not valid JSON (${jsonErrorText(text, error)})`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`${file}: not a JSON object`);
  return parsed as Record<string, unknown>;
}

/**
 * The message of a JSON syntax error with its place as a line and column (V8 gives an offset:
 * "... in JSON at position 41" becomes "... at line 3, column 5").
 */
export function jsonErrorText(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const match = /at position (\d+)/.exec(message);
  if (match === null) return message;
  const offset = Math.min(Number(match[1]), text.length);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${message.slice(0, match.index).replace(/\s*in JSON\s*$/, '').trimEnd()} at line ${line}, column ${column}`;
}

/** Reads and parses a package.json with a size bound; undefined when there is none. */
export async function readPackageJson(file: string): Promise<Record<string, unknown> | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_PACKAGE_JSON_BYTES) throw new LimitExceededError('maxPackageJsonBytes', MAX_PACKAGE_JSON_BYTES, `${file}: ${size} bytes, more than the ${MAX_PACKAGE_JSON_BYTES} a package.json may have`);
    const text = await handle.readFile('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new InvalidArgumentError(`${file}: not valid JSON (${jsonErrorText(text, error)})`, { cause: error });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`${file}: not a JSON object`);
    return parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof OcibuildError) throw error;
    throw new OcibuildError('ERR_IO', `${file}: cannot read it (${(error as Error).message})`, { cause: error });
  } finally {
    await handle.close();
  }
}

async function lockfileIn(dir: string): Promise<{ kind: LockfileKind; file: string } | undefined> {
  for (const [name, kind] of LOCKFILES) {
    const file = path.join(dir, name);
    if (await exists(file)) return { kind, file };
  }
  return undefined;
}

/** The workspace globs a directory declares: package.json `workspaces` (npm, Yarn) or pnpm-workspace.yaml `packages`. */
async function workspacePatterns(dir: string): Promise<string[] | undefined> {
  const pnpmFile = path.join(dir, 'pnpm-workspace.yaml');
  if (await exists(pnpmFile)) return parsePnpmWorkspace(await fs.readFile(pnpmFile, 'utf8'));
  const pkg = await readPackageJson(path.join(dir, 'package.json')).catch(() => undefined);
  const ws = pkg?.workspaces;
  const list = Array.isArray(ws) ? ws : ws !== null && typeof ws === 'object' ? (ws as { packages?: unknown }).packages : undefined;
  return Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string') : undefined;
}

/**
 * The `packages:` list of a pnpm-workspace.yaml. Only that block-sequence form is read (it
 * is what pnpm documents and writes); anything else yields an empty list.
 */
export function parsePnpmWorkspace(text: string): string[] {
  const out: string[] = [];
  let inPackages = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trimEnd();
    if (line === '' || line.trimStart().startsWith('#')) continue;
    if (/^\S/.test(line)) {
      inPackages = /^packages:\s*$/.test(line);
      continue;
    }
    const item = inPackages ? /^\s+-\s+(.+)$/.exec(line) : null;
    if (item?.[1] !== undefined) out.push(item[1].trim().replace(/^(['"])(.*)\1$/, '$2'));
  }
  return out;
}

/** True when `rel` (POSIX, relative to the workspace root) is a package of `patterns` (`!` negates). */
export function matchesWorkspace(patterns: readonly string[], rel: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (compileGlob(p.slice(1)).matches(rel)) return false;
    } else if (compileGlob(p).matches(rel)) matched = true;
  }
  return matched;
}

/**
 * Finds the project `appDir` belongs to. The app's own lockfile makes it the root; otherwise
 * the nearest ancestor that declares workspaces matching the app (and has a lockfile or
 * node_modules) is the root. Throws `ERR_UNSUPPORTED` for Yarn Plug'n'Play installs, which
 * have no node_modules to ship.
 */
export async function findProject(appDir: string): Promise<NodeProject> {
  const app = await fs.realpath(path.resolve(appDir));
  let root = app;
  let lock = await lockfileIn(app);
  let workspace = false;
  if (lock === undefined) {
    for (let dir = path.dirname(app); ; dir = path.dirname(dir)) {
      const patterns = await workspacePatterns(dir);
      if (patterns !== undefined && matchesWorkspace(patterns, path.relative(dir, app).split(path.sep).join('/'))) {
        const found = await lockfileIn(dir);
        if (found !== undefined || (await exists(path.join(dir, 'node_modules')))) {
          root = dir;
          lock = found;
          workspace = true;
        }
        break;
      }
      if (dir === path.dirname(dir)) break;
    }
  }
  let kind = lock?.kind ?? 'none';
  if (kind === 'yarn' && lock !== undefined && (await isBerryLockfile(lock.file))) {
    kind = 'yarn-berry';
    await refusePnp(root);
  }
  return { app, root, workspace, lockfile: kind, lockfilePath: lock?.file };
}

async function isBerryLockfile(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    // Yarn 2+ lockfiles are YAML with a __metadata block near the top; Yarn 1's are not.
    return /^__metadata:/m.test(head.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await handle.close();
  }
}

/** Yarn Berry links with Plug'n'Play unless `.yarnrc.yml` says `nodeLinker: node-modules` (or `pnpm`). */
async function refusePnp(root: string): Promise<void> {
  const rc = await fs.readFile(path.join(root, '.yarnrc.yml'), 'utf8').catch(() => '');
  const linker = /^nodeLinker:\s*["']?([\w-]+)/m.exec(rc)?.[1] ?? 'pnp';
  const hasPnp = (await exists(path.join(root, '.pnp.cjs'))) || (await exists(path.join(root, '.pnp.js')));
  if (linker === 'pnp' || (hasPnp && linker !== 'node-modules' && linker !== 'pnpm')) {
    throw new UnsupportedError(
      `${root} is a Yarn Plug'n'Play install (nodeLinker ${linker}): ocibuild ships node_modules, which PnP does not make. ` +
        'Add "nodeLinker: node-modules" to .yarnrc.yml and run yarn install, or pass --deps-dir with a prepared node_modules',
    );
  }
}
