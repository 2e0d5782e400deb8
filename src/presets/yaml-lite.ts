/**
 * A reader for the YAML subset pnpm writes in pnpm-lock.yaml: block mappings indented by
 * spaces, `- ` block sequences, flow mappings and sequences (`{integrity: sha512-...}`,
 * `[arm64]`, nested), plain, single- and double-quoted scalars, comments. Anchors, tags,
 * multi-line scalars and documents are not YAML pnpm writes; a line it cannot read throws
 * `ERR_INVALID_ARGUMENT` with its line number. Scalars stay strings. Pure: no I/O.
 * @module
 */
import { InvalidArgumentError, LimitExceededError } from '../errors.ts';

/** Nesting deeper than this is refused (pnpm writes about six levels). */
export const MAX_YAML_DEPTH = 64;

/** A parsed value. */
export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

function fail(where: string, line: number, message: string): never {
  throw new InvalidArgumentError(`${where}:${line}: ${message}`);
}

function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || text[i - 1] === ' ')) return text.slice(0, i).trimEnd();
  }
  return text.trimEnd();
}

/** Parses `text` (named `where` in errors). */
export function parseYamlLite(text: string, where: string): YamlValue {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, i) => {
    const body = stripComment(raw.replace(/\r$/, ''));
    if (body.trim() === '' || body.trim() === '---') return;
    const indent = body.length - body.trimStart().length;
    lines.push({ indent, text: body.trim(), number: i + 1 });
  });
  let at = 0;
  const block = (indent: number, depth: number): YamlValue => {
    const first = lines[at];
    if (first === undefined || first.indent < indent) return null;
    if (depth > MAX_YAML_DEPTH) throw new LimitExceededError('maxYamlDepth', MAX_YAML_DEPTH, `${where}:${first.number}: nested more than ${MAX_YAML_DEPTH} levels`);
    if (first.text.startsWith('- ') || first.text === '-') {
      const list: YamlValue[] = [];
      while (at < lines.length && (lines[at] as Line).indent === first.indent && (lines[at] as Line).text.startsWith('-')) {
        const line = lines[at] as Line;
        at++;
        const rest = line.text.slice(1).trim();
        list.push(rest === '' ? block(first.indent + 1, depth + 1) : scalarOrFlow(rest, where, line.number));
      }
      return list;
    }
    const map: Record<string, YamlValue> = {};
    while (at < lines.length && (lines[at] as Line).indent === first.indent) {
      const line = lines[at] as Line;
      at++;
      const { key, rest } = splitKey(line.text, where, line.number);
      map[key] = rest === '' ? block(first.indent + 1, depth + 1) : scalarOrFlow(rest, where, line.number);
    }
    const next = lines[at];
    if (next !== undefined && next.indent > first.indent) fail(where, next.number, 'unexpected indentation');
    return map;
  };
  const value = block(0, 0);
  if (at < lines.length) fail(where, (lines[at] as Line).number, 'unexpected indentation');
  return value;
}

function splitKey(text: string, where: string, line: number): { key: string; rest: string } {
  let i = 0;
  let key: string;
  if (text[0] === "'" || text[0] === '"') {
    const end = closingQuote(text, 0);
    if (end < 0) fail(where, line, 'unterminated quoted key');
    key = unquote(text.slice(0, end + 1));
    i = end + 1;
  } else {
    const colon = text.search(/:(\s|$)/);
    if (colon < 0) fail(where, line, `expected "key: value", got ${JSON.stringify(text.slice(0, 60))}`);
    key = text.slice(0, colon);
    i = colon;
  }
  if (text[i] !== ':') fail(where, line, 'expected ":" after the key');
  return { key, rest: text.slice(i + 1).trim() };
}

function closingQuote(text: string, start: number): number {
  const q = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (q === "'" && text[i] === "'" && text[i + 1] === "'") {
      i++;
      continue;
    }
    if (q === '"' && text[i] === '\\') {
      i++;
      continue;
    }
    if (text[i] === q) return i;
  }
  return -1;
}

function unquote(s: string): string {
  if (s.startsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  if (s.startsWith('"')) return JSON.parse(s) as string;
  return s;
}

function scalarOrFlow(text: string, where: string, line: number): YamlValue {
  if (text.startsWith('{') || text.startsWith('[')) {
    const { value, end } = flow(text, 0, where, line, 0);
    if (text.slice(end).trim() !== '') fail(where, line, 'text after a flow collection');
    return value;
  }
  return scalar(text);
}

function scalar(text: string): string | null {
  const t = text.trim();
  if (t === '' || t === '~' || t === 'null') return null;
  return unquote(t);
}

/** Parses a flow collection starting at `start`; returns the value and the index after it. */
function flow(text: string, start: number, where: string, line: number, depth: number): { value: YamlValue; end: number } {
  if (depth > MAX_YAML_DEPTH) throw new LimitExceededError('maxYamlDepth', MAX_YAML_DEPTH, `${where}:${line}: nested more than ${MAX_YAML_DEPTH} levels`);
  const open = text[start];
  const close = open === '{' ? '}' : ']';
  const out: YamlValue[] = [];
  const map: Record<string, YamlValue> = {};
  let i = start + 1;
  const skip = (): void => {
    while (text[i] === ' ') i++;
  };
  for (;;) {
    skip();
    if (i >= text.length) fail(where, line, `unterminated ${open}`);
    if (text[i] === close) return { value: open === '{' ? map : out, end: i + 1 };
    let key: string | undefined;
    if (open === '{') {
      const keyEnd = text[i] === "'" || text[i] === '"' ? closingQuote(text, i) + 1 : text.indexOf(':', i);
      if (keyEnd <= i) fail(where, line, 'expected a key in a flow mapping');
      key = unquote(text.slice(i, keyEnd).trim());
      i = keyEnd;
      skip();
      if (text[i] !== ':') fail(where, line, 'expected ":" in a flow mapping');
      i++;
      skip();
    }
    let value: YamlValue;
    if (text[i] === '{' || text[i] === '[') {
      const nested = flow(text, i, where, line, depth + 1);
      value = nested.value;
      i = nested.end;
    } else if (text[i] === "'" || text[i] === '"') {
      const end = closingQuote(text, i);
      if (end < 0) fail(where, line, 'unterminated quoted scalar');
      value = unquote(text.slice(i, end + 1));
      i = end + 1;
    } else {
      let end = i;
      while (end < text.length && text[end] !== ',' && text[end] !== close) end++;
      value = scalar(text.slice(i, end));
      i = end;
    }
    if (key !== undefined) map[key] = value;
    else out.push(value);
    skip();
    if (text[i] === ',') i++;
  }
}
