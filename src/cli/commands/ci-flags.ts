/**
 * Flags CI jobs pass, spelled as BuildKit/buildx spell them: `--secret`, `--metadata-file`,
 * `--iidfile`, `--annotation`, `--cache-from`/`--cache-to`, `--no-cache`.
 * @module
 */
import type { BuildOptions } from '../../index.ts';
import { list, str, UsageError } from '../util.ts';

/** Help lines of {@link ciFlags}. */
export const CI_HELP = `  --metadata-file FILE     write build metadata as JSON (buildx keys: containerimage.digest, containerimage.descriptor, image.name)
  --iidfile FILE           write the image ID (config digest)
  --annotation K=V         manifest annotation; index:K=V for the index of a multi-platform build (repeatable)`;

/** parseArgs options of the output files and annotations (every command that writes). */
export const ciFlags = {
  'metadata-file': { type: 'string' },
  iidfile: { type: 'string' },
  annotation: { type: 'string', multiple: true },
} as const;

/** Splits `a=1,b=2` (BuildKit's CSV options) into a map; `what` names the flag in errors. */
function csvOptions(value: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what} expects key=value pairs separated by commas, got ${JSON.stringify(part)}`);
    out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1));
  }
  return out;
}

/**
 * `--ssh ID[=PATH[,PATH]]` as buildx parses it (`--ssh default`, `--ssh default=$SSH_AUTH_SOCK`,
 * `--ssh gh=~/.ssh/id_ed25519`): PATH is an agent socket or private key files; none means
 * `$SSH_AUTH_SOCK` when the build starts. Repeating an id is an error.
 */
export function parseSsh(values: readonly string[]): NonNullable<BuildOptions['ssh']> {
  const ssh: NonNullable<BuildOptions['ssh']> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    const id = (eq < 0 ? value : value.slice(0, eq)).trim();
    if (id === '' || /[,\s]/.test(id)) throw new UsageError(`--ssh ${JSON.stringify(value)}: expected ID or ID=PATH[,PATH]`);
    if (ssh[id] !== undefined) throw new UsageError(`--ssh: id ${JSON.stringify(id)} given twice`);
    ssh[id] = eq < 0 ? [] : value.slice(eq + 1).split(',').filter((p) => p !== '');
  }
  return ssh;
}

/**
 * `--secret id=NAME[,src=FILE|env=VAR][,type=file|env]` as buildx parses it. Without a source,
 * `type=env` reads the variable named like the id, `type=file` the file named like it, and no
 * type means the variable when it is set, else the file. Only names are kept: values are read
 * by the build when the step runs and never printed.
 */
export function parseSecrets(values: readonly string[]): NonNullable<BuildOptions['secrets']> {
  const secrets: NonNullable<BuildOptions['secrets']> = {};
  for (const value of values) {
    const o = csvOptions(value, '--secret');
    for (const key of o.keys()) {
      if (!['id', 'src', 'source', 'env', 'type', 'required'].includes(key)) throw new UsageError(`--secret: unknown key ${JSON.stringify(key)} (id, src, env, type)`);
    }
    const src = o.get('src') ?? o.get('source');
    const env = o.get('env');
    const type = o.get('type');
    if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`--secret: type must be file or env, got ${JSON.stringify(type)}`);
    if (src !== undefined && env !== undefined) throw new UsageError('--secret: give src or env, not both');
    const id = o.get('id') ?? (env ?? (src !== undefined ? src.split('/').pop() : undefined));
    if (id === undefined || id === '') throw new UsageError(`--secret ${JSON.stringify(value.split(',')[0])}: id is required`);
    if (src !== undefined) secrets[id] = { file: src };
    else if (env !== undefined) secrets[id] = { env };
    else if (type === 'file') secrets[id] = { file: id };
    else if (type === 'env' || process.env[id] !== undefined) secrets[id] = { env: id };
    else secrets[id] = { file: id };
  }
  return secrets;
}

/**
 * `--annotation K=V`: manifests by default (`manifest:K=V` too), the index with `index:K=V`,
 * as buildx. Descriptor annotations (`manifest-descriptor:`) are not supported.
 */
export function parseAnnotations(values: readonly string[]): Pick<BuildOptions, 'annotations' | 'indexAnnotations'> {
  const manifest: Record<string, string> = {};
  const index: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new UsageError(`--annotation expects KEY=VALUE, got ${JSON.stringify(value)}`);
    let key = value.slice(0, eq);
    const colon = key.indexOf(':');
    let where = 'manifest';
    // A key may itself hold colons (rare); only a known level before the first one is a prefix.
    if (colon > 0 && /^[a-z-]+(\[.*\])?$/.test(key.slice(0, colon))) {
      where = key.slice(0, colon);
      key = key.slice(colon + 1);
    }
    if (where === 'manifest') manifest[key] = value.slice(eq + 1);
    else if (where === 'index') index[key] = value.slice(eq + 1);
    else throw new UsageError(`--annotation ${JSON.stringify(value)}: level ${JSON.stringify(where)} is not supported (manifest or index)`);
  }
  return {
    ...(Object.keys(manifest).length ? { annotations: manifest } : {}),
    // Given explicitly once any flag is, so manifest annotations do not spill onto the index.
    ...(values.length ? { indexAnnotations: index } : {}),
  };
}

/** The files and annotations from {@link ciFlags}. */
export function ciOptions(values: Record<string, unknown>): Pick<BuildOptions, 'metadataFile' | 'iidFile' | 'annotations' | 'indexAnnotations'> {
  const metadataFile = str(values, 'metadata-file');
  const iidFile = str(values, 'iidfile');
  return {
    ...(metadataFile !== undefined ? { metadataFile } : {}),
    ...(iidFile !== undefined ? { iidFile } : {}),
    ...parseAnnotations(list(values, 'annotation')),
  };
}

/** What the `--cache-from`/`--cache-to` flags say, in the step cache's terms. */
export interface CacheFlags {
  /** Local cache directory (`type=local,src=`/`dest=`). */
  dir?: string;
  /** The registry cache repository (`type=registry,ref=`). */
  repo?: string;
  /** Push new step results (true when `--cache-to` names the repo). */
  push?: boolean;
}

/**
 * Maps buildx's `--cache-from`/`--cache-to` onto ocibuild's one step cache: `type=registry,ref=R`
 * (or a bare `R`) is the cache repo, read with `--cache-from` and written with `--cache-to`;
 * `type=local,src=DIR`/`dest=DIR` is the cache directory. Two different repos or directories,
 * or other types (`gha`, `s3`, `inline`), are usage errors: ocibuild has one cache of each kind.
 */
export function parseCacheFlags(from: readonly string[], to: readonly string[]): CacheFlags {
  const out: CacheFlags = {};
  const set = (field: 'dir' | 'repo', value: string, flag: string): void => {
    if (out[field] !== undefined && out[field] !== value) throw new UsageError(`${flag}: ocibuild uses one cache ${field === 'dir' ? 'directory' : 'repository'}, got ${out[field]} and ${value}`);
    out[field] = value;
  };
  for (const [flag, items] of [['--cache-from', from], ['--cache-to', to]] as const) {
    for (const item of items) {
      const o = item.includes('=') ? csvOptions(item, flag) : new Map([['type', 'registry'], ['ref', item]]);
      const type = o.get('type') ?? 'registry';
      if (type === 'registry') {
        const ref = o.get('ref');
        if (ref === undefined || ref === '') throw new UsageError(`${flag} type=registry needs ref=REPOSITORY`);
        set('repo', ref, flag);
        if (flag === '--cache-to') out.push = true;
      } else if (type === 'local') {
        const dir = flag === '--cache-from' ? o.get('src') : o.get('dest');
        if (dir === undefined || dir === '') throw new UsageError(`${flag} type=local needs ${flag === '--cache-from' ? 'src' : 'dest'}=DIR`);
        set('dir', dir, flag);
      } else {
        throw new UsageError(`${flag} type=${type} is not supported (registry or local)`);
      }
    }
  }
  if (out.repo !== undefined && out.push === undefined) out.push = false;
  return out;
}
