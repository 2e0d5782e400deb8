/**
 * The tarball URL of a package whose lockfile entry has no `resolved` (npm writes none with
 * `omit-lockfile-registry-resolved`): the registry npm would use for that name (environment,
 * then the project's .npmrc, then the user's, then registry.npmjs.org; `@scope:registry` for
 * scoped names) and npm's tarball path `NAME/-/BASENAME-VERSION.tgz`.
 * @module
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

/** Parses .npmrc `key=value` lines (comments, sections and `${VAR}` values ignored). */
export function parseNpmrc(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const value = line.slice(eq + 1).trim().replace(/^(['"])(.*)\1$/, '$2');
    if (!value.includes('${')) out.set(line.slice(0, eq).trim(), value);
  }
  return out;
}

/** The registry base URL (ending in `/`) npm would use for `name` in the project at `root`. */
export async function registryFor(name: string, root: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const key = name.startsWith('@') ? `${name.slice(0, name.indexOf('/'))}:registry` : 'registry';
  const userFile = env.npm_config_userconfig ?? env.NPM_CONFIG_USERCONFIG ?? path.join(os.homedir(), '.npmrc');
  const sources = [
    () => env[`npm_config_${key}`] ?? env[`NPM_CONFIG_${key.toUpperCase()}`],
    async () => parseNpmrc(await fs.readFile(path.join(root, '.npmrc'), 'utf8').catch(() => '')).get(key),
    async () => parseNpmrc(await fs.readFile(userFile, 'utf8').catch(() => '')).get(key),
  ];
  for (const source of sources) {
    const value = await source();
    if (value !== undefined && value !== '') return value.endsWith('/') ? value : `${value}/`;
  }
  // A scoped name without its own registry uses the default one.
  return key === 'registry' ? DEFAULT_REGISTRY : registryFor(name.slice(name.indexOf('/') + 1), root, env);
}

/** npm's tarball URL of `name@version` on `registry`. */
export function tarballUrl(registry: string, name: string, version: string): string {
  const basename = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  return `${registry}${name}/-/${basename}-${version}.tgz`;
}
