/**
 * One `.dockerignore` pattern, compiled the way moby/patternmatcher compiles it (the matcher
 * Docker and BuildKit use): `*` and `?` stop at `/`, `**` crosses directories, `[...]` classes
 * and `\` escapes as in Go's `filepath.Match`, with patternmatcher's exact, prefix (`dir/**`)
 * and suffix (`**\/name`) shortcuts kept because they decide some matches.
 * @module
 */

/** Go's `path.Clean` for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/**
 * Returns why `pattern` is malformed for Go's `filepath.Match` (which patternmatcher calls to
 * validate), or undefined when it is well formed.
 */
export function patternSyntaxError(pattern: string): string | undefined {
  const chars = Array.from(pattern);
  let i = 0;
  // One class member: a character, possibly escaped; none may start with `-` or `]`.
  const member = (): boolean => {
    const ch = chars[i];
    if (ch === undefined || ch === '-' || ch === ']') return false;
    if (ch === '\\') {
      i++;
      if (chars[i] === undefined) return false;
    }
    i++;
    return chars[i] !== undefined;
  };
  while (i < chars.length) {
    const ch = chars[i]!;
    if (ch === '\\') {
      if (i + 1 >= chars.length) return 'trailing backslash';
      i += 2;
    } else if (ch === '[') {
      i++;
      if (chars[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        if (chars[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        if (!member()) return 'malformed character class';
        if (chars[i] === '-') {
          i++;
          if (!member()) return 'malformed character range';
        }
        ranges++;
      }
    } else {
      i++;
    }
  }
  return undefined;
}

/** Regex metacharacters that are plain characters in a path pattern (patternmatcher's list plus `^`). */
const LITERAL_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$', '^']);

/** Escapes a character for use outside a class (`\-` is not a valid escape there in `u` mode). */
function escapeLiteral(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/** Escapes a character for use inside a `[...]` class. */
function escapeClassChar(ch: string): string {
  return /[\\^\]\[-]/.test(ch) ? `\\${ch}` : ch;
}

/** How a compiled pattern decides a match. */
type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** A validated, compiled pattern. */
export interface CompiledPattern {
  /** The cleaned pattern without its `!`. */
  readonly pattern: string;
  /** True for `!` (re-include) patterns. */
  readonly exclusion: boolean;
  /** Tests a cleaned, slash-separated relative path. */
  match(path: string): boolean;
}

/** Compiles a cleaned pattern (without `!`), which must have passed {@link patternSyntaxError}. */
export function compilePattern(pattern: string, exclusion: boolean): CompiledPattern {
  const chars = Array.from(pattern);
  let source = '^';
  let kind: MatchKind = 'exact';
  for (let pos = 0, token = 0; pos < chars.length; token++) {
    const ch = chars[pos++]!;
    if (ch === '*') {
      if (chars[pos] === '*') {
        pos++;
        if (chars[pos] === '/') pos++;
        if (pos >= chars.length) {
          // A trailing `**` accepts everything below, as in .gitignore.
          if (kind === 'exact') kind = 'prefix';
          else {
            source += '[^\\n]*';
            kind = 'regexp';
          }
        } else {
          source += '(?:[^\\n]*/)?';
          kind = 'regexp';
        }
        if (token === 0) kind = 'suffix';
      } else {
        source += '[^/]*';
        kind = 'regexp';
      }
    } else if (ch === '?') {
      source += '[^/]';
      kind = 'regexp';
    } else if (ch === '\\') {
      const next = chars[pos];
      if (next !== undefined) {
        source += escapeLiteral(next);
        pos++;
        kind = 'regexp';
      } else {
        source += '\\\\';
      }
    } else if (ch === '[') {
      const end = compileClass(chars, pos);
      source += end.source;
      pos = end.pos;
      kind = 'regexp';
    } else if (ch === ']') {
      source += '\\]';
      kind = 'regexp';
    } else {
      source += LITERAL_SPECIAL.has(ch) ? `\\${ch}` : escapeLiteral(ch);
    }
  }
  const regexp = kind === 'regexp' ? new RegExp(`${source}$`, 'u') : undefined;
  const match = (path: string): boolean => {
    switch (kind) {
      case 'exact':
        return path === pattern;
      case 'prefix':
        return path.startsWith(pattern.slice(0, -2));
      case 'suffix': {
        const suffix = pattern.slice(2);
        // `**/foo` also matches `foo` itself.
        return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
      }
      case 'regexp':
        return regexp!.test(path);
    }
  };
  return { pattern, exclusion, match };
}

/** Compiles a `[...]` class whose `[` is just before `start`; returns the source and the next index. */
function compileClass(chars: string[], start: number): { source: string; pos: number } {
  let pos = start;
  let source = '[';
  if (chars[pos] === '^') {
    source += '^';
    pos++;
  }
  let members = 0;
  while (pos < chars.length) {
    const ch = chars[pos]!;
    if (ch === ']' && members > 0) return { source: `${source}]`, pos: pos + 1 };
    if (ch === '\\' && pos + 1 < chars.length) {
      source += escapeClassChar(chars[pos + 1]!);
      pos += 2;
    } else if (ch === '-' && members > 0) {
      source += '-';
      pos++;
      continue;
    } else {
      source += escapeClassChar(ch);
      pos++;
    }
    members++;
  }
  // Unterminated classes were rejected by validation; close it defensively.
  return { source: `${source}]`, pos };
}
