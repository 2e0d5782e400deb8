/**
 * `.dockerignore` files: reading them like BuildKit's `dockerignore.ReadAll`, matching paths
 * like moby/patternmatcher (`MatchesOrParentMatches`, last match wins, `!` re-includes), and
 * choosing between `<Dockerfile>.dockerignore` and `<context>/.dockerignore`.
 *
 * The rules apply to the build context only, never to `COPY --from` sources.
 * @module
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { DockerfileError, InvalidArgumentError, OcibuildError } from '../errors.ts';
import { cleanPath, compilePattern, patternSyntaxError } from './ignore-pattern.ts';
import type { CompiledPattern } from './ignore-pattern.ts';
import { trimSpace } from './parse-text.ts';

export { cleanPath } from './ignore-pattern.ts';

/**
 * Options of {@link parseDockerignore}.
 * @category Dockerfile
 */
export interface ParseDockerignoreOptions {
  /** File name used in error messages; default `.dockerignore`. */
  file?: string;
}

/**
 * Reads the patterns of a `.dockerignore` file: a BOM is dropped, lines starting with `#` are
 * comments (only in the first column), blank lines are skipped, each pattern is trimmed and
 * cleaned (`filepath.Clean`), a leading `/` is removed, `!` marks an exception. Throws
 * {@link DockerfileError} with the file and line of a malformed pattern.
 * @example
 * ```ts
 * import { parseDockerignore } from 'ocibuild';
 *
 * parseDockerignore('# comment\nnode_modules\n!node_modules/keep\n'); // ['node_modules', '!node_modules/keep']
 * ```
 * @category Dockerfile
 */
export function parseDockerignore(text: string, options: ParseDockerignoreOptions = {}): string[] {
  const file = options.file ?? '.dockerignore';
  const patterns: string[] = [];
  const lines = (text.startsWith('\ufeff') ? text.slice(1) : text).split('\n');
  for (const [index, rawLine] of lines.entries()) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.startsWith('#')) continue;
    let pattern = trimSpace(line);
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = trimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    const full = invert ? `!${pattern}` : pattern;
    const problem = describePatternProblem(full);
    if (problem) throw new DockerfileError({ file, line: index + 1 }, problem);
    patterns.push(full);
  }
  return patterns;
}

/** Returns why a pattern (with optional `!`) would be rejected, or undefined. */
function describePatternProblem(pattern: string): string | undefined {
  const cleaned = cleanPath(trimSpace(pattern));
  if (cleaned === '!') return 'illegal exclusion pattern: "!"';
  const body = cleaned.startsWith('!') ? cleaned.slice(1) : cleaned;
  const problem = patternSyntaxError(body);
  return problem ? `syntax error in pattern ${JSON.stringify(pattern)}: ${problem}` : undefined;
}

/** Decides which context paths a set of `.dockerignore` patterns excludes. */
export interface IgnoreMatcher {
  /** The compiled patterns, in order. */
  readonly patterns: readonly CompiledPattern[];
  /** True when some pattern is a `!` exception. */
  readonly hasExclusions: boolean;
  /**
   * Reports whether a context-relative, slash-separated path is excluded. A path is also
   * excluded when one of its parent directories matches, unless a later `!` pattern matches
   * it; the last matching pattern wins. `isDir` is accepted for symmetry with walkers: like
   * Docker, a trailing `/` in a pattern is cleaned away, so files and directories match alike.
   * The context root (`.`) is never excluded.
   */
  matches(relPath: string, isDir?: boolean): boolean;
  /**
   * For an excluded directory, reports whether some `!` pattern could re-include something
   * under it, i.e. whether a walker must still descend. False means the whole subtree can be
   * skipped (BuildKit's fsutil makes the same decision, conservatively true for wildcards).
   */
  mayReincludeUnder(dir: string): boolean;
}

/** Characters that make an exception pattern impossible to reason about by prefix. */
const WILDCARD_CHARS = /[*[\]?^\\]/;

/**
 * Builds a matcher from patterns as {@link parseDockerignore} returns them (they may also be
 * written by hand). Throws an `ERR_INVALID_ARGUMENT` {@link OcibuildError} for a malformed one.
 */
export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const compiled: CompiledPattern[] = [];
  for (const raw of patterns) {
    let p = trimSpace(raw);
    if (p === '') continue;
    const problem = describePatternProblem(p);
    if (problem) throw new InvalidArgumentError(problem);
    p = cleanPath(p);
    const exclusion = p.startsWith('!');
    compiled.push(compilePattern(exclusion ? p.slice(1) : p, exclusion));
  }
  const hasExclusions = compiled.some((p) => p.exclusion);
  const prefixOnly = !compiled.some((p) => p.exclusion && WILDCARD_CHARS.test(p.pattern));

  return {
    patterns: compiled,
    hasExclusions,
    matches(relPath: string): boolean {
      const file = normalizeRelative(relPath);
      if (file === '.') return false;
      const slash = file.lastIndexOf('/');
      const parentDirs = slash < 0 ? [] : file.slice(0, slash).split('/');
      let matched = false;
      for (const pattern of compiled) {
        // An include cannot change an already excluded path, nor an exception an included one.
        if (pattern.exclusion !== matched) continue;
        let match = pattern.match(file);
        for (let i = 0; !match && i < parentDirs.length; i++) {
          match = pattern.match(parentDirs.slice(0, i + 1).join('/'));
        }
        if (match) matched = !pattern.exclusion;
      }
      return matched;
    },
    mayReincludeUnder(dir: string): boolean {
      if (!hasExclusions) return false;
      if (!prefixOnly) return true;
      const prefix = `${normalizeRelative(dir)}/`;
      return compiled.some((p) => p.exclusion && `${p.pattern}/`.startsWith(prefix));
    },
  };
}

function normalizeRelative(p: string): string {
  const cleaned = cleanPath(p);
  if (cleaned === '/') return '.';
  return cleaned.startsWith('/') ? cleaned.slice(1) : cleaned;
}

/**
 * The ignore files that apply to a build, most specific first: `<Dockerfile>.dockerignore`
 * next to the Dockerfile, then `<context>/.dockerignore`. Paths are resolved against the
 * current directory, like `docker build -f`.
 */
export function ignoreFileCandidates(contextDir: string, dockerfilePath?: string): string[] {
  const candidates: string[] = [];
  if (dockerfilePath !== undefined) candidates.push(`${path.resolve(dockerfilePath)}.dockerignore`);
  candidates.push(path.join(path.resolve(contextDir), '.dockerignore'));
  return candidates;
}

/**
 * Picks the ignore file that applies, given which files exist (`contextFiles`: paths or a
 * predicate). `<Dockerfile>.dockerignore` takes precedence over `<context>/.dockerignore`.
 * Returns undefined when neither exists.
 */
export function selectIgnoreFile(
  dockerfilePath: string | undefined,
  contextFiles: Iterable<string> | ((file: string) => boolean),
  contextDir = '.',
): string | undefined {
  const exists =
    typeof contextFiles === 'function'
      ? contextFiles
      : ((set) => (file: string) => set.has(file))(new Set(Array.from(contextFiles, (f) => path.resolve(f))));
  return ignoreFileCandidates(contextDir, dockerfilePath).find((candidate) => exists(candidate));
}

/** What {@link loadDockerignore} found. */
export interface LoadedDockerignore {
  /** The ignore file that was read, or undefined when there is none. */
  file: string | undefined;
  /** Its patterns (empty when there is no file). */
  patterns: string[];
}

/**
 * Reads the ignore file that applies to a build (see {@link selectIgnoreFile}) and parses it.
 * The only I/O of this module. A missing file is not an error; a malformed pattern is a
 * {@link DockerfileError} naming the ignore file and line.
 */
export async function loadDockerignore(contextDir: string, dockerfilePath?: string): Promise<LoadedDockerignore> {
  for (const candidate of ignoreFileCandidates(contextDir, dockerfilePath)) {
    let text: string;
    try {
      text = await readFile(candidate, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new InvalidArgumentError(`cannot read ${candidate}: ${code ?? String(err)}`, { cause: err });
    }
    return { file: candidate, patterns: parseDockerignore(text, { file: candidate }) };
  }
  return { file: undefined, patterns: [] };
}
