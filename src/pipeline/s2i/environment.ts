/**
 * The environment of s2i scripts: `.s2i/environment` and `--environment-file` files
 * (`KEY=VALUE` per line, `#` comments), merged with `--env` over the builder's `Env`.
 * Pure functions.
 * @module
 */
import { S2iError } from './errors.ts';

/**
 * Parses an environment file as s2i does: blank lines and lines starting with `#` are skipped,
 * each other line is `KEY=VALUE` split at the first `=`; a line without `=` or with an empty key
 * is an error naming `file` and the line number.
 */
export function parseEnvironmentFile(text: string, file: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new S2iError('ERR_INVALID_ARGUMENT', `${file}:${index + 1}: expected KEY=VALUE, got ${JSON.stringify(line)}`);
    out.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

/** `KEY=value` list with `extra` set over `base` (a key keeps its first position; the last value wins). */
export function mergeEnv(base: readonly string[] | undefined, extra: readonly [string, string][]): string[] {
  const map = new Map<string, string>();
  for (const item of base ?? []) {
    const eq = item.indexOf('=');
    map.set(eq < 0 ? item : item.slice(0, eq), eq < 0 ? '' : item.slice(eq + 1));
  }
  for (const [key, value] of extra) map.set(key, value);
  return [...map].map(([k, v]) => `${k}=${v}`);
}
