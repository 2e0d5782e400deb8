/**
 * The shell patterns of `${v#p}`, `${v%p}` and `${v/p/r}`, with BuildKit's rules (`shell/lex.go`):
 * `*` is any string, `?` one character, `\` escapes `*`, `?` and `\` only, and every other
 * character (brackets included) is literal; neither `*` nor `?` matches a newline (BuildKit
 * compiles to a Go regexp, whose `.` stops at `\n`). BuildKit does not implement bracket
 * expressions; neither do we, so the same Dockerfile expands the same way.
 *
 * Matching is a Pike VM over the pattern's tokens: the same leftmost-first, greedy-or-lazy
 * match a backtracking regular expression finds, in O(value x pattern) steps. A JavaScript
 * RegExp backtracks exponentially on `${v#*a*a*a*b}` (40 s for a 1,000-character value), so a
 * Dockerfile could hang the build; Go's regexp, which BuildKit uses, does not backtrack either.
 * The steps of one expansion are bounded too ({@link MAX_PATTERN_STEPS}).
 * @module
 */

/** A pattern that cannot be compiled; the message is BuildKit's. */
export class PatternError extends Error {}

/** A bound of the expansion was passed (the caller turns it into its own error). */
export class ExpansionLimitError extends Error {
  constructor(
    readonly limit: 'maxExpansionLength' | 'maxPatternSteps',
    readonly value: number,
  ) {
    super(`${limit} ${value} exceeded`);
  }
}

/** Most matcher steps (threads advanced by one character) for one pattern operation. */
export const MAX_PATTERN_STEPS = 100_000_000;

type Token = { kind: 'literal'; ch: string } | { kind: 'any' } | { kind: 'star' };

/** Compiles a pattern to tokens; consecutive stars collapse (they match the same strings). */
function compile(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const out: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (out[out.length - 1]?.kind !== 'star') out.push({ kind: 'star' });
    } else if (ch === '?') {
      out.push({ kind: 'any' });
    } else if (ch === '\\') {
      const following = chars[i + 1];
      // `\}` and `\/` are escapes of the ${} syntax, not of the pattern.
      if (following === '}' || following === '/') continue;
      if (following !== '*' && following !== '?' && following !== '\\') {
        throw new PatternError(`invalid escape '\\${following ?? ''}'`);
      }
      out.push({ kind: 'literal', ch: following });
      i++;
    } else {
      out.push({ kind: 'literal', ch });
    }
  }
  return out;
}

/** A subject split into code points, with the UTF-16 offset of each for slicing. */
class Subject {
  readonly points: string[];
  readonly offsets: Uint32Array;
  constructor(readonly text: string) {
    this.points = Array.from(text);
    this.offsets = new Uint32Array(this.points.length + 1);
    let at = 0;
    this.points.forEach((p, i) => {
      this.offsets[i] = at;
      at += p.length;
    });
    this.offsets[this.points.length] = at;
  }
  slice(from: number, to?: number): string {
    return this.text.slice(this.offsets[from], to === undefined ? undefined : this.offsets[to]);
  }
}

/** Steps left for one pattern operation. */
interface Budget {
  steps: number;
}

/**
 * Finds the match a backtracking regex (`*` greedy or lazy, leftmost-first) would find, starting
 * at code point `from` (only there when `anchored`). Returns [start, end) in code points.
 */
function search(tokens: Token[], greedy: boolean, subject: Subject, from: number, anchored: boolean, budget: Budget): [number, number] | undefined {
  const accept = tokens.length;
  const points = subject.points;
  const seen = new Uint32Array(accept + 1);
  let generation = 1;
  type Thread = { state: number; start: number };
  // Adds a thread and what it reaches without consuming, in priority order.
  const add = (list: Thread[], state: number, start: number): void => {
    if (seen[state] === generation) return;
    seen[state] = generation;
    if (state < accept && tokens[state]!.kind === 'star') {
      // A star either takes one more character (stay) or stops (next); greedy prefers taking.
      if (greedy) {
        list.push({ state, start });
        add(list, state + 1, start);
      } else {
        add(list, state + 1, start);
        list.push({ state, start }); // the closure only moves forward: it never reaches `state` again
      }
      return;
    }
    list.push({ state, start });
  };
  let current: Thread[] = [];
  add(current, 0, from);
  let match: [number, number] | undefined;
  for (let p = from; ; p++) {
    generation++;
    const next: Thread[] = [];
    const ch = points[p];
    for (const { state, start } of current) {
      if (--budget.steps < 0) throw new ExpansionLimitError('maxPatternSteps', MAX_PATTERN_STEPS);
      if (state === accept) {
        match = [start, p];
        break; // lower-priority threads lose to this match
      }
      if (ch === undefined) continue;
      const token = tokens[state]!;
      if (token.kind === 'literal' ? token.ch === ch : ch !== '\n') add(next, token.kind === 'star' ? state : state + 1, start);
    }
    if (ch === undefined) break;
    if (match === undefined && !anchored) add(next, 0, p + 1);
    if (next.length === 0) break;
    current = next;
  }
  return match;
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
  const subject = new Subject(value);
  const m = search(compile(pattern), greedy, subject, 0, true, { steps: MAX_PATTERN_STEPS });
  return m ? subject.slice(m[1]) : value;
}

/**
 * `${v%p}` / `${v%%p}`: removes the shortest (or longest) matching suffix: both sides are
 * reversed and the prefix rule used, as the regex-based original had to.
 */
export function trimSuffixPattern(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefixPattern(reversePattern(pattern), reverseString(value), greedy));
}

/** `${v/p/r}`: replaces the first match of the pattern, the replacement taken literally. */
export function replaceFirstPattern(pattern: string, value: string, replacement: string): string {
  const subject = new Subject(value);
  const m = search(compile(pattern), true, subject, 0, false, { steps: MAX_PATTERN_STEPS });
  if (!m) return value;
  return subject.slice(0, m[0]) + replacement + subject.slice(m[1]);
}

/**
 * `${v//p/r}`: replaces every match like Go's `Regexp.ReplaceAllString`, which BuildKit uses:
 * an empty match right after a match is not replaced, and `$0`, `$name`, `${name}` and `$$` in
 * the replacement are template references (this pattern has no groups, so only `$0` and `$$`
 * produce text). Throws {@link ExpansionLimitError} as soon as the result passes `maxLength`.
 */
export function replaceAllPattern(pattern: string, value: string, replacement: string, maxLength = Infinity): string {
  const tokens = compile(pattern);
  const subject = new Subject(value);
  const n = subject.points.length;
  const budget = { steps: MAX_PATTERN_STEPS };
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= n) {
    const m = search(tokens, true, subject, searchPos, false, budget);
    if (!m) break;
    const [start, end] = m;
    out += subject.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandGoTemplate(replacement, subject.slice(start, end));
    // Checked as it grows: `${v//?/$v}` would otherwise build a square of the value first.
    if (out.length > maxLength) throw new ExpansionLimitError('maxExpansionLength', maxLength);
    lastMatchEnd = end;
    searchPos = searchPos + 1 > end ? searchPos + 1 : end;
  }
  return out + subject.slice(lastMatchEnd);
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
