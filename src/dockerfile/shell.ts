/**
 * Dockerfile word expansion: quotes, escapes and `$var` / `${var...}` substitution, behaving
 * like BuildKit's `frontend/dockerfile/shell/lex.go` (its `envVarTest` and `wordsTest` vectors
 * pass). Pure: no process, no I/O.
 *
 * Supported: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?msg}`, `${v?msg}`,
 * `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`, `${v/p/r}`, `${v//p/r}`; positional and special
 * parameters (`$1`, `$@`, ...) are never set. Patterns follow BuildKit: `*`, `?` and `\`
 * escapes, brackets literal.
 * @module
 */

import { LimitExceededError, OcibuildError } from '../errors.ts';
import type { OcibuildErrorOptions } from '../errors.ts';
import type { EscapeToken } from './ast.ts';
import { isDigit, isLetter, isSpace } from './parse-text.ts';
import {
  ExpansionLimitError,
  PatternError,
  replaceAllPattern,
  replaceFirstPattern,
  trimPrefixPattern,
  trimSuffixPattern,
} from './shell-pattern.ts';

/** Variables visible to an expansion: a plain object or a Map. A present key is "set", even if empty. */
export type ExpansionEnv = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

/** Options of {@link expandWord}, {@link expandWords} and {@link expandWithMatches}. */
export interface ExpandOptions {
  /** The Dockerfile's escape character; default `\`. */
  escape?: EscapeToken;
  /** Leave references to unset variables as written (`$x`, `${x:-y}`) instead of expanding them. */
  skipUnsetEnv?: boolean;
  /** Keep quote characters in the result (they still group words). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (here-doc bodies: only `$` is special). */
  skipProcessQuotes?: boolean;
  /**
   * Keep `<<` plus following blanks glued to the next word, so that `<< EOF` lexes as one
   * word. Used by the parser to find here-doc delimiters.
   */
  heredocOperators?: boolean;
  /**
   * Longest result allowed, in UTF-16 code units; default 1 MiB (`DEFAULT_MAX_EXPANSION_LENGTH`).
   * Past it the expansion stops with a {@link WordExpansionError} whose `cause` is a
   * `LimitExceededError` (limit `maxExpansionLength`), before the text is built: a chain of
   * ARGs that doubles at each line ends there instead of exhausting memory.
   */
  maxLength?: number;
}

/** Default bound on one expanded word: 1 MiB of text (docs/limits.md). */
export const DEFAULT_MAX_EXPANSION_LENGTH = 1024 * 1024;

/** The full outcome of one expansion. */
export interface ExpansionResult {
  /** The expanded text with spaces between words preserved. */
  result: string;
  /** The expanded text split into words (quoted spaces do not split). */
  words: string[];
  /** Names of variables that were looked up and set (for cache keys: "env vars used"). */
  matched: Set<string>;
  /** Names of variables that were looked up and not set. */
  unmatched: Set<string>;
}

/** A word could not be expanded (unterminated quote, bad substitution, `${v?msg}` on unset v). */
export class WordExpansionError extends OcibuildError {
  /** The word as given. */
  readonly word: string;
  constructor(word: string, reason: string, options: OcibuildErrorOptions = {}) {
    super('ERR_DOCKERFILE', `failed to process ${JSON.stringify(word)}: ${reason}`, options);
    this.word = word;
  }
}

/** Expands one word and returns the text (spaces kept). Throws {@link WordExpansionError}. */
export function expandWord(word: string, env: ExpansionEnv, options: ExpandOptions = {}): string {
  return expandWithMatches(word, env, options).result;
}

/** Expands a word and splits the result into words. Throws {@link WordExpansionError}. */
export function expandWords(word: string, env: ExpansionEnv, options: ExpandOptions = {}): string[] {
  return expandWithMatches(word, env, options).words;
}

/** Expands a word and reports which variables it used. Throws {@link WordExpansionError}. */
export function expandWithMatches(word: string, env: ExpansionEnv, options: ExpandOptions = {}): ExpansionResult {
  const lexer = new Lexer(word, env, options);
  try {
    const { result, words } = lexer.processStopOn(undefined, options.rawEscapes ?? false);
    return { result, words, matched: lexer.matched, unmatched: lexer.unmatched };
  } catch (err) {
    if (err instanceof SyntaxProblem) throw new WordExpansionError(word, err.message);
    if (err instanceof ExpansionLimitError) {
      const what =
        err.limit === 'maxExpansionLength' ? `expansion is longer than ${err.value} characters` : `pattern matching takes more than ${err.value} steps`;
      const limit = new LimitExceededError(err.limit, err.value, `${what} (limit ${err.limit})`);
      throw new WordExpansionError(shorten(word), limit.message, { cause: limit });
    }
    throw err;
  }
}

/** The word for a message: a hostile one can be long itself. */
function shorten(word: string): string {
  return word.length <= 200 ? word : `${word.slice(0, 200)}...`;
}

/** Internal failure carrying BuildKit's message; wrapped into {@link WordExpansionError}. */
class SyntaxProblem extends Error {}

/** Accumulates words the way BuildKit's `wordsStruct` does. */
class WordCollector {
  private buf = '';
  private inWord = false;
  private readonly words: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.length > 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** A scanner over code points with BuildKit's expansion rules. */
class Lexer {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly chars: string[];
  private pos = 0;
  private readonly escape: string;
  private rawEscapes: boolean;
  private readonly maxLength: number;

  constructor(
    word: string,
    private readonly env: ExpansionEnv,
    private readonly options: ExpandOptions,
  ) {
    this.chars = Array.from(word);
    this.escape = options.escape ?? '\\';
    this.rawEscapes = options.rawEscapes ?? false;
    this.maxLength = options.maxLength ?? DEFAULT_MAX_EXPANSION_LENGTH;
  }

  /** Returns `text`, or throws when it is past the length bound. */
  private bounded(text: string): string {
    if (text.length > this.maxLength) throw new ExpansionLimitError('maxExpansionLength', this.maxLength);
    return text;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  /** Reads until `stop` (consumed) or the end; `rawEscapes` applies for the duration of the call. */
  processStopOn(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new WordCollector();
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (stop !== undefined && ch === stop) {
          this.next();
          return { result, words: words.finish() };
        }
        const special = this.specialHandler(ch);
        if (special) {
          const text = special();
          result = this.bounded(result + text);
          // Expanded values are split on spaces; quoted text stays one word.
          if (ch === '$') words.addString(text);
          else words.addRawString(text);
          continue;
        }
        let c = this.next()!;
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          const escaped = this.next();
          if (escaped === undefined) break; // an escape at the end is dropped
          c = escaped;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
      if (stop !== undefined) throw new SyntaxProblem(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private specialHandler(ch: string): (() => string) | undefined {
    if (ch === '$') return () => this.processDollar();
    if (!this.options.skipProcessQuotes) {
      if (ch === "'") return () => this.processSingleQuote();
      if (ch === '"') return () => this.processDoubleQuote();
    }
    if (ch === '<' && this.options.heredocOperators) return () => this.processHeredocOperator();
    return undefined;
  }

  /** Single quotes: everything literal up to the next `'`; nothing can be escaped. */
  private processSingleQuote(): string {
    const raw = this.options.rawQuotes ?? false;
    let result = raw ? this.next()! : (this.next(), '');
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new SyntaxProblem('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return raw ? result + ch : result;
      result += ch;
    }
  }

  /** Double quotes: `$` expands; the escape character escapes only `"`, `$` and itself. */
  private processDoubleQuote(): string {
    const raw = this.options.rawQuotes ?? false;
    let result = raw ? this.next()! : (this.next(), '');
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) {
        throw new SyntaxProblem('unexpected end of statement while looking for matching double-quote');
      }
      if (peeked === '"') {
        this.next();
        return raw ? result + '"' : result;
      }
      if (peeked === '$') {
        result = this.bounded(result + this.processDollar());
        continue;
      }
      let ch = this.next()!;
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const following = this.peek();
        if (following === undefined) continue;
        if (following === '"' || following === '$' || following === this.escape) ch = this.next()!;
      }
      result += ch;
    }
  }

  /** `<<` followed by blanks, kept together so the delimiter word joins it. */
  private processHeredocOperator(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let result = '<<';
    for (let ch = this.peek(); ch === ' ' || ch === '\t'; ch = this.peek()) result += this.next()!;
    return result;
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const { value, set } = this.getEnv(name);
      if (!set && this.options.skipUnsetEnv) return `$${name}`;
      return value;
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new SyntaxProblem("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new SyntaxProblem('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let modifier = ch ?? '';
    if (ch === '}') {
      const { value, set } = this.getEnv(name);
      if (!set && this.options.skipUnsetEnv) return `\${${name}}`;
      return value;
    }
    if (ch === '/') return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch ?? '';
    } else if (ch !== '+' && ch !== '-' && ch !== '?' && ch !== '#' && ch !== '%') {
      throw new SyntaxProblem(`unsupported modifier (${modifier}) in substitution`);
    }
    const isTrim = ch === '#' || ch === '%';
    if (nullIsUnset && isTrim) throw new SyntaxProblem(`unsupported modifier (${modifier}) in substitution`);
    let word = this.readUntilBrace(isTrim);
    const { value, set } = this.getEnv(name);
    if (this.options.skipUnsetEnv && !set) return `\${${name}${modifier}${word}}`;
    const empty = !set || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return empty ? word : value;
      case '+':
        return empty ? '' : word;
      case '?':
        if (!set) throw new SyntaxProblem(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') {
          throw new SyntaxProblem(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        }
        return value;
      case '#':
      case '%': {
        // A doubled operator (`##`, `%%`) asks for the longest match.
        const greedy = word.startsWith(ch);
        if (greedy) word = word.slice(1);
        return this.withPattern(word, () =>
          ch === '%' ? trimSuffixPattern(word, value, greedy) : trimPrefixPattern(word, value, greedy),
        );
      }
      default:
        throw new SyntaxProblem(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`; the `/` is consumed. */
  private processReplace(name: string): string {
    const replaceAll = this.peek() === '/';
    if (replaceAll) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).result;
    } catch (err) {
      if (err instanceof SyntaxProblem && this.peek() === undefined) {
        throw new SyntaxProblem("syntax error: missing '/' in ${}");
      }
      throw err;
    }
    const replacement = this.readUntilBrace(true);
    const { value, set } = this.getEnv(name);
    if (this.options.skipUnsetEnv && !set) return `\${${name}/${pattern}/${replacement}}`;
    return this.withPattern(pattern, () =>
      this.bounded(replaceAll ? replaceAllPattern(pattern, value, replacement, this.maxLength) : replaceFirstPattern(pattern, value, replacement)),
    );
  }

  private readUntilBrace(rawEscapes: boolean): string {
    try {
      return this.processStopOn('}', rawEscapes).result;
    } catch (err) {
      if (err instanceof SyntaxProblem && this.peek() === undefined) throw new SyntaxProblem("syntax error: missing '}'");
      throw err;
    }
  }

  private withPattern(pattern: string, fn: () => string): string {
    try {
      return fn();
    } catch (err) {
      if (err instanceof PatternError) {
        throw new SyntaxProblem(`invalid pattern (${pattern}) in substitution: ${err.message}`);
      }
      throw err;
    }
  }

  /** A name: letters, digits and `_`; or all leading digits; or one special parameter. */
  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== undefined && isDigit(this.peek()!)) name += this.next()!;
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next()!;
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next()!;
    }
    return name;
  }

  private getEnv(name: string): { value: string; set: boolean } {
    const env = this.env;
    let value: string | undefined;
    if (env instanceof Map) value = env.get(name);
    else if (Object.hasOwn(env, name)) value = (env as Readonly<Record<string, string>>)[name];
    if (value === undefined) {
      this.unmatched.add(name);
      return { value: '', set: false };
    }
    this.matched.add(name);
    return { value, set: true };
  }
}
