/**
 * The application source of an s2i build: a Git clone (a Git URL, or a local work tree unless
 * `copy`), else the directory as it is; then `contextDir`, the `--exclude` expression and
 * `.s2iignore` (its `!` lines are skipped, as s2i does), and the facts s2i records in labels.
 * @module
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createIgnoreMatcher, parseDockerignore } from '../../dockerfile/ignore.ts';
import { S2iError } from './errors.ts';

const run = promisify(execFile);

/** s2i's default `--exclude`: the `.git` directory. */
export const DEFAULT_EXCLUDE = '(^|/)\\.git(/|$)';

/** What s2i writes into `io.openshift.s2i.build.*` labels about the source. */
export interface SourceInfo {
  /** Where the source came from (the Git remote, else the path as given). */
  location: string;
  /** `Name <email>` of the commit's author. */
  author?: string;
  /** The commit date as Git prints it. */
  date?: string;
  /** The commit id. */
  commitId?: string;
  /** The branch name (`HEAD` when detached). */
  ref?: string;
  /** The commit subject. */
  message?: string;
  /** The context directory, if one was used. */
  contextDir?: string;
}

/** A prepared source tree. */
export interface PreparedSource {
  /** The application directory (after `contextDir`). */
  dir: string;
  /** Decides, for a `/`-separated path relative to {@link dir}, whether it is uploaded. */
  include: (relativePath: string) => boolean;
  /** Label facts. */
  info: SourceInfo;
}

/** Options of {@link prepareSource}. */
export interface PrepareSourceOptions {
  /** Source directory or Git URL. */
  source: string;
  /** Use a local directory as it is, even when it is a Git work tree. */
  copy?: boolean | undefined;
  /** Git ref to check out. */
  ref?: string | undefined;
  /** Application subdirectory. */
  contextDir?: string | undefined;
  /** Leave Git submodules out of the clone. */
  ignoreSubmodules?: boolean | undefined;
  /** `--exclude` regular expression (`""`: nothing). */
  exclude?: string | undefined;
  /** Scratch directory for a clone (removed by the caller). */
  scratch: string;
}

function looksLikeGitUrl(source: string): boolean {
  return /^(https?|git|ssh|file):\/\//.test(source) || /^[\w.-]+@[\w.-]+:/.test(source);
}

async function git(args: string[], what: string): Promise<string> {
  try {
    return (await run('git', args, { maxBuffer: 16 << 20 })).stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const detail = e.code === 'ENOENT' ? 'git is not installed' : (e.stderr ?? e.message).trim();
    throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: ${what}: ${detail}`, { cause: error });
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

async function gitAvailable(): Promise<boolean> {
  return run('git', ['--version']).then(() => true, () => false);
}

/** Reads commit facts of the clone at `dir`. */
async function commitInfo(dir: string, location: string): Promise<SourceInfo> {
  const show = await git(['-C', dir, '--no-pager', 'show', '-s', '--format=%H%n%an%n%ae%n%ad%n%s', 'HEAD'], `reading the commit of ${location}`);
  const [commitId = '', name = '', email = '', date = '', message = ''] = show.replace(/\n$/, '').split('\n');
  const ref = (await git(['-C', dir, 'rev-parse', '--abbrev-ref', 'HEAD'], `reading the branch of ${location}`)).trim();
  const origin = (await run('git', ['-C', dir, 'config', '--get', 'remote.origin.url']).then((r) => r.stdout.trim(), () => '')) || location;
  const info: SourceInfo = { location: origin, commitId, ref, message, date };
  if (name) info.author = `${name} <${email}>`;
  return info;
}

/**
 * Prepares the source: clones Git sources into `scratch` (only committed files, like s2i),
 * checks out `ref`, applies `contextDir`, and compiles the exclusions. Throws an
 * {@link S2iError} for a missing directory, a failed clone or a bad expression.
 */
export async function prepareSource(options: PrepareSourceOptions): Promise<PreparedSource> {
  const { source } = options;
  let root: string;
  let info: SourceInfo;
  const local = !looksLikeGitUrl(source);
  if (local && !(await fs.stat(source).then((s) => s.isDirectory(), () => false))) {
    throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: source ${JSON.stringify(source)} is not a directory`);
  }
  const clone = !local || (!options.copy && (await exists(path.join(source, '.git'))) && (await gitAvailable()));
  if (clone) {
    root = path.join(options.scratch, 'source');
    const recursive = options.ignoreSubmodules ? [] : ['--recursive'];
    await git(['clone', '--quiet', ...recursive, '--', local ? path.resolve(source) : source, root], `cloning ${source}`);
    if (options.ref) await git(['-C', root, 'checkout', '--quiet', options.ref, '--'], `checking out ${options.ref}`);
    info = await commitInfo(root, source);
    if (local) info.location = source;
  } else {
    if (options.ref) throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: --ref ${options.ref} needs a Git source (${source} is copied as it is)`);
    root = path.resolve(source);
    info = { location: source };
  }
  let dir = root;
  if (options.contextDir) {
    dir = path.resolve(root, options.contextDir);
    if (dir !== root && !dir.startsWith(root + path.sep)) throw new S2iError('ERR_PATH_ESCAPE', `s2i: --context-dir ${JSON.stringify(options.contextDir)} leaves the source`);
    if (!(await fs.stat(dir).then((s) => s.isDirectory(), () => false))) throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: --context-dir ${JSON.stringify(options.contextDir)} is not a directory of the source`);
    info.contextDir = options.contextDir;
  }
  let exclude: RegExp | undefined;
  const pattern = options.exclude ?? DEFAULT_EXCLUDE;
  try {
    exclude = pattern === '' ? undefined : new RegExp(pattern);
  } catch (error) {
    throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: --exclude ${JSON.stringify(pattern)}: ${(error as Error).message}`, { cause: error });
  }
  const ignored = await loadS2iIgnore(dir);
  return { dir, info, include: (p) => !(exclude?.test(p) ?? false) && !ignored(p) };
}

/** `.s2iignore` of `dir` as a predicate (nothing ignored without the file). */
async function loadS2iIgnore(dir: string): Promise<(relativePath: string) => boolean> {
  const file = path.join(dir, '.s2iignore');
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return () => false;
  let patterns: string[];
  try {
    patterns = parseDockerignore(text, { file: '.s2iignore' });
  } catch (error) {
    throw new S2iError('ERR_INVALID_ARGUMENT', `s2i: ${(error as Error).message}`, { cause: error });
  }
  // s2i does not support `!` exceptions and skips those lines.
  const matcher = createIgnoreMatcher(patterns.filter((p) => !p.startsWith('!')));
  return (p) => matcher.matches(p);
}
