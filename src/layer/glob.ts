/**
 * Small glob matcher for include/exclude patterns on relative POSIX paths (pure, no I/O).
 * `*` and `?` never cross `/`; `[...]` is a class (`[!...]`/`[^...]` negate, ranges allowed);
 * `**` as a whole segment matches zero or more segments. Patterns are anchored at the source
 * root (as in .dockerignore): write `**` + `/*.map` to match at any depth.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';

/** A compiled glob pattern. */
export interface GlobMatcher {
  /** The pattern as given. */
  readonly pattern: string;
  /** True when the relative path (no leading `/`) matches the whole pattern. */
  matches(relativePath: string): boolean;
}

function escapeRegExp(char: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(char) ? `\\${char}` : char;
}

function compileSegment(segment: string, pattern: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        throw new InvalidArgumentError(`glob ${JSON.stringify(pattern)} has an unclosed [`);
      }
      let body = segment.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      const cls = [...body].map((ch) => ('\\]^['.includes(ch) ? `\\${ch}` : ch)).join('');
      out += negate ? `[^/${cls}]` : `(?!/)[${cls}]`;
      i = end;
    } else if (c === '\\' && i + 1 < segment.length) {
      out += escapeRegExp(segment[++i]!);
    } else {
      out += escapeRegExp(c);
    }
  }
  return out;
}

/** Compiles a glob pattern. Throws `ERR_INVALID_ARGUMENT` for an unclosed `[`. */
export function compileGlob(pattern: string): GlobMatcher {
  const segments = pattern.replace(/^\.?\/+/, '').replace(/\/+$/, '').split('/').filter((s) => s !== '' && s !== '.');
  let source = '^';
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') {
      // Zero or more whole segments, including their trailing separator (or the rest of the path).
      source += last ? '.*' : '(?:[^/]+/)*';
    } else {
      source += compileSegment(segment, pattern) + (last ? '' : '/');
    }
  });
  const regexp = new RegExp(`${source}$`, 's');
  return { pattern, matches: (relativePath) => regexp.test(relativePath) };
}

/** True when any of `matchers` matches `relativePath`. */
export function matchesAny(matchers: readonly GlobMatcher[], relativePath: string): boolean {
  for (const m of matchers) if (m.matches(relativePath)) return true;
  return false;
}
