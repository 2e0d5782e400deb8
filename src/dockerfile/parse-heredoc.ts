/**
 * Here-document detection for RUN, COPY and ADD, following BuildKit: the line is lexed into
 * words (quotes, escapes and unset variables kept), and each word of the form
 * `[n]<<[-]WORD` opens a here-doc whose bodies follow the instruction, in order.
 * @module
 */

import type { Heredoc, InstructionNode } from './ast.ts';
import { expandWords, WordExpansionError } from './shell.ts';

/** Instructions whose shell form may carry here-docs. */
const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const LEADING_TABS = /^\t+/gm;

const NO_ENV: ReadonlyMap<string, string> = new Map();

/** A delimiter word that cannot be lexed (an unterminated quote such as `<<'EOF`). */
export class HeredocSyntaxError extends Error {}

/** Reports whether a node may carry here-docs (ONBUILD looks at its trigger). */
export function canContainHeredoc(node: InstructionNode): boolean {
  const target = node.instruction === 'onbuild' && node.next ? node.next : node;
  return HEREDOC_INSTRUCTIONS.has(target.instruction) && !target.json;
}

/**
 * Parses one word as a here-doc opener; undefined when it is not one. Throws
 * {@link HeredocSyntaxError} when the delimiter has unbalanced quotes.
 */
export function parseHeredocWord(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === '') return undefined;
  let words: string[];
  let rawWords: string[];
  try {
    words = expandWords(rest, NO_ENV, { skipUnsetEnv: true });
    if (words.length !== 1) return undefined;
    rawWords = expandWords(rest, NO_ENV, { skipUnsetEnv: true, rawQuotes: true });
  } catch (err) {
    if (err instanceof WordExpansionError) throw new HeredocSyntaxError(err.message, { cause: err });
    throw err;
  }
  // Quotes that did any quoting appear only in the raw lexing; escaped quotes appear in both.
  const name = words[0]!;
  const expand = countQuotes(name) === countQuotes(rawWords[0] ?? '');
  return { name, expand, chomp: m[2] === '-', fileDescriptor: m[1] ? Number.parseInt(m[1], 10) : 0 };
}

/** Finds the here-doc openers on a logical line, in order. */
export function heredocsFromLine(line: string): Omit<Heredoc, 'content'>[] {
  let words: string[];
  try {
    words = expandWords(line, NO_ENV, {
      rawQuotes: true,
      rawEscapes: true,
      skipUnsetEnv: true,
      heredocOperators: true,
    });
  } catch (err) {
    // BuildKit ignores lexing errors here: such a line simply has no here-docs.
    if (err instanceof WordExpansionError) return [];
    throw err;
  }
  const docs: Omit<Heredoc, 'content'>[] = [];
  for (const word of words) {
    const doc = parseHeredocWord(word);
    if (doc) docs.push(doc);
  }
  return docs;
}

/** Strips leading tabs from every line of a `<<-` here-doc body. */
export function chompHeredocContent(content: string): string {
  return content.replace(LEADING_TABS, '');
}

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === '"' || ch === "'") n++;
  return n;
}
