/**
 * The pattern matcher of `${v#p}`, `${v%p}`, `${v/p/r}` (src/dockerfile/shell-pattern.ts) finds
 * exactly what a backtracking regular expression finds (the semantics of Go's regexp, which
 * BuildKit uses), checked against JavaScript's RegExp on thousands of random small cases with
 * newlines and astral characters; and it stays fast where RegExp backtracks for minutes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitExceededError } from '../../src/errors.ts';
import { expandWord } from '../../src/dockerfile/shell.ts';
import { replaceAllPattern, replaceFirstPattern, trimPrefixPattern, trimSuffixPattern } from '../../src/dockerfile/shell-pattern.ts';

/** The reference: the pattern as a RegExp, as the implementation before this one compiled it. */
function toRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  let out = anchored ? '^' : '';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') out += greedy ? '[^\\n]*' : '[^\\n]*?';
    else if (ch === '?') out += '[^\\n]';
    else if (ch === '\\') out += `\\${chars[++i]}`;
    else out += ch.replace(/[[\]{}.+()|^$]/g, '\\$&');
  }
  return new RegExp(out, 'gu');
}

const reference = {
  trimPrefix(pattern: string, value: string, greedy: boolean): string {
    const m = toRegExp(pattern, greedy, true).exec(value);
    return m ? value.slice(m.index + m[0].length) : value;
  },
  replaceFirst(pattern: string, value: string, replacement: string): string {
    const m = toRegExp(pattern, true, false).exec(value);
    return m ? value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length) : value;
  },
  replaceAll(pattern: string, value: string, replacement: string): string {
    const re = toRegExp(pattern, true, false);
    let out = '';
    let last = 0;
    let pos = 0;
    while (pos <= value.length) {
      re.lastIndex = pos;
      const m = re.exec(value);
      if (!m) break;
      const end = m.index + m[0].length;
      out += value.slice(last, m.index);
      if (end > last || m.index === 0) out += replacement;
      last = end;
      const width = pos < value.length ? String.fromCodePoint(value.codePointAt(pos)!).length : 1;
      pos = pos + width > end ? pos + width : end;
    }
    return out + value.slice(last);
  },
};

/** A small deterministic generator (no flaky failures). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('shell patterns', () => {
  it('match exactly as a backtracking regular expression on random cases', () => {
    const next = random(42);
    const pick = <T,>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const valueChars = ['a', 'a', 'b', 'c', '\n', 'é', '😀', '*'];
    const patternParts = ['a', 'b', 'c', '*', '*', '?', '\\*', '\\?', '😀', '\n'];
    for (let i = 0; i < 3000; i++) {
      const value = Array.from({ length: Math.floor(next() * 10) }, () => pick(valueChars)).join('');
      const pattern = Array.from({ length: Math.floor(next() * 5) }, () => pick(patternParts)).join('');
      const what = `pattern ${JSON.stringify(pattern)} value ${JSON.stringify(value)}`;
      for (const greedy of [false, true]) {
        assert.equal(trimPrefixPattern(pattern, value, greedy), reference.trimPrefix(pattern, value, greedy), `# ${greedy} ${what}`);
      }
      assert.equal(replaceFirstPattern(pattern, value, '<>'), reference.replaceFirst(pattern, value, '<>'), `/ ${what}`);
      assert.equal(replaceAllPattern(pattern, value, '<>'), reference.replaceAll(pattern, value, '<>'), `// ${what}`);
    }
    assert.equal(trimSuffixPattern('*.', 'a.b.c.', false), 'a.b.c');
  });

  it('stay fast where a RegExp backtracks exponentially', () => {
    const env = { a: 'a'.repeat(20_000) };
    const start = performance.now();
    for (const word of ['${a#*a*a*a*a*b}', '${a##*a*a*a*a*b}', '${a%*a*a*a*a*b}', '${a/*a*a*a*b/x}', '${a//*a*a*a*b/x}']) {
      assert.equal(expandWord(word, env), env.a, word);
    }
    // The same five on 1,000 characters take RegExp minutes; here well under the test timeout.
    assert.ok(performance.now() - start < 20_000, `${(performance.now() - start).toFixed(0)} ms`);
  });

  it('bound the steps of one operation', () => {
    // 1 MiB value x a long pattern of stars and literals: over the step budget, a typed error.
    const env = { a: 'a'.repeat(1 << 20) };
    const pattern = Array.from({ length: 200 }, () => '*a').join('') + 'b';
    assert.throws(
      () => expandWord(`\${a#${pattern}}`, env),
      (e: unknown) => (e as { cause?: unknown }).cause instanceof LimitExceededError && ((e as { cause: LimitExceededError }).cause.limit === 'maxPatternSteps'),
    );
  });
});
