/**
 * COPY/ADD source wildcards with Go `filepath.Match` rules: `*` is any run of non-`/`
 * characters, `?` one non-`/` character, `[...]` a class (`[^...]` negated, ranges `a-z`),
 * `\` escapes the next character. Patterns are expanded one path segment at a time against a
 * directory lister, so the same code serves the build context and another stage's files.
 * @module
 */

import { InvalidArgumentError } from '../errors.ts';

/** Reports whether a source word contains wildcard characters (escaped ones excluded). */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Compiles one path segment pattern to an anchored RegExp. Throws `ERR_INVALID_ARGUMENT` on a bad pattern. */
export function compileSegmentPattern(pattern: string): RegExp {
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= pattern.length) throw new InvalidArgumentError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      out += escapeChar(pattern[i] as string);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      let first = true;
      for (; j < pattern.length && (pattern[j] !== ']' || first); j++) {
        first = false;
        let ch = pattern[j] as string;
        if (ch === '\\') {
          j++;
          ch = pattern[j] ?? '';
        }
        if (ch === '') break;
        if (pattern[j + 1] === '-' && pattern[j + 2] !== undefined && pattern[j + 2] !== ']') {
          let hi = pattern[j + 2] as string;
          let skip = 2;
          if (hi === '\\') {
            hi = pattern[j + 3] ?? '';
            skip = 3;
          }
          if (hi === '' || hi < ch) throw new InvalidArgumentError(`syntax error in pattern ${JSON.stringify(pattern)}`);
          cls += `${escapeClass(ch)}-${escapeClass(hi)}`;
          j += skip;
        } else {
          cls += escapeClass(ch);
        }
      }
      if (j >= pattern.length || cls === '' || cls === '^') throw new InvalidArgumentError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      out += cls.startsWith('^') ? `(?!/)[${cls}]` : `[${cls}]`;
      i = j;
    } else {
      out += escapeChar(c);
    }
  }
  return new RegExp(`${out}$`, 's');
}

function escapeChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function escapeClass(c: string): string {
  return /[\\\]^-]/.test(c) ? `\\${c}` : c;
}

/** Removes `\` escapes from a non-wildcard segment. */
export function unescapeSegment(segment: string): string {
  return segment.replace(/\\(.)/gs, '$1');
}

/**
 * Expands a slash-separated relative pattern segment by segment. `list(dir)` returns the names
 * in a directory (`''` is the root) or undefined when it is not a directory. Returns matching
 * relative paths, sorted; a segment without wildcards must exist to match.
 */
export async function expandPattern(
  pattern: string,
  list: (dir: string) => Promise<string[] | undefined>,
  exists: (p: string) => Promise<boolean>,
): Promise<string[]> {
  const segments = pattern.split('/').filter((s) => s !== '' && s !== '.');
  let current: string[] = [''];
  for (const segment of segments) {
    const next: string[] = [];
    if (!containsWildcards(segment)) {
      const name = unescapeSegment(segment);
      for (const dir of current) {
        const p = dir === '' ? name : `${dir}/${name}`;
        if (await exists(p)) next.push(p);
      }
    } else {
      const re = compileSegmentPattern(segment);
      for (const dir of current) {
        const names = await list(dir);
        if (!names) continue;
        for (const name of names) if (re.test(name)) next.push(dir === '' ? name : `${dir}/${name}`);
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current.filter((p) => p !== '' || segments.length === 0).sort();
}

/**
 * Compiles a whole relative path pattern the way BuildKit's `--parents` include patterns are
 * matched (moby/patternmatcher): `**` followed by `/` matches any number of directories,
 * zero included; a trailing `**` matches everything below; `*`, `?`, `[...]` and `\` escapes
 * stay within one path segment as in {@link compileSegmentPattern}.
 */
export function compileDeepPattern(pattern: string): RegExp {
  let out = '^';
  const segments = pattern.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '**') {
      out += last ? '.*' : '(?:.*/)?';
      continue;
    }
    const body = compileSegmentPattern(segment.replace(/\*\*+/g, '*')).source.slice(1, -1);
    out += body + (last ? '' : '/');
  }
  return new RegExp(`${out}$`, 's');
}
