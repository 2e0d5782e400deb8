/**
 * Types of the raw Dockerfile syntax tree produced by {@link parseDockerfile}.
 *
 * The tree mirrors what BuildKit's `frontend/dockerfile/parser` produces, so that its
 * upstream test vectors apply unchanged, but with named fields instead of a linked list:
 * the interpreter reads `instruction`, `flags`, `args`, `json`, `heredocs` and the
 * positions, and typed per-instruction access is built on top of these nodes.
 * @module
 */

/**
 * The escape character of a Dockerfile: `\` by default, or `` ` `` via `# escape=`.
 * @category Dockerfile
 */
export type EscapeToken = '\\' | '`';

/**
 * A parser directive (`# syntax=`, `# escape=`, `# check=`) read from the top of the file.
 * @category Dockerfile
 */
export interface ParserDirective {
  /** Lower-case directive name: `syntax`, `escape` or `check`. */
  name: 'syntax' | 'escape' | 'check';
  /** The value with surrounding white space removed. */
  value: string;
  /** 1-based line of the directive. */
  line: number;
}

/**
 * One here-document attached to a RUN, COPY or ADD instruction.
 *
 * `content` is kept exactly as written (line endings included, tabs not stripped), the way
 * BuildKit keeps it; callers strip leading tabs (`<<-`) when `chomp` is set and expand
 * variables only when `expand` is set.
 * @category Dockerfile
 */
export interface Heredoc {
  /** The delimiter word with quotes removed (`EOF` for `<<"EOF"`). */
  name: string;
  /** Every line between the opening and the delimiter line, each with its line ending. */
  content: string;
  /** False when any part of the delimiter was quoted (`<<'EOF'`, `<<"EOF"`, `<<E'O'F`). */
  expand: boolean;
  /** True for `<<-`: leading tabs are stripped from the content and the delimiter line. */
  chomp: boolean;
  /** File descriptor written before `<<` (`3<<EOF`), 0 when absent. */
  fileDescriptor: number;
}

/**
 * One key/value pair of an ENV or LABEL instruction.
 * @category Dockerfile
 */
export interface KeyValue {
  /** The key as written (quotes are not removed: expansion does that later). */
  key: string;
  /** The value as written (quotes and escapes are kept for later expansion). */
  value: string;
  /** `=` for the `key=value` form, empty for the legacy `KEY value` form. */
  separator: '=' | '';
}

/**
 * One instruction of a Dockerfile.
 *
 * `args` holds what BuildKit's parser puts after the instruction name:
 * - exec (JSON) form: the decoded array elements, `json: true`;
 * - CMD, ENTRYPOINT, RUN, SHELL in shell form: one element, the rest of the line;
 * - ADD, COPY, VOLUME in shell form, FROM, EXPOSE: the white-space separated words;
 * - ARG: the words with quotes kept (`abc="123 456"`);
 * - ENV, LABEL: the flattened `key, value, separator` triples (see also `pairs`);
 * - HEALTHCHECK: the type (`CMD`, `NONE`) followed by the command as for CMD;
 * - MAINTAINER, STOPSIGNAL, USER, WORKDIR: one element, the rest of the line;
 * - ONBUILD: empty, the trigger is in `next`;
 * - unknown instructions: empty (rejected by {@link parseInstructions}).
 * @category Dockerfile
 */
export interface InstructionNode {
  /** Lower-case instruction name (`copy`), as BuildKit dispatches on it. */
  instruction: string;
  /** The instruction name as written (`COPY`, `Copy`). */
  name: string;
  /** The logical line after joining continuations and dropping comment lines. */
  original: string;
  /** Leading `--name=value` flags, quotes removed, in order (repeatable ones stay repeated). */
  flags: string[];
  /** The arguments, see the interface description. */
  args: string[];
  /** The key/value pairs of ENV and LABEL; undefined for other instructions. */
  pairs?: KeyValue[];
  /** True when the arguments were given in exec (JSON array) form. */
  json: boolean;
  /** Here-documents, in the order their delimiters appear on the line. */
  heredocs: Heredoc[];
  /** The ONBUILD trigger instruction. */
  next?: InstructionNode;
  /** Comment lines directly above the instruction, `#` and surrounding space removed. */
  comments: string[];
  /** 1-based first line of the instruction. */
  startLine: number;
  /** 1-based last line of the instruction (including continuation and here-doc lines). */
  endLine: number;
  /** 1-based column of the instruction name on its first line. */
  column: number;
}

/**
 * A non-fatal finding of the parser, such as an empty continuation line.
 * @category Dockerfile
 */
export interface ParseWarning {
  /** Human-readable text. */
  message: string;
  /** 1-based line the warning refers to. */
  line: number;
  /** Stable identifier of the check, matching BuildKit's rule name where one exists. */
  rule: string;
}

/**
 * A parsed Dockerfile.
 * @category Dockerfile
 */
export interface Dockerfile {
  /** The file name used in error messages (`Dockerfile` when none was given). */
  file: string;
  /** Parser directives found at the top of the file. */
  directives: ParserDirective[];
  /** The escape character in effect for the whole file. */
  escapeToken: EscapeToken;
  /** The instructions, in file order. */
  instructions: InstructionNode[];
  /** Non-fatal findings. */
  warnings: ParseWarning[];
}
