/**
 * Prints a parsed Dockerfile in BuildKit's s-expression dump format, byte for byte, so that
 * the upstream parser vectors (`parser/testfiles/NAME/result`) can be compared directly:
 * `(copy ["--from=x"] "a" "b")`, one line per instruction, Go `%q` quoting.
 * @module
 */

import type { Dockerfile, InstructionNode } from './ast.ts';
import { isKnownInstruction } from './parse-line.ts';

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Quotes a string like Go's `strconv.Quote`. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') {
      out += `\\${ch}`;
    } else if ((c >= 0x20 && c < 0x7f) || (c >= 0x80 && !isSurrogate(c) && PRINTABLE.test(ch))) {
      out += ch;
    } else {
      out += escapeRune(c);
    }
  }
  return `${out}"`;
}

function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

function escapeRune(c: number): string {
  switch (c) {
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
  }
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  // Go cannot hold a lone surrogate in a string; it would have become U+FFFD.
  if (isSurrogate(c)) return '\\ufffd';
  if (c < 0x10000) return `\\u${c.toString(16).padStart(4, '0')}`;
  return `\\U${c.toString(16).padStart(8, '0')}`;
}

/** Dumps one instruction without the surrounding parentheses. */
export function dumpInstruction(node: InstructionNode): string {
  let out = node.instruction;
  if (node.flags.length > 0) out += ` [${node.flags.map(goQuote).join(' ')}]`;
  if (node.next) {
    out += ` (${dumpInstruction(node.next)})`;
  } else if (!isKnownInstruction(node.instruction)) {
    // BuildKit gives unknown instructions one empty argument node.
    out += ' ""';
  } else {
    for (const arg of node.args) out += ` ${goQuote(arg)}`;
  }
  return out.trim();
}

/** Dumps a whole Dockerfile: one `(...)` line per instruction, each ending in a newline. */
export function dumpAst(ast: Dockerfile): string {
  return ast.instructions.map((node) => `(${dumpInstruction(node)})\n`).join('');
}
