/**
 * The shell patterns of `${v#p}`, `${v%p}` and `${v/p/r}`, compiled to regular expressions the
 * way BuildKit's `shell/lex.go` does: `*` is any string, `?` one character, `\` escapes `*`, `?`
 * and `\` only, and every other character (brackets included) is literal. BuildKit does not
 * implement bracket expressions; neither do we, so the same Dockerfile expands the same way.
 * @module
 */

/** Characters that are literal in a shell pattern but special in a regular expression. */
const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

// Go's `.` stops only at `\n`; JavaScript's also stops at `\r`, U+2028 and U+2029.
const ANY_CHAR = '[^\\n]';

/** A pattern that cannot be compiled; the message is BuildKit's. */
export class PatternError extends Error {}

/**
 * Compiles a shell pattern. `greedy` makes `*` match the longest string, `anchored` pins the
 * match to the start of the subject.
 */
export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? `${ANY_CHAR}*` : `${ANY_CHAR}*?`;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      out += star;
    } else if (ch === '?') {
      out += ANY_CHAR;
    } else if (ch === '\\') {
      const following = chars[i + 1];
      // `\}` and `\/` are escapes of the ${} syntax, not of the pattern.
      if (following === '}' || following === '/') continue;
      if (following !== '*' && following !== '?' && following !== '\\') {
        throw new PatternError(`invalid escape '\\${following ?? ''}'`);
      }
      out += `\\${following}`;
      i++;
    } else if (REGEX_SPECIAL.has(ch)) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  }
  return new RegExp(out, 'gu');
}

/** Reverses a pattern by code points while keeping each `\x` escape pair in order. */
export function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i]!;
    const outIdx = last - i;
    if (ch === '\\' && i !== last) {
      out[outIdx - 1] = ch;
      out[outIdx] = chars[i + 1]!;
      i += 2;
    } else {
      out[outIdx] = ch;
      i++;
    }
  }
  return out.join('');
}

/** Reverses a string by code points. */
export function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

/** `${v#p}` / `${v##p}`: removes the shortest (or longest) matching prefix. */
export function trimPrefixPattern(pattern: string, value: string, greedy: boolean): string {
  const re = shellPatternToRegExp(pattern, greedy, true);
  re.lastIndex = 0;
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/**
 * `${v%p}` / `${v%%p}`: removes the shortest (or longest) matching suffix. A regular expression
 * cannot find the shortest rightmost match, so both sides are reversed and the prefix rule used.
 */
export function trimSuffixPattern(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefixPattern(reversePattern(pattern), reverseString(value), greedy));
}

/** `${v/p/r}`: replaces the first match of the pattern, the replacement taken literally. */
export function replaceFirstPattern(pattern: string, value: string, replacement: string): string {
  const re = shellPatternToRegExp(pattern, true, false);
  re.lastIndex = 0;
  const m = re.exec(value);
  if (!m) return value;
  return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
}

/** A result grew past the caller's length bound (the caller turns it into its own error). */
export class LengthLimitError extends Error {
  constructor(readonly maxLength: number) {
    super(`result longer than ${maxLength} characters`);
  }
}

/**
 * `${v//p/r}`: replaces every match like Go's `Regexp.ReplaceAllString`, which BuildKit uses:
 * an empty match right after a match is not replaced, and `$0`, `$name`, `${name}` and `$$` in
 * the replacement are template references (this pattern has no groups, so only `$0` and `$$`
 * produce text). Throws {@link LengthLimitError} as soon as the result passes `maxLength`.
 */
export function replaceAllPattern(pattern: string, value: string, replacement: string, maxLength = Infinity): string {
  const re = shellPatternToRegExp(pattern, true, false);
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const m = re.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandGoTemplate(replacement, m[0]);
    // Checked as it grows: `${v//?/$v}` would otherwise build a square of the value first.
    if (out.length > maxLength) throw new LengthLimitError(maxLength);
    lastMatchEnd = end;
    const width = searchPos < value.length ? String.fromCodePoint(value.codePointAt(searchPos)!).length : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

/** Expands a Go regexp replacement template for a match without capture groups. */
function expandGoTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (ch !== '$') {
      out += ch;
      continue;
    }
    const rest = template.slice(i + 1);
    if (rest.startsWith('$')) {
      out += '$';
      i++;
      continue;
    }
    const braced = /^\{([A-Za-z0-9_]+)\}/.exec(rest);
    const bare = /^[A-Za-z0-9_]+/.exec(rest);
    const name = braced ? braced[1]! : bare?.[0];
    if (name === undefined) {
      out += '$'; // malformed reference: Go keeps the `$` as text
      continue;
    }
    if (name === '0' || /^0+$/.test(name)) out += match;
    i += braced ? braced[0].length : name.length;
  }
  return out;
}
