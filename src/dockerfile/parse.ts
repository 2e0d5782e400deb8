/**
 * The Dockerfile parser: text in, {@link Dockerfile} syntax tree out. It follows BuildKit's
 * `frontend/dockerfile/parser` line by line (directives, continuations, comments inside
 * continuations, empty continuation lines, JSON forms with shell fallback, here-docs), so the
 * upstream vectors in `test/vectors/buildkit-dockerfile/parser` hold. Like BuildKit's
 * parser it accepts unknown instruction names; {@link parseInstructions} rejects them.
 * @module
 */

import { DockerfileError } from '../errors.ts';
import type { Dockerfile, EscapeToken, InstructionNode, ParserDirective, ParseWarning } from './ast.ts';
import { canContainHeredoc, heredocsFromLine, HeredocSyntaxError } from './parse-heredoc.ts';
import { nodeFromLine } from './parse-line.ts';
import { trimLeftSpace, trimSpace } from './parse-text.ts';

/**
 * Options of {@link parseDockerfile}.
 * @category Dockerfile
 */
export interface ParseOptions {
  /** File name for error messages and `Dockerfile.file`; default `Dockerfile`. */
  file?: string;
}

// Go's `\s` is [\t\n\f\r ]; `.` does not match `\n`.
const DIRECTIVE = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const BOM = '\ufeff';

/**
 * Parser directives are only recognised while every line so far was a directive: the first
 * other line (blank, comment or instruction) ends the search, as BuildKit does.
 */
class DirectiveState {
  escape: EscapeToken = '\\';
  continuation = continuationRegExp('\\');
  readonly directives: ParserDirective[] = [];
  private done = false;

  /** Returns true when `line` was consumed as a directive. */
  check(line: string, lineNumber: number, file: string): boolean {
    if (this.done) return false;
    const m = DIRECTIVE.exec(line);
    const name = m?.[1]?.toLowerCase();
    if (!m || name === undefined || !KNOWN_DIRECTIVES.has(name)) {
      this.done = true;
      return false;
    }
    if (this.directives.some((d) => d.name === name)) {
      throw new DockerfileError({ file, line: lineNumber }, `only one ${name} parser directive can be used`);
    }
    const value = m[2]!;
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') {
        throw new DockerfileError(
          { file, line: lineNumber },
          `invalid escape token '${value}' does not match \` or \\`,
        );
      }
      this.escape = value;
      this.continuation = continuationRegExp(value);
    }
    this.directives.push({ name: name as ParserDirective['name'], value, line: lineNumber });
    return true;
  }
}

/**
 * The escape character as last non-blank character continues the line, unless it is itself
 * escaped by a preceding escape character (the pattern cannot see `\\\` as a continuation,
 * exactly like BuildKit's).
 */
function continuationRegExp(escape: EscapeToken): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

/** Splits into lines that keep their `\n` (here-doc bodies are kept byte for byte). */
function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function trimNewline(line: string): string {
  return line.replace(/[\r\n]+$/, '');
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith('#');
}

/**
 * Parses Dockerfile text. Throws {@link DockerfileError} (with file and line) for directive
 * misuse, an ENV/LABEL without value, a JSON array with non-string elements, an unterminated
 * here-doc, or a file without any instruction.
 * @example
 * ```ts
 * import { parseDockerfile } from 'ocibuild';
 *
 * const dockerfile = parseDockerfile('FROM busybox\nRUN echo hi\n', { file: 'Dockerfile' });
 * for (const node of dockerfile.instructions) console.log(node.startLine, node.name, node.args);
 * ```
 * @category Dockerfile
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): Dockerfile {
  const file = options.file ?? 'Dockerfile';
  const lines = splitLines(text.startsWith(BOM) ? text.slice(1) : text);
  const state = new DirectiveState();
  const instructions: InstructionNode[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];
  let index = 0;
  let currentLine = 0;

  /** BuildKit's processLine: strip the line ending (and leading space), drop comments. */
  const processLine = (raw: string, stripLeft: boolean, lineNumber: number): { text: string; directive: boolean } => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    const directive = state.check(token, lineNumber, file);
    return { text: isComment(token) ? '' : token, directive };
  };

  const trimContinuation = (line: string): { text: string; endOfLine: boolean } => {
    if (!state.continuation.test(line)) return { text: line, endOfLine: true };
    return { text: line.replace(state.continuation, '$1'), endOfLine: false };
  };

  while (index < lines.length) {
    const raw = lines[index++]!;
    const { text, directive } = processLine(raw, true, currentLine + 1);
    if (isComment(raw) && !directive) {
      const comment = trimSpace(trimLeftSpace(raw).slice(1));
      // An empty `#` line separates comment blocks.
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    currentLine++;
    const startLine = currentLine;
    const column = 1 + (raw.length - trimLeftSpace(raw).length);
    let { text: logical, endOfLine } = trimContinuation(text);
    if (endOfLine && logical === '') continue;

    let hasEmptyContinuation = false;
    while (!endOfLine && index < lines.length) {
      const rawNext = lines[index++]!;
      const next = processLine(rawNext, false, currentLine + 1);
      currentLine++;
      if (isComment(rawNext)) continue;
      if (trimLeftSpace(trimNewline(next.text)) === '') {
        hasEmptyContinuation = true;
        continue;
      }
      const joined = trimContinuation(next.text);
      logical += joined.text;
      endOfLine = joined.endOfLine;
    }
    if (hasEmptyContinuation) {
      warnings.push({
        rule: 'NoEmptyContinuation',
        line: currentLine,
        message: `empty continuation line found in: ${logical}`,
      });
    }

    const node = nodeFromLine(logical, state.escape, { file, line: startLine, column });
    node.comments = comments;
    if (canContainHeredoc(node) && logical.includes('<<')) {
      let openers;
      try {
        openers = heredocsFromLine(logical);
      } catch (err) {
        if (err instanceof HeredocSyntaxError) {
          throw new DockerfileError({ file, line: startLine }, `invalid here-document: ${err.message}`, { cause: err });
        }
        throw err;
      }
      for (const opener of openers) {
        let terminated = false;
        let content = '';
        while (index < lines.length) {
          const body = lines[index++]!;
          currentLine++;
          let candidate = trimNewline(body);
          if (opener.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === opener.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        if (!terminated) {
          throw new DockerfileError({ file, line: startLine }, `unterminated heredoc ${JSON.stringify(opener.name)}`);
        }
        node.heredocs.push({ ...opener, content });
      }
      // BuildKit attaches an ONBUILD trigger's here-docs to the ONBUILD node; mirror them.
      if (node.next) node.next.heredocs = node.heredocs;
    }
    setPosition(node, startLine, currentLine, column);
    instructions.push(node);
    comments = [];
  }

  if (instructions.length === 0) {
    throw new DockerfileError({ file, line: Math.max(currentLine, 1) }, 'file with no instructions');
  }
  return { file, directives: state.directives, escapeToken: state.escape, instructions, warnings };
}

function setPosition(node: InstructionNode, startLine: number, endLine: number, column: number): void {
  node.startLine = startLine;
  node.endLine = endLine;
  node.column = column;
  if (node.next) setPosition(node.next, startLine, endLine, column);
}
