/**
 * Registry mirrors from containers' `registries.conf` (v2 TOML format, the file podman and
 * buildah read) and from kaniko's flags. Only the subset mirrors need is read: `[[registry]]`
 * tables with `prefix`, `location`, `insecure`, `blocked`, and their `[[registry.mirror]]` tables
 * with `location` and `insecure`; other keys are ignored, other syntax is an error naming the
 * file and line. Pure: the caller reads the file.
 * @module
 */
import { OcibuildError } from '../errors.ts';

/** One mirror of a registry (or of a namespace in it). */
export interface MirrorEntry {
  /** Where to read instead: `host[:port][/path]`. */
  location: string;
  /** Plain HTTP allowed. */
  insecure?: boolean;
}

/** A `[[registry]]` entry: references under `prefix` are read from the mirrors first, then `location`. */
export interface RegistryEntry {
  /** What references it applies to (`docker.io`, `docker.io/library`); default `location`. */
  prefix: string;
  /** Where the prefix really lives (may rewrite it). */
  location: string;
  /** Plain HTTP allowed for `location`. */
  insecure?: boolean;
  /** Pulls are refused. */
  blocked?: boolean;
  /** Mirrors, tried in order. */
  mirrors: MirrorEntry[];
}

type Value = string | boolean | string[];

function parseValue(text: string, where: string): Value {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  const str = /^"((?:[^"\\]|\\.)*)"$/.exec(t) ?? /^'([^']*)'$/.exec(t);
  if (str) return (str[1] as string).replace(/\\(["\\])/g, '$1');
  if (t.startsWith('[') && t.endsWith(']')) {
    const inner = t.slice(1, -1).trim();
    if (inner === '') return [];
    const items = inner.split(',').map((s) => s.trim()).filter((s) => s !== '');
    return items.map((item) => {
      const v = parseValue(item, where);
      if (typeof v !== 'string') throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: only arrays of strings are supported`);
      return v;
    });
  }
  throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: unsupported value ${JSON.stringify(t)} (strings, booleans and string arrays only)`);
}

/** Removes a `#` comment that is outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

/** Parses the registry entries of a `registries.conf` text; `file` names it in errors. */
export function parseRegistriesConf(text: string, file: string): RegistryEntry[] {
  const entries: (Omit<RegistryEntry, 'prefix' | 'location'> & { prefix?: string; location?: string; line: number })[] = [];
  let table: 'top' | 'registry' | 'mirror' | 'other' = 'top';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${file}:${i + 1}`;
    let line = stripComment(lines[i] as string).trim();
    if (line === '') continue;
    // An array value may span lines (`key = [\n "a",\n "b"\n]`): join them.
    while (/=\s*\[[^\]]*$/.test(line) && i + 1 < lines.length) line += ` ${stripComment(lines[++i] as string).trim()}`;
    if (line.startsWith('[')) {
      const name = /^\[\[\s*([\w.-]+)\s*\]\]$/.exec(line)?.[1] ?? /^\[\s*([\w.-]+)\s*\]$/.exec(line)?.[1];
      if (name === undefined) throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: cannot parse table header ${JSON.stringify(line)}`);
      if (line.startsWith('[[') && name === 'registry') {
        entries.push({ mirrors: [], line: i + 1 });
        table = 'registry';
      } else if (line.startsWith('[[') && name === 'registry.mirror') {
        const current = entries[entries.length - 1];
        if (current === undefined) throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: [[registry.mirror]] before any [[registry]]`);
        current.mirrors.push({ location: '' });
        table = 'mirror';
      } else table = 'other';
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: expected key = value`);
    const key = line.slice(0, eq).trim().replace(/^"(.*)"$/, '$1');
    if (table === 'top' || table === 'other') continue;
    if (key === 'mirror' && table === 'registry') throw new OcibuildError('ERR_INVALID_ARGUMENT', `${where}: inline mirror tables are not supported; use [[registry.mirror]] tables`);
    const value = parseValue(line.slice(eq + 1), where);
    const current = entries[entries.length - 1];
    if (current === undefined) continue;
    if (table === 'mirror') {
      const mirror = current.mirrors[current.mirrors.length - 1] as MirrorEntry;
      if (key === 'location' && typeof value === 'string') mirror.location = value;
      else if (key === 'insecure' && typeof value === 'boolean') mirror.insecure = value;
      continue;
    }
    if ((key === 'location' || key === 'prefix') && typeof value === 'string') current[key] = value;
    else if ((key === 'insecure' || key === 'blocked') && typeof value === 'boolean') current[key] = value;
  }
  return entries.map((e) => {
    const prefix = e.prefix ?? e.location;
    if (prefix === undefined || prefix === '') throw new OcibuildError('ERR_INVALID_ARGUMENT', `${file}:${e.line}: [[registry]] needs location or prefix`);
    const bad = e.mirrors.find((m) => m.location === '');
    if (bad) throw new OcibuildError('ERR_INVALID_ARGUMENT', `${file}:${e.line}: a [[registry.mirror]] of ${prefix} has no location`);
    return {
      prefix,
      location: e.location ?? prefix,
      mirrors: e.mirrors,
      ...(e.insecure !== undefined ? { insecure: e.insecure } : {}),
      ...(e.blocked !== undefined ? { blocked: e.blocked } : {}),
    };
  });
}

/**
 * The entry for `name` (`registry/repository`): the longest prefix that matches at a path
 * boundary, as containers/image picks it.
 */
function findRegistryEntry(entries: readonly RegistryEntry[], name: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const e of entries) {
    const p = e.prefix;
    if (p.startsWith('*.')) {
      const host = name.split('/')[0] ?? '';
      if (!host.endsWith(p.slice(1))) continue;
    } else if (!(name === p || name.startsWith(`${p}/`))) continue;
    if (best === undefined || p.length > best.prefix.length) best = e;
  }
  return best;
}

/**
 * Where to read `name` (`registry/repository`) from, in order: each mirror (prefix replaced by
 * its location), then the location. Without an entry: the name itself.
 */
export function pullSources(entries: readonly RegistryEntry[], name: string): { name: string; mirror: boolean; insecure: boolean }[] {
  const entry = findRegistryEntry(entries, name);
  if (entry === undefined) return [{ name, mirror: false, insecure: false }];
  if (entry.blocked) throw new OcibuildError('ERR_INVALID_ARGUMENT', `registries.conf blocks pulls of ${name} (prefix ${entry.prefix})`);
  const rest = entry.prefix.startsWith('*.') ? name.slice(name.indexOf('/')) : name.slice(entry.prefix.length);
  // A wildcard entry cannot rewrite its matches: the origin stays the name itself.
  const origin = entry.prefix.startsWith('*.') ? name : `${entry.location}${rest}`;
  return [
    ...entry.mirrors.map((m) => ({ name: `${m.location}${rest}`, mirror: true, insecure: m.insecure ?? false })),
    { name: origin, mirror: false, insecure: entry.insecure ?? false },
  ];
}
