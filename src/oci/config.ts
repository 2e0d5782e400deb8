/**
 * Image configs: parsing with schema-level validation (unknown fields kept), canonical
 * encoding, and small pure helpers the builders use (environment merging, timestamps).
 * @module
 */
import { InvalidArgumentError, OcibuildError } from '../errors.ts';
import { parseDigest } from './digest.ts';
import { canonicalJson } from './json.ts';
import type { ImageConfig } from './types.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and validates an image config blob. Checks `architecture`, `os`, `rootfs.type` and
 * `rootfs.diff_ids` (valid digests), and the types of the fields ocibuild edits; every other
 * field is kept untouched. Throws `ERR_INVALID_CONFIG` naming the field.
 */
export function parseConfig(bytes: Uint8Array): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw invalid('', `is not valid UTF-8 JSON (${(error as Error).message})`, error);
  }
  validateConfig(doc);
  return doc;
}

/** Validates an in-memory config the way {@link parseConfig} does. Throws `ERR_INVALID_CONFIG`. */
export function validateConfig(doc: unknown): asserts doc is ImageConfig {
  if (!isObject(doc)) throw invalid('', 'is not a JSON object');
  // Required, but may be empty: `crane append` onto scratch writes "" for both, and crane,
  // skopeo and regctl read such images. Empty means unknown; code that needs a platform says so.
  for (const key of ['architecture', 'os'] as const) {
    if (typeof doc[key] !== 'string') throw invalid(key, 'must be a string');
  }
  for (const key of ['created', 'author', 'variant', 'os.version'] as const) {
    if (doc[key] !== undefined && typeof doc[key] !== 'string') throw invalid(key, 'must be a string');
  }
  checkStrings(doc['os.features'], 'os.features', false);
  const rootfs = doc['rootfs'];
  if (!isObject(rootfs)) throw invalid('rootfs', 'must be an object');
  if (rootfs['type'] !== 'layers') throw invalid('rootfs.type', `must be "layers", got ${JSON.stringify(rootfs['type'])}`);
  const diffIds = rootfs['diff_ids'];
  if (!Array.isArray(diffIds)) throw invalid('rootfs.diff_ids', 'must be an array');
  diffIds.forEach((id: unknown, i: number) => {
    try {
      if (typeof id !== 'string') throw new TypeError('not a string');
      parseDigest(id);
    } catch (error) {
      throw invalid(`rootfs.diff_ids[${i}]`, `${JSON.stringify(id)} is not a valid digest`, error);
    }
  });
  const history = doc['history'];
  if (history !== undefined) {
    if (!Array.isArray(history)) throw invalid('history', 'must be an array');
    history.forEach((entry: unknown, i: number) => {
      if (!isObject(entry)) throw invalid(`history[${i}]`, 'must be an object');
      if (entry['empty_layer'] !== undefined && typeof entry['empty_layer'] !== 'boolean') {
        throw invalid(`history[${i}].empty_layer`, 'must be a boolean');
      }
    });
  }
  const config = doc['config'];
  if (config === undefined || config === null) return;
  if (!isObject(config)) throw invalid('config', 'must be an object');
  for (const key of ['User', 'WorkingDir', 'StopSignal'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'string') throw invalid(`config.${key}`, 'must be a string');
  }
  checkStrings(config['Env'], 'config.Env', true);
  checkStrings(config['Entrypoint'], 'config.Entrypoint', true);
  checkStrings(config['Cmd'], 'config.Cmd', true);
  checkStrings(config['Shell'], 'config.Shell', true);
  checkStrings(config['OnBuild'], 'config.OnBuild', true);
  for (const key of ['ExposedPorts', 'Volumes', 'Labels'] as const) {
    const value = config[key];
    if (value !== undefined && value !== null && !isObject(value)) throw invalid(`config.${key}`, 'must be an object');
  }
  const labels = config['Labels'];
  if (isObject(labels) && !Object.values(labels).every((v) => typeof v === 'string')) {
    throw invalid('config.Labels', 'values must be strings');
  }
}

/** Encodes a config as canonical JSON bytes (the bytes whose digest goes in the manifest). */
export function encodeConfig(config: ImageConfig): Uint8Array {
  validateConfig(config);
  return canonicalJson(config);
}

/**
 * Merges environment updates into a `KEY=value` list with Docker semantics: an update whose key
 * is already present replaces that entry where it stands; new keys are appended in the order
 * given. `updates` is a record or a list of `KEY=value` strings. Returns a new array.
 * Throws `ERR_INVALID_ARGUMENT` for an update without `=` or with an empty key.
 */
export function mergeEnv(base: readonly string[] | undefined, updates: Record<string, string> | readonly string[]): string[] {
  const pairs: [string, string][] = Array.isArray(updates)
    ? (updates as readonly string[]).map((entry) => {
        const eq = entry.indexOf('=');
        if (eq <= 0) {
          throw new InvalidArgumentError(`environment entry ${JSON.stringify(entry)} must be KEY=value`);
        }
        return [entry.slice(0, eq), entry.slice(eq + 1)];
      })
    : Object.entries(updates as Record<string, string>);
  const result = [...(base ?? [])];
  for (const [key, value] of pairs) {
    if (key === '' || key.includes('=')) {
      throw new InvalidArgumentError(`environment key ${JSON.stringify(key)} is empty or contains "="`);
    }
    const entry = `${key}=${value}`;
    let found = false;
    for (let i = 0; i < result.length; i++) {
      // Every entry with the key is replaced, so a base with duplicates cannot keep a stale value.
      if (envKey(result[i] as string) === key) {
        result[i] = entry;
        found = true;
      }
    }
    if (!found) result.push(entry);
  }
  return result;
}

/** Looks up `key` in a `KEY=value` list (the last entry wins, as in a process environment). */
export function getEnv(env: readonly string[] | undefined, key: string): string | undefined {
  let value: string | undefined;
  for (const entry of env ?? []) {
    if (envKey(entry) === key) value = entry.slice(key.length + 1);
  }
  return value;
}

/**
 * Formats seconds since the Unix epoch as RFC 3339 UTC without needless fractions:
 * `0` → `1970-01-01T00:00:00Z`, `1.5` → `1970-01-01T00:00:01.5Z`.
 * Throws `ERR_INVALID_ARGUMENT` for a negative, non-finite or out-of-range value.
 */
export function formatCreated(epochSeconds: number): string {
  const ms = epochSeconds * 1000;
  // RFC 3339 has four-digit years: stop before year 10000.
  if (!Number.isFinite(ms) || epochSeconds < 0 || ms >= 253402300800000) {
    throw new InvalidArgumentError(`timestamp ${epochSeconds} is not a valid number of seconds since 1970`);
  }
  const iso = new Date(Math.floor(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

function checkStrings(value: unknown, field: string, nullable: boolean): void {
  if (value === undefined || (nullable && value === null)) return;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalid(field, 'must be an array of strings');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(field: string, reason: string, cause?: unknown): OcibuildError {
  const where = field === '' ? 'image config' : `image config field ${field}`;
  return new OcibuildError('ERR_INVALID_CONFIG', `${where} ${reason}`, cause === undefined ? {} : { cause });
}
