/**
 * Turns one logical Dockerfile line (continuations already joined) into an
 * {@link InstructionNode}: the instruction name, the leading `--flags`, and the arguments
 * split the way BuildKit's per-instruction line parsers split them.
 * @module
 */

import { closestName, DockerfileError } from '../errors.ts';
import type { DockerfileLocation } from '../errors.ts';
import type { EscapeToken, InstructionNode, KeyValue } from './ast.ts';
import { isSpace, trimLeftSpace, trimSpace } from './parse-text.ts';

/** BuildKit's `reWhitespace`: note that it excludes `\n` and non-ASCII spaces. */
const WHITESPACE_RUN = /[\t\v\f\r ]+/;
const WHITESPACE_RUN_GLOBAL = /[\t\v\f\r ]+/g;

/** What a line parser produced for the part of the line after the flags. */
interface ParsedArgs {
  args: string[];
  json: boolean;
  pairs?: KeyValue[];
  next?: InstructionNode;
}

type LineParser = (rest: string, escape: EscapeToken, loc: DockerfileLocation) => ParsedArgs;

/** Instruction names BuildKit's parser dispatches on, with their argument parsers. */
const LINE_PARSERS: ReadonlyMap<string, LineParser> = new Map<string, LineParser>([
  ['add', parseMaybeJsonToList],
  ['arg', parseNameOrNameValue],
  ['cmd', parseMaybeJson],
  ['copy', parseMaybeJsonToList],
  ['entrypoint', parseMaybeJson],
  ['env', (rest, escape, loc) => parseNameValue(rest, 'ENV', escape, loc)],
  ['expose', parseWhitespaceDelimited],
  ['from', parseWhitespaceDelimited],
  ['healthcheck', parseHealthcheck],
  ['label', (rest, escape, loc) => parseNameValue(rest, 'LABEL', escape, loc)],
  ['maintainer', parseString],
  ['onbuild', parseSubCommand],
  ['run', parseMaybeJson],
  ['shell', parseMaybeJson],
  ['stopsignal', parseString],
  ['user', parseString],
  ['volume', parseMaybeJsonToList],
  ['workdir', parseString],
]);

/** Reports whether BuildKit's parser knows the (lower-case) instruction name. */
export function isKnownInstruction(instruction: string): boolean {
  return LINE_PARSERS.has(instruction);
}

/**
 * BuildKit's error for an unknown instruction, with its hint when the name is a typo of one
 * (`unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)`, its testDockerfileInvalidInstruction).
 */
export function unknownInstructionMessage(name: string): string {
  const near = closestName(name, [...LINE_PARSERS.keys()]);
  return `unknown instruction: ${name}${near !== undefined ? ` (did you mean ${near.toUpperCase()}?)` : ''}`;
}

/**
 * Parses one logical line into a node. Positions are filled in by the caller; `loc` is only
 * used for error messages.
 */
export function nodeFromLine(line: string, escape: EscapeToken, loc: DockerfileLocation): InstructionNode {
  const { name, flags, rest } = splitCommand(line, escape);
  const instruction = name.toLowerCase();
  const parser = LINE_PARSERS.get(instruction);
  // Unknown instructions parse without arguments, as in BuildKit; validation rejects them.
  const parsed: ParsedArgs = parser ? parser(rest, escape, loc) : { args: [], json: false };
  const node: InstructionNode = {
    instruction,
    name,
    original: line,
    flags,
    args: parsed.args,
    json: parsed.json,
    heredocs: [],
    comments: [],
    startLine: loc.line,
    endLine: loc.line,
    column: 1,
  };
  if (parsed.pairs) node.pairs = parsed.pairs;
  if (parsed.next) node.next = parsed.next;
  return node;
}

/** Splits a line into the instruction name, its leading flags and the remaining text. */
function splitCommand(line: string, escape: EscapeToken): { name: string; flags: string[]; rest: string } {
  const trimmed = trimSpace(line);
  const m = WHITESPACE_RUN.exec(trimmed);
  if (!m) return { name: trimmed, flags: [], rest: '' };
  const name = trimmed.slice(0, m.index);
  const { rest, flags } = extractFlags(trimmed.slice(m.index + m[0].length), escape);
  return { name, flags, rest: trimSpace(rest) };
}

/**
 * Takes `--name[=value]` words off the front of `line`. Quotes inside a flag are removed and
 * the escape character escapes the next character; a bare `--` ends the flags.
 */
function extractFlags(line: string, escape: EscapeToken): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  while (pos < line.length) {
    while (pos < line.length && isSpace(line[pos]!)) pos++;
    if (pos >= line.length) break;
    if (!line.startsWith('--', pos)) return { rest: line.slice(pos), flags };
    let word = '';
    let quote = '';
    let blankOk = false;
    for (; pos < line.length; pos++) {
      const ch = line[pos]!;
      if (quote) {
        if (ch === quote) quote = '';
        else if (ch === escape) {
          if (pos + 1 < line.length) word += line[++pos];
        } else word += ch;
        continue;
      }
      if (isSpace(ch)) break;
      if (ch === '"' || ch === "'") {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (pos + 1 < line.length) word += line[++pos];
      } else word += ch;
    }
    if (word === '--') return { rest: line.slice(pos), flags };
    if (blankOk || word.length > 0) flags.push(word);
  }
  return { rest: '', flags };
}

/**
 * Splits on white space while keeping quotes and escapes in the words (expansion removes them
 * later). Single quotes protect the escape character; double quotes do not.
 */
export function parseWords(rest: string, escape: EscapeToken): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOk = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (i + 1 === chars.length) continue; // an escape at the very end is dropped
        word += ch;
        word += chars[++i]!;
        continue;
      }
      word += ch;
      continue;
    }
    if (isSpace(ch)) {
      if (blankOk || word.length > 0) words.push(word);
      word = '';
      inWord = false;
      blankOk = false;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      blankOk = true;
    } else if (ch === escape) {
      if (i + 1 === chars.length) continue;
      word += ch;
      word += chars[++i]!;
      continue;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** ENV and LABEL: `KEY value` (legacy, one pair) or `k1=v1 k2="v 2"` (any number of pairs). */
function parseNameValue(rest: string, keyword: string, escape: EscapeToken, loc: DockerfileLocation): ParsedArgs {
  const words = parseWords(rest, escape);
  if (words.length === 0) return { args: [], json: false };
  const pairs: KeyValue[] = [];
  if (!words[0]!.includes('=')) {
    const m = WHITESPACE_RUN.exec(rest);
    if (!m) throw new DockerfileError(loc, `${keyword} must have two arguments`);
    pairs.push({ key: rest.slice(0, m.index), value: rest.slice(m.index + m[0].length), separator: '' });
  } else {
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        throw new DockerfileError(loc, `syntax error: can't find = in ${JSON.stringify(word)}, must be of the form name=value`);
      }
      pairs.push({ key: word.slice(0, eq), value: word.slice(eq + 1), separator: '=' });
    }
  }
  return { args: pairs.flatMap((p) => [p.key, p.value, p.separator]), json: false, pairs };
}

/** ARG: words such as `name`, `name=`, `name="value"`, quotes kept. */
function parseNameOrNameValue(rest: string, escape: EscapeToken): ParsedArgs {
  return { args: parseWords(rest, escape), json: false };
}

/** FROM, EXPOSE and the shell form of ADD/COPY/VOLUME: split on white space only. */
function parseWhitespaceDelimited(rest: string): ParsedArgs {
  if (rest === '') return { args: [], json: false };
  return { args: rest.split(WHITESPACE_RUN_GLOBAL), json: false };
}

/** MAINTAINER, STOPSIGNAL, USER, WORKDIR: the rest of the line as one argument. */
function parseString(rest: string): ParsedArgs {
  return { args: rest === '' ? [] : [rest], json: false };
}

/** Marks JSON that parsed but is not an array of strings: that is an error, not shell form. */
class NotStringArray extends Error {}

/** Decodes a JSON array of strings, or returns undefined when `rest` is not valid JSON. */
function parseJsonArray(rest: string): string[] | undefined {
  const text = trimLeftSpace(rest);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new NotStringArray();
  }
  return value;
}

/** Runs a JSON decode, turning the not-an-array-of-strings case into a located error. */
function tryJson(rest: string, loc: DockerfileLocation): string[] | undefined {
  try {
    return parseJsonArray(rest);
  } catch (err) {
    if (err instanceof NotStringArray) {
      throw new DockerfileError(loc, 'when using JSON array syntax, arrays must be comprised of strings only');
    }
    throw err;
  }
}

/** CMD, ENTRYPOINT, RUN, SHELL: exec form when the JSON is valid, else the whole line. */
function parseMaybeJson(rest: string, _escape: EscapeToken, loc: DockerfileLocation): ParsedArgs {
  if (rest === '') return { args: [], json: false };
  const arr = tryJson(rest, loc);
  if (arr) return { args: arr, json: true };
  return { args: [rest], json: false };
}

/** ADD, COPY, VOLUME: exec form when the JSON is valid, else white-space separated words. */
function parseMaybeJsonToList(rest: string, _escape: EscapeToken, loc: DockerfileLocation): ParsedArgs {
  const arr = tryJson(rest, loc);
  if (arr) return { args: arr, json: true };
  return parseWhitespaceDelimited(rest);
}

/** HEALTHCHECK: a type word (`CMD`, `NONE`) followed by a command parsed like CMD. */
function parseHealthcheck(rest: string, escape: EscapeToken, loc: DockerfileLocation): ParsedArgs {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep]!)) sep++;
  if (sep === 0) return { args: [], json: false };
  let next = sep;
  while (next < rest.length && isSpace(rest[next]!)) next++;
  const cmd = parseMaybeJson(rest.slice(next), escape, loc);
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/** ONBUILD: the trigger is a whole instruction of its own. */
function parseSubCommand(rest: string, escape: EscapeToken, loc: DockerfileLocation): ParsedArgs {
  if (rest === '') return { args: [], json: false };
  return { args: [], json: false, next: nodeFromLine(rest, escape, loc) };
}
