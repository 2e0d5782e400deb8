/**
 * Character classes shared by the Dockerfile parser and the word expander. They follow
 * Go's `unicode` package because BuildKit's behaviour (and its test vectors) depend on it.
 * @module
 */

const WHITE_SPACE = /^\p{White_Space}$/u;
const LETTER = /^\p{L}$/u;
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Reports whether `ch` (one code point) is white space by Go's `unicode.IsSpace`. */
export function isSpace(ch: string): boolean {
  switch (ch) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case '\u0085':
    case '\u00a0':
      return true;
    default:
      // Go consults the White_Space property only above Latin-1.
      return ch.length > 0 && ch.codePointAt(0)! > 0xff && WHITE_SPACE.test(ch);
  }
}

/** Reports whether `ch` (one code point) is a letter by Go's `unicode.IsLetter`. */
export function isLetter(ch: string): boolean {
  return LETTER.test(ch);
}

/** Reports whether `ch` (one code point) is a decimal digit by Go's `unicode.IsDigit`. */
export function isDigit(ch: string): boolean {
  return DECIMAL_DIGIT.test(ch);
}

/** Removes leading white space (Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`). */
export function trimLeftSpace(s: string): string {
  let i = 0;
  for (const ch of s) {
    if (!isSpace(ch)) break;
    i += ch.length;
  }
  return s.slice(i);
}

/** Removes trailing white space (Go's `strings.TrimRightFunc(s, unicode.IsSpace)`). */
export function trimRightSpace(s: string): string {
  const chars = Array.from(s);
  let end = chars.length;
  while (end > 0 && isSpace(chars[end - 1]!)) end--;
  return chars.slice(0, end).join('');
}

/** Removes leading and trailing white space (Go's `strings.TrimSpace`). */
export function trimSpace(s: string): string {
  return trimRightSpace(trimLeftSpace(s));
}
